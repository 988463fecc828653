use async_trait::async_trait;

use crate::{ConnectError, Credential, TargetIdentity};

/// What a successful ping learned about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub version: String,
    pub current_user: String,
    pub database: String,
}

/// Where connections go: a database of some kind, reached with an optional credential.
///
/// The pool type differs per kind, so it is an associated type; orchestration that must be
/// kind-agnostic (resolve, connect, re-resolve on an authentication failure) is written against
/// this trait and tested with a recording mock.
#[async_trait]
pub trait ConnectionTarget: Send + Sync {
    type Pool: Send + Sync;

    fn identity(&self) -> &TargetIdentity;

    /// Opens a pool that authenticates with `credential` (or with no password when `None`),
    /// making at least one connection so that authentication problems show now.
    async fn connect(&self, credential: Option<&Credential>) -> Result<Self::Pool, ConnectError>;

    /// Runs a trivial query through the pool and reports who and where we are.
    async fn ping(&self, pool: &Self::Pool) -> Result<ServerInfo, ConnectError>;
}
