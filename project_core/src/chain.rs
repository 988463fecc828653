//! The one place where a target's source order becomes a `CredentialChain`.

use std::path::PathBuf;
use std::sync::Arc;

use adapters::credentials::vault::{VaultAuth, VaultConfig, VaultSecret};
use adapters::credentials::{
    EnvSource, FileSource, KeyringSource, MyCnfSource, PgpassSource, VaultSource,
};
use domain::{CredentialChain, CredentialSource, DbKind, Env};

use crate::settings::{Settings, SourceKind, Text, VaultAuthMethod, Vocabulary};

/// A source's settings do not make sense (named keys, and what is allowed).
#[derive(Debug, thiserror::Error)]
#[error("target `{target}`: {message}")]
pub struct InvalidSource {
    pub target: String,
    pub message: String,
}

/// The sources a target tries, in order: its `sources` setting, else its kind's usual ones
/// (PostgreSQL: env then `~/.pgpass`, as the original pattern; MySQL: env then `~/.my.cnf`).
pub fn order(settings: &Settings) -> Vec<SourceKind> {
    match (settings.sources(), settings.kind()) {
        (Some(sources), _) => sources.to_vec(),
        (None, Some(DbKind::Postgres)) => vec![SourceKind::Env, SourceKind::Pgpass],
        (None, Some(DbKind::MySql)) => vec![SourceKind::Env, SourceKind::MyCnf],
        (None, _) => Vec::new(),
    }
}

/// The Vault source's configuration from the target's `[vault]` table.
pub fn vault_config(settings: &Settings) -> Result<VaultConfig, InvalidSource> {
    let vault = &settings.values().vault;
    let text = |t: &Option<Text>| t.as_ref().map(|t| t.0.clone());
    Ok(VaultConfig {
        address: text(&vault.address),
        ca_cert: vault.ca_cert.as_ref().map(|p| p.0.clone()),
        namespace: text(&vault.namespace),
        auth: vault_auth(settings)?,
        secret: vault_secret(settings)?,
        env_prefix: settings.env_prefix().to_owned(),
        allow_http: vault.allow_http.is_some_and(|f| f.0),
    })
}

fn vault_auth(settings: &Settings) -> Result<VaultAuth, InvalidSource> {
    let vault = &settings.values().vault;
    let method = vault.auth.map_or(VaultAuthMethod::Token, |m| m.0);
    let mount = || {
        vault
            .auth_mount
            .as_ref()
            .map_or_else(|| method.word().to_owned(), |m| m.0.clone())
    };
    let role = || {
        vault.role.as_ref().map(|r| r.0.clone()).ok_or_else(|| {
            invalid(
                settings,
                format!("vault.auth = \"{}\" needs vault.role", method.word()),
            )
        })
    };
    let file = |f: &Option<crate::settings::FilePath>| f.as_ref().map(|p| p.0.clone());
    Ok(match method {
        VaultAuthMethod::Token => VaultAuth::Token {
            token_file: file(&vault.token_file),
        },
        VaultAuthMethod::AppRole => VaultAuth::AppRole {
            mount: mount(),
            role_id_file: file(&vault.role_id_file),
            secret_id_file: file(&vault.secret_id_file),
        },
        VaultAuthMethod::Kubernetes => VaultAuth::Kubernetes {
            mount: mount(),
            role: role()?,
            jwt_file: file(&vault.jwt_file).unwrap_or_else(|| {
                PathBuf::from("/var/run/secrets/kubernetes.io/serviceaccount/token")
            }),
        },
        VaultAuthMethod::Jwt => VaultAuth::Jwt {
            mount: mount(),
            role: role()?,
            jwt_file: file(&vault.jwt_file).ok_or_else(|| {
                invalid(settings, "vault.auth = \"jwt\" needs vault.jwt_file".into())
            })?,
        },
    })
}

fn vault_secret(settings: &Settings) -> Result<VaultSecret, InvalidSource> {
    let vault = &settings.values().vault;
    let (kv, db) = (&vault.kv, &vault.database);
    let or = |t: &Option<Text>, default: &str| {
        t.as_ref()
            .map_or_else(|| default.to_owned(), |t| t.0.clone())
    };
    let text = |t: &Option<Text>| t.as_ref().map(|t| t.0.clone());
    Ok(
        match (text(&kv.path), text(&db.role), text(&db.static_role)) {
            (Some(path), None, None) => VaultSecret::Kv {
                mount: or(&kv.mount, "secret"),
                path,
                version: kv.version.map_or(2, |v| v.number()),
                username_key: or(&kv.username_key, "username"),
                password_key: or(&kv.password_key, "password"),
            },
            (None, Some(role), None) => VaultSecret::Dynamic {
                mount: or(&db.mount, "database"),
                role,
            },
            (None, None, Some(role)) => VaultSecret::Static {
                mount: or(&db.mount, "database"),
                role,
            },
            (None, None, None) => {
                let file = settings.file().map_or_else(
                    || format!("targets/{}.toml", settings.name()),
                    |p| p.display().to_string(),
                );
                return Err(invalid(
                    settings,
                    format!(
                        "source vault needs a secret: vault.kv = {{ path = … }} or vault.database = \
                     {{ role = … }} (or static_role) in {file}"
                    ),
                ));
            }
            _ => {
                return Err(invalid(
                    settings,
                    "vault: give exactly one of vault.kv.path, vault.database.role, \
                 vault.database.static_role"
                        .into(),
                ));
            }
        },
    )
}

fn invalid(settings: &Settings, message: String) -> InvalidSource {
    InvalidSource {
        target: settings.name().to_owned(),
        message,
    }
}

/// Builds the chain for `settings`, in the order its `sources` setting gives.
pub fn build(settings: &Settings, env: Arc<dyn Env>) -> Result<CredentialChain, InvalidSource> {
    let prefix = settings.env_prefix().to_owned();
    let mut sources: Vec<Arc<dyn CredentialSource>> = Vec::new();
    for kind in order(settings) {
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
