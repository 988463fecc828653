//! MySQL and MariaDB through sqlx: options from a `TargetSpec`, connect with classification, ping.
//!
//! The same option vocabulary as PostgreSQL: `sslmode` uses libpq's names (mapped to MySQL's
//! modes), `statement_timeout` becomes `max_statement_time` (MariaDB) or `max_execution_time`
//! (MySQL) on every connection. `search_path` does not apply; the database is the schema.

use std::time::Duration;

use domain::{ConnectError, ConnectErrorKind, Credential, ExposeSecret, ServerInfo, TargetSpec};
use sqlx::Executor;
use sqlx::mysql::{
    MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions, MySqlSslMode,
};

use super::{classify, effective_user, password_provenance};

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub fn address(spec: &TargetSpec) -> String {
    let identity = &spec.identity;
    let host = identity
        .host
        .as_deref()
        .filter(|h| !h.is_empty())
        .unwrap_or("localhost");
    let port = identity.port.unwrap_or(3306);
    let database = identity.database.as_deref().unwrap_or("");
    format!("{host}:{port}/{database}")
}

fn ssl_mode(sslmode: &str) -> Option<MySqlSslMode> {
    Some(match sslmode {
        "disable" => MySqlSslMode::Disabled,
        "allow" | "prefer" => MySqlSslMode::Preferred,
        "require" => MySqlSslMode::Required,
        "verify-ca" => MySqlSslMode::VerifyCa,
        "verify-full" => MySqlSslMode::VerifyIdentity,
        _ => return None,
    })
}

/// Builds sqlx options; the password is always set explicitly (empty when none was found).
pub fn connect_options(
    spec: &TargetSpec,
    credential: Option<&Credential>,
) -> Result<MySqlConnectOptions, ConnectError> {
    let identity = &spec.identity;
    let user = effective_user(identity, credential);
    let mut options =
        MySqlConnectOptions::new().password(credential.map_or("", |c| c.password.expose_secret()));
    if !user.is_empty() {
        options = options.username(user);
    }
    match identity.host.as_deref() {
        Some(path) if path.starts_with('/') => options = options.socket(path),
        Some(host) if !host.is_empty() => options = options.host(host),
        _ => {}
    }
    if let Some(port) = identity.port {
        options = options.port(port);
    }
    if let Some(database) = identity.database.as_deref() {
        options = options.database(database);
    }
    if let Some(mode) = spec.options.sslmode.as_deref() {
        let mapped = ssl_mode(mode).ok_or_else(|| ConnectError {
            kind: ConnectErrorKind::Configuration,
            address: address(spec),
            user: user.to_owned(),
            detail: format!("unknown sslmode `{mode}`"),
            hint: Some(format!("allowed: {}", super::postgres::SSL_MODES)),
        })?;
        options = options.ssl_mode(mapped);
    }
    Ok(options)
}

pub(crate) fn connect_error(
    spec: &TargetSpec,
    credential: Option<&Credential>,
    error: &sqlx::Error,
) -> ConnectError {
    let kind = classify(error);
    ConnectError {
        kind,
        address: address(spec),
        user: effective_user(&spec.identity, credential).to_owned(),
        detail: error.to_string(),
        hint: match kind {
            ConnectErrorKind::AuthenticationFailed => Some(password_provenance(credential)),
            ConnectErrorKind::ConnectionRefused => {
                Some("is the server running and listening on that address?".into())
            }
            _ => None,
        },
    }
}

/// Sets the statement timeout on a new connection, in whichever dialect the server speaks.
async fn set_statement_timeout(
    conn: &mut MySqlConnection,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    let version: String = sqlx::query_scalar("select version()")
        .fetch_one(&mut *conn)
        .await?;
    let statement = if version.contains("MariaDB") {
        format!("set session max_statement_time = {}", timeout.as_secs_f64())
    } else {
        format!("set session max_execution_time = {}", timeout.as_millis())
    };
    conn.execute(sqlx::AssertSqlSafe(statement))
        .await
        .map(|_| ())
}

pub async fn connect(
    spec: &TargetSpec,
    credential: Option<&Credential>,
    retirement: std::sync::Arc<super::Retirement>,
) -> Result<MySqlPool, ConnectError> {
    let options = connect_options(spec, credential)?;
    let timeout = spec
        .options
        .connect_timeout
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let pool = &spec.options.pool;
    let mut pool_options = MySqlPoolOptions::new();
    if let Some(n) = pool.max_connections {
        pool_options = pool_options.max_connections(n);
    }
    if let Some(n) = pool.min_connections {
        pool_options = pool_options.min_connections(n);
    }
    if let Some(t) = pool.acquire_timeout {
        pool_options = pool_options.acquire_timeout(t);
    }
    if let Some(t) = pool.idle_timeout {
        pool_options = pool_options.idle_timeout(t);
    }
    if let Some(t) = pool.max_lifetime {
        pool_options = pool_options.max_lifetime(t);
    }
    if let Some(test) = pool.test_before_acquire {
        pool_options = pool_options.test_before_acquire(test);
    }
    if let Some(timeout) = spec.options.statement_timeout {
        pool_options = pool_options.after_connect(move |conn, _meta| {
            Box::pin(async move { set_statement_timeout(conn, timeout).await })
        });
    }
    if credential.is_some_and(|c| c.lease.is_some()) {
        pool_options = with_retirement(pool_options, retirement);
    }
    let pool = pool_options.connect_lazy_with(options);
    let host = spec
        .identity
        .host
        .as_deref()
        .filter(|h| !h.is_empty() && !h.starts_with('/'));
    let tcp = host.map(|h| (h, spec.identity.port.unwrap_or(3306)));
    match super::first_connection(&pool, tcp, timeout).await {
        Ok(()) => Ok(pool),
        Err(super::FirstConnection::TimedOut(after)) => Err(ConnectError {
            kind: ConnectErrorKind::Timeout,
            address: address(spec),
            user: effective_user(&spec.identity, credential).to_owned(),
            detail: format!(
                "no answer within {}s (connect_timeout)",
                after.as_secs_f64()
            ),
            hint: None,
        }),
        Err(super::FirstConnection::Failed(error)) => Err(connect_error(spec, credential, &error)),
    }
}

pub async fn ping(spec: &TargetSpec, pool: &MySqlPool) -> Result<ServerInfo, ConnectError> {
    let row: (String, String, Option<String>) =
        sqlx::query_as("select version(), current_user(), database()")
            .fetch_one(pool)
            .await
            .map_err(|e| connect_error(spec, None, &e))?;
    Ok(ServerInfo {
        version: format!("MySQL-compatible {}", row.0),
        current_user: row.1,
        database: row.2.unwrap_or_default(),
    })
}

/// Closes connections made with retired credentials instead of reusing them.
fn with_retirement(
    options: sqlx::pool::PoolOptions<sqlx::MySql>,
    retirement: std::sync::Arc<super::Retirement>,
) -> sqlx::pool::PoolOptions<sqlx::MySql> {
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
