//! The one place where a target's source order becomes a `CredentialChain`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use adapters::credentials::{EnvSource, FileSource, KeyringSource, MyCnfSource, PgpassSource};
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

/// A target names a source that this build does not have.
#[derive(Debug, thiserror::Error)]
#[error(
    "target `{target}` lists source `{source_name}` (from {origin}), which this build of dbcore does not have yet; \
     available: env, pgpass, mycnf, file, keyring"
)]
pub struct UnsupportedSource {
    pub target: String,
    pub source_name: &'static str,
    pub origin: String,
}

/// Builds the chain for `settings`, in the order its `sources` setting gives.
pub fn build(settings: &Settings, env: Arc<dyn Env>) -> Result<CredentialChain, UnsupportedSource> {
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
            SourceKind::Vault => {
                return Err(UnsupportedSource {
                    target: settings.name().to_owned(),
                    source_name: kind.as_str(),
                    origin: settings
                        .origin("sources")
                        .map_or_else(|| "default".into(), ToString::to_string),
                });
            }
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
    fn a_source_not_in_this_build_is_a_clear_error() {
        let d = defaults(&[SourceKind::Vault, SourceKind::Env]);
        let env = MapEnv::new();
        let settings = Settings::load("t", Some(&d), None, &env).unwrap();
        let err = build(&settings, Arc::new(env)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "target `t` lists source `vault` (from default), which this build of dbcore does not have yet; available: env, pgpass, mycnf, file, keyring"
        );
    }
}
