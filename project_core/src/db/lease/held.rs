//! What the lease manager holds and shows, and where it puts a new credential.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::{Credential, CredentialSource, Lease};
use tokio::time::Instant;

use super::plan::Term;

/// Where a new credential goes: the pool (in production) or a recorder (in tests).
#[async_trait]
pub trait Sink: Send + Sync {
    /// Proves and installs the credential; `Err` is a reason to log.
    async fn install(&self, credential: &Credential) -> Result<(), String>;

    /// How many sessions the server still has for `username` (the replaced credential's
    /// user); `None` when this sink cannot tell. A rotation waits for 0 before it counts as
    /// done, because the old lease's revocation terminates whatever is left.
    async fn sessions_of(&self, _username: &str) -> Option<u64> {
        None
    }
}

/// The lease in force.
#[derive(Clone)]
pub struct Held {
    pub source: Arc<dyn CredentialSource>,
    pub lease: Lease,
    pub term: Term,
    /// When the request that obtained the lease was sent.
    pub obtained: Instant,
    pub username: Option<String>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("source", &self.source.name())
            .field("lease", &self.lease)
            .field("term", &self.term)
            .finish_non_exhaustive()
    }
}

/// The state operators see (`dbcore explain`, `dbcore ping --watch`). No secret in it.
#[derive(Debug, Clone, Default)]
pub struct LeaseStatus {
    pub source: String,
    pub username: Option<String>,
    pub expires_in: Option<Duration>,
    pub renewable: bool,
    pub renewals: u64,
    pub rotations: u64,
    /// What a rotation is taken to cost when planning.
    pub rotation_cost: Duration,
}

/// Revokes the lease of a credential that was obtained but never used (a failed open, a failed
/// rotation, `explain`): left to its TTL, each would leave one more live user at the server.
pub async fn give_back(credential: &Credential, issuer: &Arc<dyn CredentialSource>) {
    if let Some(lease) = &credential.lease
        && let Err(error) = issuer.revoke(lease).await
    {
        tracing::warn!(%error, "could not revoke the lease of an unused credential");
    }
}

/// Lease ids are compared without exposing them anywhere else.
pub(super) trait Expose {
    fn expose(&self) -> &str;
}

impl Expose for domain::SecretString {
    fn expose(&self) -> &str {
        use domain::ExposeSecret;
        self.expose_secret()
    }
}
