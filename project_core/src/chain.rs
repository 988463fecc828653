//! The one place where a target's source order becomes a `CredentialChain`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use std::path::PathBuf;

use adapters::credentials::vault::{VaultAuth, VaultConfig, VaultSecret};
use adapters::credentials::{
    EnvSource, FileSource, KeyringSource, MyCnfSource, PgpassSource, VaultSource,
};
use domain::{CredentialChain, CredentialSource, Env};

use crate::settings::Settings;

/// A credential source a target may name in `sources = [...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Env,
    Pgpass,
    MyCnf,
    File,
    Keyring,
    Vault,
}

impl SourceKind {
    pub const ALL_NAMES: &'static str = "env, pgpass, mycnf, file, keyring, vault";

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Env => "env",
            SourceKind::Pgpass => "pgpass",
            SourceKind::MyCnf => "mycnf",
            SourceKind::File => "file",
            SourceKind::Keyring => "keyring",
            SourceKind::Vault => "vault",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "env" => SourceKind::Env,
            "pgpass" => SourceKind::Pgpass,
            "mycnf" => SourceKind::MyCnf,
            "file" => SourceKind::File,
            "keyring" => SourceKind::Keyring,
            "vault" => SourceKind::Vault,
            _ => return Err(()),
        })
    }
}

/// A source's settings do not make sense (named keys, and what is allowed).
#[derive(Debug, thiserror::Error)]
#[error("target `{target}`: {message}")]
pub struct InvalidSource {
    pub target: String,
    pub message: String,
}

/// The Vault source's configuration from the target's `[vault]` table.
pub fn vault_config(settings: &Settings) -> Result<VaultConfig, InvalidSource> {
    let invalid = |message: String| InvalidSource {
        target: settings.name().to_owned(),
        message,
    };
    let text = |key: &str| settings.text_setting(key).map(str::to_owned);
    let path = |key: &str| settings.path_setting(key).map(ToOwned::to_owned);
    let method = text("vault.auth").unwrap_or_else(|| "token".to_owned());
    let mount = text("vault.auth_mount").unwrap_or_else(|| method.clone());
    let role = || {
        text("vault.role")
            .ok_or_else(|| invalid(format!("vault.auth = \"{method}\" needs vault.role")))
    };
    let auth = match method.as_str() {
        "approle" => VaultAuth::AppRole {
            mount,
            role_id_file: path("vault.role_id_file"),
            secret_id_file: path("vault.secret_id_file"),
        },
        "kubernetes" => VaultAuth::Kubernetes {
            mount,
            role: role()?,
            jwt_file: path("vault.jwt_file").unwrap_or_else(|| {
                PathBuf::from("/var/run/secrets/kubernetes.io/serviceaccount/token")
            }),
        },
        "jwt" => VaultAuth::Jwt {
            mount,
            role: role()?,
            jwt_file: path("vault.jwt_file")
                .ok_or_else(|| invalid("vault.auth = \"jwt\" needs vault.jwt_file".into()))?,
        },
        _ => VaultAuth::Token {
            token_file: path("vault.token_file"),
        },
    };
    let kv_path = text("vault.kv.path");
    let db_role = text("vault.database.role");
    let db_static = text("vault.database.static_role");
    let secret = match (kv_path, db_role, db_static) {
        (Some(path), None, None) => VaultSecret::Kv {
            mount: text("vault.kv.mount").unwrap_or_else(|| "secret".into()),
            path,
            version: if text("vault.kv.version").as_deref() == Some("1") {
                1
            } else {
                2
            },
            username_key: text("vault.kv.username_key").unwrap_or_else(|| "username".into()),
            password_key: text("vault.kv.password_key").unwrap_or_else(|| "password".into()),
        },
        (None, Some(role), None) => VaultSecret::Dynamic {
            mount: text("vault.database.mount").unwrap_or_else(|| "database".into()),
            role,
        },
        (None, None, Some(role)) => VaultSecret::Static {
            mount: text("vault.database.mount").unwrap_or_else(|| "database".into()),
            role,
        },
        (None, None, None) => {
            return Err(invalid(format!(
                "source vault needs a secret: vault.kv = {{ path = … }} or vault.database = {{ role = … }} (or static_role) in {}",
                settings.file().map_or_else(
                    || format!("targets/{}.toml", settings.name()),
                    |p| p.display().to_string()
                )
            )));
        }
        _ => {
            return Err(invalid(
                "vault: give exactly one of vault.kv.path, vault.database.role, vault.database.static_role".into(),
            ));
        }
    };
    Ok(VaultConfig {
        address: text("vault.address"),
        ca_cert: path("vault.ca_cert"),
        namespace: text("vault.namespace"),
        auth,
        secret,
        env_prefix: settings.env_prefix().to_owned(),
        allow_http: settings.bool_setting("vault.allow_http").unwrap_or(false),
    })
}

/// Builds the chain for `settings`, in the order its `sources` setting gives.
pub fn build(settings: &Settings, env: Arc<dyn Env>) -> Result<CredentialChain, InvalidSource> {
    let prefix = settings.env_prefix().to_owned();
    let mut sources: Vec<Arc<dyn CredentialSource>> = Vec::new();
    for kind in settings.sources() {
        let source: Arc<dyn CredentialSource> = match kind {
            SourceKind::Env => Arc::new(EnvSource::new(&prefix, env.clone())),
            SourceKind::Pgpass => Arc::new(PgpassSource::new(&prefix, env.clone())),
            SourceKind::MyCnf => Arc::new(MyCnfSource::new(&prefix, env.clone())),
            SourceKind::File => Arc::new(FileSource::new(
                &prefix,
                settings.password_file().map(ToOwned::to_owned),
                env.clone(),
            )),
            SourceKind::Keyring => Arc::new(KeyringSource::new(
                settings.keyring_service().map(ToOwned::to_owned),
                settings.keyring_store(),
                env.clone(),
            )),
            SourceKind::Vault => Arc::new(VaultSource::new(vault_config(settings)?, env.clone())),
        };
        sources.push(source);
    }
    Ok(CredentialChain::new(sources))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{DbKind, MapEnv};

    use crate::settings::TargetDefaults;

    fn defaults(sources: &'static [SourceKind]) -> TargetDefaults {
        TargetDefaults {
            name: "t",
            kind: DbKind::Postgres,
            host: None,
            port: None,
            user: Some("u"),
            database: None,
            path: None,
            sources,
            env_prefix: "T_DB",
            about: "",
        }
    }

    #[test]
    fn the_order_is_the_settings_order() {
        let d = defaults(&[SourceKind::File, SourceKind::Pgpass, SourceKind::Env]);
        let env = MapEnv::new();
        let settings = Settings::load("t", Some(&d), None, &env).unwrap();
        let chain = build(&settings, Arc::new(env)).unwrap();
        assert_eq!(chain.source_names(), vec!["file", "pgpass", "env"]);
    }

    #[test]
    fn a_vault_source_without_a_secret_is_a_clear_error() {
        let d = defaults(&[SourceKind::Vault, SourceKind::Env]);
        let env = MapEnv::new();
        let settings = Settings::load("t", Some(&d), None, &env).unwrap();
        let err = build(&settings, Arc::new(env)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "target `t`: source vault needs a secret: vault.kv = { path = … } or vault.database = { role = … } (or static_role) in targets/t.toml"
        );
    }
}
