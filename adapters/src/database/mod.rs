//! The sqlx side: one `ConnectionTarget` for every kind, and the pool it opens.
//!
//! Design decision: sqlx pools are typed by driver, so the pool is an enum ([`DbPool`]) with
//! one variant per kind; connection modules that know their kind at compile time borrow the
//! typed pool out of it. Connect options are always built here, with the password set
//! explicitly (empty when no source supplied one), so that sqlx never falls back to
//! `~/.pgpass` or `PGPASSWORD`. Connect options are never formatted with `{:?}`: sqlx's
//! derived `Debug` prints the password.

mod classify;
pub mod mysql;
pub mod postgres;
pub mod reflect;
pub mod sqlite;

use async_trait::async_trait;
use domain::{
    ConnectError, ConnectionTarget, Credential, DbKind, ServerInfo, TargetIdentity, TargetSpec,
};

pub use classify::classify;

/// A pool for one of the supported kinds.
#[derive(Debug, Clone)]
pub enum DbPool {
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
    Sqlite(sqlx::SqlitePool),
}

impl DbPool {
    pub fn kind(&self) -> DbKind {
        match self {
            DbPool::Postgres(_) => DbKind::Postgres,
            DbPool::MySql(_) => DbKind::MySql,
            DbPool::Sqlite(_) => DbKind::Sqlite,
        }
    }

    pub async fn close(&self) {
        match self {
            DbPool::Postgres(pool) => pool.close().await,
            DbPool::MySql(pool) => pool.close().await,
            DbPool::Sqlite(pool) => pool.close().await,
        }
    }

    pub fn as_postgres(&self) -> Option<&sqlx::PgPool> {
        match self {
            DbPool::Postgres(pool) => Some(pool),
            _ => None,
        }
    }

    pub fn as_mysql(&self) -> Option<&sqlx::MySqlPool> {
        match self {
            DbPool::MySql(pool) => Some(pool),
            _ => None,
        }
    }

    pub fn as_sqlite(&self) -> Option<&sqlx::SqlitePool> {
        match self {
            DbPool::Sqlite(pool) => Some(pool),
            _ => None,
        }
    }
}

/// The sqlx implementation of the `ConnectionTarget` port, for every kind.
#[derive(Debug, Clone)]
pub struct SqlxTarget {
    spec: TargetSpec,
}

impl SqlxTarget {
    pub fn new(spec: TargetSpec) -> Self {
        Self { spec }
    }

    pub fn spec(&self) -> &TargetSpec {
        &self.spec
    }
}

/// The user a connection logs in as: the credential's, else the target's.
pub(crate) fn effective_user<'a>(
    identity: &'a TargetIdentity,
    credential: Option<&'a Credential>,
) -> &'a str {
    credential
        .and_then(|c| c.username.as_deref())
        .or(identity.user.as_deref())
        .unwrap_or("")
}

/// "password from pgpass (/home/u/.pgpass line 3)", for authentication errors.
pub(crate) fn password_provenance(credential: Option<&Credential>) -> String {
    match credential {
        Some(c) => format!("password from {} ({})", c.source, c.origin),
        None => "no source supplied a password".to_owned(),
    }
}

#[async_trait]
impl ConnectionTarget for SqlxTarget {
    type Pool = DbPool;

    fn identity(&self) -> &TargetIdentity {
        &self.spec.identity
    }

    async fn connect(&self, credential: Option<&Credential>) -> Result<DbPool, ConnectError> {
        match self.spec.identity.kind {
            DbKind::Postgres => postgres::connect(&self.spec, credential)
                .await
                .map(DbPool::Postgres),
            DbKind::Sqlite => sqlite::connect(&self.spec).await.map(DbPool::Sqlite),
            DbKind::MySql => mysql::connect(&self.spec, credential)
                .await
                .map(DbPool::MySql),
        }
    }

    async fn ping(&self, pool: &DbPool) -> Result<ServerInfo, ConnectError> {
        match pool {
            DbPool::Postgres(pool) => postgres::ping(&self.spec, pool).await,
            DbPool::MySql(pool) => mysql::ping(&self.spec, pool).await,
            DbPool::Sqlite(pool) => sqlite::ping(&self.spec, pool).await,
        }
    }
}
