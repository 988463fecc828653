//! `env`: the password from `<PREFIX>_PASSWORD`, the user from `<PREFIX>_USER` when set.
//!
//! Contract:
//! - `<PREFIX>_PASSWORD` set and non-empty → found. Empty counts as unset, as in the original
//!   pattern (`PROJECT_DB_PASSWORD=` means "use ~/.pgpass").
//! - `<PREFIX>_USER`, when set and non-empty, is the user name that goes with it.
//! - Never a hard error.

use std::sync::Arc;

use async_trait::async_trait;
use domain::{
    Credential, CredentialSource, Env, Lookup, SecretString, SourceError, TargetIdentity,
};

pub struct EnvSource {
    prefix: String,
    env: Arc<dyn Env>,
}

impl std::fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvSource")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl EnvSource {
    pub fn new(prefix: impl Into<String>, env: Arc<dyn Env>) -> Self {
        Self {
            prefix: prefix.into(),
            env,
        }
    }
}

#[async_trait]
impl CredentialSource for EnvSource {
    fn name(&self) -> &str {
        "env"
    }

    async fn lookup(&self, _target: &TargetIdentity) -> Result<Lookup, SourceError> {
        let password_var = format!("{}_PASSWORD", self.prefix);
        let user_var = format!("{}_USER", self.prefix);
        match self.env.var(&password_var) {
            None => Ok(Lookup::not_found(format!("{password_var} is not set"))),
            Some(empty) if empty.is_empty() => Ok(Lookup::not_found(format!(
                "{password_var} is empty (empty counts as unset)"
            ))),
            Some(password) => Ok(Lookup::Found(Credential::new(
                self.env.non_empty(&user_var),
                SecretString::from(password),
                "env",
                password_var,
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{DbKind, ExposeSecret, MapEnv};

    fn target() -> TargetIdentity {
        TargetIdentity {
            name: "t".into(),
            kind: DbKind::Postgres,
            host: None,
            port: None,
            database: None,
            user: Some("app".into()),
        }
    }

    async fn lookup(env: MapEnv) -> Lookup {
        EnvSource::new("PROJECT_DB", Arc::new(env))
            .lookup(&target())
            .await
            .expect("env never fails hard")
    }

    #[tokio::test]
    async fn unset_is_not_found_and_names_the_variable() {
        match lookup(MapEnv::new()).await {
            Lookup::NotFound { reason } => assert_eq!(reason, "PROJECT_DB_PASSWORD is not set"),
            other => panic!("expected not found, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn empty_counts_as_unset() {
        let env = MapEnv::new().with("PROJECT_DB_PASSWORD", "");
        assert!(
            matches!(lookup(env).await, Lookup::NotFound { reason } if reason.contains("empty"))
        );
    }

    #[tokio::test]
    async fn set_is_found_with_the_optional_user() {
        let env = MapEnv::new()
            .with("PROJECT_DB_PASSWORD", "s3cret")
            .with("PROJECT_DB_USER", "other");
        let Lookup::Found(c) = lookup(env).await else {
            panic!("expected found")
        };
        assert_eq!(c.password.expose_secret(), "s3cret");
        assert_eq!(c.username.as_deref(), Some("other"));
        assert_eq!(c.origin, "PROJECT_DB_PASSWORD");

        let env = MapEnv::new()
            .with("PROJECT_DB_PASSWORD", "s3cret")
            .with("PROJECT_DB_USER", "");
        let Lookup::Found(c) = lookup(env).await else {
            panic!("expected found")
        };
        assert_eq!(c.username, None, "an empty user means the target's user");
    }

    #[tokio::test]
    async fn another_prefix_reads_other_variables() {
        let env: Arc<dyn Env> = Arc::new(MapEnv::new().with("PROJECT_DB_PASSWORD", "x"));
        let source = EnvSource::new("OTHER_DB", env);
        assert!(matches!(
            source.lookup(&target()).await,
            Ok(Lookup::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn named_env_in_provenance_and_debug_shows_the_prefix_not_the_values() {
        let env: Arc<dyn Env> = Arc::new(MapEnv::new().with("PROJECT_DB_PASSWORD", "canary-e1"));
        let source = EnvSource::new("PROJECT_DB", env);
        assert_eq!(source.name(), "env");
        let Ok(Lookup::Found(c)) = source.lookup(&target()).await else {
            panic!("expected found")
        };
        assert_eq!(c.source, "env");
        assert_eq!(
            format!("{source:?}"),
            r#"EnvSource { prefix: "PROJECT_DB", .. }"#
        );
    }
}
