use async_trait::async_trait;

use std::time::Duration;

use crate::{Credential, Lease, SourceError, TargetIdentity};

/// What renewing a lease gave: its new duration from now, and whether it can be renewed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewal {
    pub duration: Duration,
    pub renewable: bool,
}

/// What a source answered for one target.
#[derive(Debug)]
pub enum Lookup {
    /// The source has a credential for this target.
    Found(Credential),
    /// The source is there but holds nothing for this target; the chain tries the next one.
    /// The reason is shown by `dbcore explain` ("no matching line in /home/u/.pgpass").
    NotFound { reason: String },
    /// The source cannot be asked right now (no keyring daemon, Vault unreachable); the chain
    /// tries the next one and `dbcore explain` shows why.
    Unavailable { reason: String },
}

impl Lookup {
    pub fn not_found(reason: impl Into<String>) -> Self {
        Lookup::NotFound {
            reason: reason.into(),
        }
    }

    pub fn unavailable(reason: impl Into<String>) -> Self {
        Lookup::Unavailable {
            reason: reason.into(),
        }
    }
}

/// Where a secret may come from: pgpass, the environment, a keyring, Vault, a file …
///
/// Object safe: chains are assembled at run time from settings as `Vec<Arc<dyn CredentialSource>>`.
/// A hard error (`Err`) stops the chain: use it only when going on would hide a problem the
/// user must fix (a file that exists but cannot be read, a permission denied by Vault).
#[async_trait]
pub trait CredentialSource: Send + Sync {
    /// The source's name as written in `sources = [...]`, used for provenance.
    fn name(&self) -> &str;

    async fn lookup(&self, target: &TargetIdentity) -> Result<Lookup, SourceError>;

    /// Whether the answer depends on the target's host and port (pgpass lines name a host):
    /// for a target with several hosts such a source is asked once per host, every other
    /// source once for all of them.
    fn varies_by_host(&self) -> bool {
        false
    }

    /// The files this source's answer for `target` is read from, for a long-running process
    /// to notice when one changes (a Kubernetes secret volume swapping its `..data` link, a
    /// Vault Agent template rewriting a file) and resolve again. Sources that read no file
    /// answer none.
    fn watched_files(&self, _target: &TargetIdentity) -> Vec<std::path::PathBuf> {
        Vec::new()
    }

    /// Renews a lease this source handed out. Sources without leases never get asked.
    async fn renew(&self, _lease: &Lease) -> Result<Renewal, SourceError> {
        Err(SourceError::Other(format!(
            "source `{}` has no leases to renew",
            self.name()
        )))
    }

    /// Revokes a lease this source handed out (on close), so the credential dies with us.
    async fn revoke(&self, _lease: &Lease) -> Result<(), SourceError> {
        Ok(())
    }

    /// Non-secret facts for `dbcore explain` (address, auth method, mount and path …).
    fn details(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::DbKind;
    use secrecy::SecretString;

    /// A source that only looks up: everything else is the trait's defaults.
    struct Plain;

    #[async_trait]
    impl CredentialSource for Plain {
        fn name(&self) -> &str {
            "plain"
        }
        async fn lookup(&self, _target: &TargetIdentity) -> Result<Lookup, SourceError> {
            Ok(Lookup::not_found("nothing"))
        }
    }

    fn target_identity() -> TargetIdentity {
        TargetIdentity {
            name: "t".into(),
            kind: DbKind::Sqlite,
            host: None,
            port: None,
            database: None,
            user: None,
        }
    }

    #[tokio::test]
    async fn a_source_without_leases_refuses_renewal_by_name_and_has_no_details() {
        let lease = Lease {
            id: SecretString::from("id"),
            duration: Duration::from_secs(1),
            renewable: true,
        };
        let refused = Plain.renew(&lease).await.unwrap_err();
        assert_eq!(refused.to_string(), "source `plain` has no leases to renew");
        assert!(Plain.revoke(&lease).await.is_ok());
        assert!(Plain.details().is_empty());
        assert!(Plain.watched_files(&target_identity()).is_empty());
        let target = target_identity();
        assert!(matches!(
            Plain.lookup(&target).await,
            Ok(Lookup::NotFound { reason }) if reason == "nothing"
        ));
    }
}
