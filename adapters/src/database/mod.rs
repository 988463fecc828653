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

pub use classify::{classify, describe};

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

/// Which pooled connections are too old to keep: those made before the last credential swap.
///
/// The pool asks it when a connection is released and before one is handed out, so that a
/// connection opened with retired credentials is closed instead of reused.
#[derive(Debug)]
pub struct Retirement {
    base: std::time::Instant,
    /// Nanoseconds after `base` before which connections are retired; 0 = none.
    cutoff: std::sync::atomic::AtomicU64,
}

impl Default for Retirement {
    fn default() -> Self {
        Self {
            base: std::time::Instant::now(),
            cutoff: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Retirement {
    /// Retires every connection made before `instant`.
    pub fn retire_before(&self, instant: std::time::Instant) {
        let nanos = instant.saturating_duration_since(self.base).as_nanos();
        self.cutoff.store(
            u64::try_from(nanos).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// Whether a connection of this age may stay in the pool.
    pub fn keeps(&self, age: std::time::Duration) -> bool {
        self.keeps_at(age, std::time::Instant::now())
    }

    /// Whether a connection that is `age` old at `now` was made at or after the last swap.
    fn keeps_at(&self, age: std::time::Duration, now: std::time::Instant) -> bool {
        let cutoff = self.cutoff.load(std::sync::atomic::Ordering::SeqCst);
        if cutoff == 0 {
            return true;
        }
        let made = now.checked_sub(age).unwrap_or(self.base);
        made.saturating_duration_since(self.base).as_nanos() >= u128::from(cutoff)
    }
}

/// The sqlx implementation of the `ConnectionTarget` port, for every kind.
#[derive(Debug, Clone)]
pub struct SqlxTarget {
    spec: TargetSpec,
    retirement: std::sync::Arc<Retirement>,
}

impl SqlxTarget {
    pub fn new(spec: TargetSpec) -> Self {
        Self {
            spec,
            retirement: std::sync::Arc::new(Retirement::default()),
        }
    }

    /// Puts a new credential into a live pool: proves it with one connection, makes it the
    /// pool's options for every new connection, closes idle connections made with the old one
    /// at once and busy ones when they are released.
    pub async fn install(
        &self,
        pool: &DbPool,
        credential: &Credential,
    ) -> Result<(), ConnectError> {
        use sqlx::Connection;
        match pool {
            DbPool::Postgres(pool) => {
                let options = postgres::connect_options(&self.spec, Some(credential))?;
                let probe = sqlx::PgConnection::connect_with(&options)
                    .await
                    .map_err(|e| postgres::connect_error(&self.spec, Some(credential), &e))?;
                let _ = probe.close().await;
                pool.set_connect_options(options);
                self.retirement.retire_before(std::time::Instant::now());
                close_idle(pool).await;
            }
            DbPool::MySql(pool) => {
                let options = mysql::connect_options(&self.spec, Some(credential))?;
                let probe = sqlx::MySqlConnection::connect_with(&options)
                    .await
                    .map_err(|e| mysql::connect_error(&self.spec, Some(credential), &e))?;
                let _ = probe.close().await;
                pool.set_connect_options(options);
                self.retirement.retire_before(std::time::Instant::now());
                close_idle(pool).await;
            }
            DbPool::Sqlite(_) => {}
        }
        Ok(())
    }

    pub fn spec(&self) -> &TargetSpec {
        &self.spec
    }
}

/// Makes the pool's first connection within `timeout`, classifying what goes wrong.
///
/// A refused or unreachable TCP address is found first with a plain TCP connect, because the
/// pool retries a refused connection until its acquire timeout; then the pool itself connects,
/// so the connection that proves the settings is the first one the pool hands out (no extra
/// connection and authentication on start).
pub(crate) async fn first_connection<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    tcp: Option<(&str, u16)>,
    timeout: std::time::Duration,
) -> Result<(), FirstConnection> {
    if let Some((host, port)) = tcp {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
            Err(_) => return Err(FirstConnection::TimedOut(timeout)),
            Ok(Err(io)) => return Err(FirstConnection::Failed(sqlx::Error::Io(io))),
            Ok(Ok(_probe)) => {}
        }
    }
    match tokio::time::timeout(timeout, pool.acquire()).await {
        Err(_) => Err(FirstConnection::TimedOut(timeout)),
        Ok(Err(error)) => Err(FirstConnection::Failed(error)),
        Ok(Ok(mut connection)) => {
            // Back into the pool now: dropping it would return it from a spawned task, and the
            // caller's next query would open a second connection instead of reusing this one.
            connection.return_to_pool().await;
            Ok(())
        }
    }
}

/// The pool's first connection, or the classified error of a target that cannot be reached.
pub(crate) async fn open_first<DB: sqlx::Database>(
    pool: sqlx::Pool<DB>,
    spec: &TargetSpec,
    credential: Option<&Credential>,
    default_port: u16,
    timeout: std::time::Duration,
    address: String,
    connect_error: impl Fn(&sqlx::Error) -> ConnectError,
) -> Result<sqlx::Pool<DB>, ConnectError> {
    let host = spec
        .identity
        .host
        .as_deref()
        .filter(|h| !h.is_empty() && !h.starts_with('/'));
    let tcp = host.map(|h| (h, spec.identity.port.unwrap_or(default_port)));
    match first_connection(&pool, tcp, timeout).await {
        Ok(()) => Ok(pool),
        Err(FirstConnection::TimedOut(after)) => Err(ConnectError {
            kind: domain::ConnectErrorKind::Timeout,
            address,
            user: effective_user(&spec.identity, credential).to_owned(),
            detail: format!(
                "no answer within {}s (connect_timeout)",
                after.as_secs_f64()
            ),
            hint: None,
        }),
        Err(FirstConnection::Failed(error)) => Err(connect_error(&error)),
    }
}

/// The target's `[pool]` settings on sqlx's pool options, for every kind.
pub(crate) fn pool_settings<DB: sqlx::Database>(
    mut options: sqlx::pool::PoolOptions<DB>,
    pool: &domain::PoolOptions,
) -> sqlx::pool::PoolOptions<DB> {
    if let Some(n) = pool.max_connections {
        options = options.max_connections(n);
    }
    if let Some(n) = pool.min_connections {
        options = options.min_connections(n);
    }
    if let Some(t) = pool.acquire_timeout {
        options = options.acquire_timeout(t);
    }
    if let Some(t) = pool.idle_timeout {
        options = options.idle_timeout(t);
    }
    if let Some(t) = pool.max_lifetime {
        options = options.max_lifetime(t);
    }
    if let Some(test) = pool.test_before_acquire {
        options = options.test_before_acquire(test);
    }
    options
}

/// Closes connections made with retired credentials instead of reusing them.
pub(crate) fn with_retirement<DB: sqlx::Database>(
    options: sqlx::pool::PoolOptions<DB>,
    retirement: std::sync::Arc<Retirement>,
) -> sqlx::pool::PoolOptions<DB> {
    let on_release = retirement.clone();
    options
        .after_release(move |_conn, meta| {
            let keep = on_release.keeps(meta.age);
            Box::pin(async move { Ok(keep) })
        })
        .before_acquire(move |_conn, meta| {
            let keep = retirement.keeps(meta.age);
            Box::pin(async move { Ok(keep) })
        })
}

/// Why the first connection failed.
#[derive(Debug)]
pub(crate) enum FirstConnection {
    TimedOut(std::time::Duration),
    Failed(sqlx::Error),
}

/// Closes the connections idle in the pool right now (all made before the swap).
async fn close_idle<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) {
    for _ in 0..pool.num_idle() {
        match pool.try_acquire() {
            Some(connection) => {
                let _ = connection.close().await;
            }
            None => break,
        }
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
            DbKind::Postgres => postgres::connect(&self.spec, credential, self.retirement.clone())
                .await
                .map(DbPool::Postgres),
            DbKind::Sqlite => sqlite::connect(&self.spec).await.map(DbPool::Sqlite),
            DbKind::MySql => mysql::connect(&self.spec, credential, self.retirement.clone())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// On an explicit clock: the swap is at base + 1 s, "now" is base + 2 s.
    #[test]
    fn retirement_keeps_only_connections_made_at_or_after_the_swap() {
        let retirement = Retirement::default();
        let base = retirement.base;
        let now = base + Duration::from_secs(2);
        assert!(
            retirement.keeps_at(Duration::from_secs(3600), now),
            "nothing retired before a swap"
        );
        retirement.retire_before(base + Duration::from_secs(1));
        let ms = Duration::from_millis;
        assert!(
            !retirement.keeps_at(ms(1001), now),
            "made 1 ms before the swap"
        );
        assert!(retirement.keeps_at(ms(1000), now), "made at the swap");
        assert!(
            retirement.keeps_at(ms(999), now),
            "made 1 ms after the swap"
        );
        assert!(
            !retirement.keeps_at(Duration::from_secs(3600), now),
            "made before the pool's clock started"
        );
        // A pool that never swapped keeps everything (cutoff 0 is "none").
        assert!(
            Retirement::default().keeps(Duration::ZERO),
            "a fresh pool keeps a fresh connection"
        );
    }
}
