use async_trait::async_trait;

use crate::{ConnectError, Credential, Metadata, TargetIdentity};

/// What a successful ping learned about the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub version: String,
    pub current_user: String,
    pub database: String,
    /// The server that answered, as it sees itself (`127.0.0.1:5433`; PostgreSQL), which
    /// tells the hosts of a multi-host target apart.
    pub answered_by: Option<String>,
    /// Whether that server is a standby (in recovery; PostgreSQL).
    pub standby: Option<bool>,
}

/// Where connections go: a database of some kind, reached with an optional credential.
///
/// This is the one seam between the orchestration (`project_core`: resolve, connect, prove a
/// new credential and swap it in, re-resolve when the server refuses a password, read the
/// schema) and a database driver. The pool type differs per kind, so it is an associated
/// type; `project_core` drives the sqlx implementation in production and a recording mock in
/// its unit tests.
#[async_trait]
pub trait ConnectionTarget: Send + Sync {
    type Pool: Clone + Send + Sync;
    /// A failed query (fingerprint, reflection).
    type QueryError: std::error::Error + Send + Sync + 'static;

    fn identity(&self) -> &TargetIdentity;

    /// Opens a pool that authenticates with `credential` (or with no password when `None`),
    /// making at least one connection so that authentication problems show now.
    async fn connect(&self, credential: Option<&Credential>) -> Result<Self::Pool, ConnectError>;

    /// Puts a new credential into a live pool: proves it with one connection first, then
    /// makes it the pool's for every new connection and retires those made with the old one.
    async fn install(&self, pool: &Self::Pool, credential: &Credential)
    -> Result<(), ConnectError>;

    /// Runs a trivial query through the pool and reports who and where we are.
    async fn ping(&self, pool: &Self::Pool) -> Result<ServerInfo, ConnectError>;

    /// A digest of the schemas' catalog, cheap to compute, that changes whenever the schema
    /// does: the metadata cache is trusted while it matches.
    async fn fingerprint(
        &self,
        pool: &Self::Pool,
        schemas: &[String],
    ) -> Result<String, Self::QueryError>;

    /// A value the server reports that stays the same exactly while no transaction commits
    /// anywhere on it (PostgreSQL: its current snapshot), so that a cache written at one can
    /// be trusted without computing the fingerprint; `None` for kinds without one.
    async fn commit_horizon(&self, _pool: &Self::Pool) -> Option<String> {
        None
    }

    /// The schemas' tables, columns, keys and indexes.
    async fn reflect(
        &self,
        pool: &Self::Pool,
        schemas: &[String],
    ) -> Result<Metadata, Self::QueryError>;

    /// How many sessions the server has for `username`, when the kind lets any user see that
    /// (a rotation waits for the replaced user's sessions to end); `None` when it cannot tell.
    async fn sessions_of(&self, _pool: &Self::Pool, _username: &str) -> Option<u64> {
        None
    }

    /// Whether `error` says the server refused the password (so resolving again may help).
    fn refused_password(&self, error: &Self::QueryError) -> bool;

    /// Closes the pool, waiting for checked-out connections to come back.
    async fn close(&self, pool: &Self::Pool);
}
