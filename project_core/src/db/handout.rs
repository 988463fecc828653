//! The credential an open target is on, for programs that are not Rust (`dbcore exec`,
//! `dbcore proxy`).
//!
//! Design decision: a side that hands credentials to other programs resolves and rotates
//! nothing itself. It opens the target like any app — so the credential is proven, leased,
//! renewed and rotated by the same machinery, with the same provenance — and follows the
//! credential the pool is on through this feed. It is the one way a secret leaves
//! `project_core`; what it yields is a [`Credential`], whose `Debug` redacts the password.

use std::sync::Arc;

use domain::Credential;
use tokio::sync::watch;

use crate::db::lease::Leases;

/// Follows the credential of one open target: the one in use now, and each one that
/// replaces it (a rotation, a re-resolution after a refused password). Clones follow the
/// same credential.
#[derive(Clone)]
pub struct CredentialFeed {
    receiver: watch::Receiver<Option<Credential>>,
    leases: Option<Arc<Leases>>,
}

impl std::fmt::Debug for CredentialFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialFeed").finish_non_exhaustive()
    }
}

impl CredentialFeed {
    pub(crate) fn new(leases: Arc<Leases>) -> Self {
        Self {
            receiver: leases.hand_out(),
            leases: Some(leases),
        }
    }

    /// A feed of no credential that nothing replaces (for tests of what follows one).
    pub fn none() -> Self {
        let (_, receiver) = watch::channel(None);
        Self {
            receiver,
            leases: None,
        }
    }

    /// Resolves a new credential through the chain now (the server refused the one in use),
    /// once for every caller that asks at the same time, as the library does for its own
    /// pool; the new one is proven before it replaces the old. `Err` is a reason to log.
    pub async fn replace(&self) -> Result<(), String> {
        match &self.leases {
            Some(leases) => leases.rotate().await,
            None => Err("nothing can replace this credential".into()),
        }
    }

    /// The credential in use now; `None` for a kind that logs in without one, or a target
    /// whose chain supplied none (the server then decides, as with `trust`).
    pub fn current(&mut self) -> Option<Credential> {
        self.receiver.borrow_and_update().clone()
    }

    /// Waits until the credential is replaced and returns the new one; `None` once the
    /// connection is gone (nothing will replace it any more).
    pub async fn next(&mut self) -> Option<Credential> {
        loop {
            self.receiver.changed().await.ok()?;
            if let Some(credential) = self.receiver.borrow_and_update().clone() {
                return Some(credential);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::SecretString;

    fn credential(user: &str) -> Credential {
        Credential::new(
            Some(user.into()),
            SecretString::from("canary-feed"),
            "test",
            "here",
        )
    }

    #[tokio::test]
    async fn the_feed_yields_the_current_credential_then_each_replacement_then_ends() {
        let (sender, receiver) = watch::channel(Some(credential("first")));
        let mut feed = CredentialFeed {
            receiver,
            leases: None,
        };
        assert_eq!(
            feed.current().and_then(|c| c.username).as_deref(),
            Some("first")
        );
        sender.send_replace(Some(credential("second")));
        let next = feed.next().await.and_then(|c| c.username);
        assert_eq!(next.as_deref(), Some("second"));
        drop(sender);
        assert!(feed.next().await.is_none());
        assert!(feed.replace().await.is_err());
        assert!(!format!("{feed:?}").contains("canary"));
    }
}
