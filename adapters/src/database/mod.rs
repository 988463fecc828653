//! The sqlx side: one `ConnectionTarget` for every kind, and the pool it opens.
//!
//! Design decision: sqlx pools are typed by driver, so the pool is an enum ([`DbPool`]) with
//! one variant per kind; connection modules that know their kind at compile time borrow the
//! typed pool out of it. Connect options are always built here, with the password set
//! explicitly (empty when no source supplied one), so that sqlx never falls back to
//! `~/.pgpass` or `PGPASSWORD`. Connect options are never formatted with `{:?}`: sqlx's
//! derived `Debug` prints the password.

mod classify;
mod hosts;
pub mod mysql;
pub mod postgres;
pub mod reflect;
pub mod sqlite;

#[cfg(any(test, feature = "test-util"))]
pub mod recording;
mod retirement;
mod retry_class;
mod target;

use domain::{ConnectError, Credential, DbKind, TargetIdentity, TargetSpec};

pub use classify::{classify, describe};
pub use hosts::HostsFailed;
pub use retirement::Retirement;
pub use retry_class::{Transience, server_answered, transience};
pub use target::SqlxTarget;

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
    // The default port of a TCP probe of the target's host; `None`: no probe (a connector
    // tries several hosts itself).
    probe_port: Option<u16>,
    timeout: std::time::Duration,
    address: String,
    connect_error: impl Fn(&sqlx::Error) -> ConnectError,
) -> Result<sqlx::Pool<DB>, ConnectError> {
    let host = spec
        .identity
        .host
        .as_deref()
        .filter(|h| !h.is_empty() && !h.starts_with('/'));
    let tcp = host
        .zip(probe_port)
        .map(|(h, default_port)| (h, spec.identity.port.unwrap_or(default_port)));
    match first_connection(&pool, tcp, timeout).await {
        Ok(()) => Ok(pool),
        Err(FirstConnection::TimedOut(after)) => Err(no_answer(spec, credential, address, after)),
        Err(FirstConnection::Failed(error)) => Err(connect_error(&error)),
    }
}

/// A connection that did not come within `connect_timeout` (every host's, for a host list).
pub(crate) fn no_answer(
    spec: &TargetSpec,
    credential: Option<&Credential>,
    address: String,
    after: std::time::Duration,
) -> ConnectError {
    ConnectError {
        kind: domain::ConnectErrorKind::Timeout,
        address,
        user: effective_user(&spec.identity, credential).to_owned(),
        detail: format!(
            "no answer within {}s (connect_timeout)",
            after.as_secs_f64()
        ),
        hint: None,
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
pub(crate) async fn close_idle<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) {
    for _ in 0..pool.num_idle() {
        match pool.try_acquire() {
            Some(connection) => {
                let _ = connection.close().await;
            }
            None => break,
        }
    }
}

/// What to check after a failed handshake, for every kind: the trust the certificate was
/// checked against.
pub(crate) fn tls_hint(spec: &TargetSpec) -> String {
    match &spec.options.tls.root_cert {
        Some(domain::RootCert::File(path)) => format!(
            "check sslmode and sslrootcert {}: the server's certificate must be signed by a CA in that file{}",
            path.display(),
            if spec.options.sslmode == Some(domain::SslMode::VerifyFull) {
                " and name the host you connect to"
            } else {
                ""
            }
        ),
        Some(domain::RootCert::System) => "check sslmode and the server's certificate: sslrootcert is `system`, so a publicly trusted CA must have signed it for this host name".into(),
        None => "check sslmode and the server's certificate".into(),
    }
}

/// The user a connection logs in as: the credential's, else the target's.
/// The sslmode a connection uses and its client certificate checked, by libpq's rules
/// (`crate::tls`), for both kinds: a wrong file or a key others can read is a configuration
/// error, at `address` as `user`, before anything connects.
pub(crate) fn checked_tls(
    spec: &TargetSpec,
    address: String,
    user: &str,
) -> Result<domain::SslMode, ConnectError> {
    let files = &spec.options.tls;
    let refused = |error: crate::tls::TlsSetupError| ConnectError {
        kind: domain::ConnectErrorKind::Configuration,
        address: address.clone(),
        user: user.to_owned(),
        detail: error.to_string(),
        hint: None,
    };
    let mode = crate::tls::effective_mode(spec.options.sslmode, files).map_err(refused)?;
    // With TLS off no file is read, as in libpq.
    if mode != domain::SslMode::Disable {
        crate::tls::client_identity(files).map_err(&refused)?;
    }
    Ok(mode)
}

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
/// What the login offered, for the hint of a refused one: the password's source, and the
/// client certificate when one was presented (a `cert` server checks that instead).
pub(crate) fn login_provenance(spec: &TargetSpec, credential: Option<&Credential>) -> String {
    let password = match credential {
        Some(c) => format!("password from {} ({})", c.source, c.origin),
        None => "no source supplied a password".to_owned(),
    };
    match (&spec.options.tls.cert, &spec.options.tls.key) {
        (Some(cert), Some(_)) => format!(
            "{password}; client certificate {} (its common name must be the user for `cert` authentication)",
            cert.display()
        ),
        _ => password,
    }
}
