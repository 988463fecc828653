//! MySQL and MariaDB through sqlx: options from a `TargetSpec`, connect with classification, ping.
//!
//! The same option vocabulary as PostgreSQL: `sslmode` uses libpq's names (mapped to MySQL's
//! modes), `statement_timeout` becomes `max_statement_time` (MariaDB) or `max_execution_time`
//! (MySQL) on every connection. `search_path` does not apply; the database is the schema.

use std::time::Duration;

use domain::{
    ConnectError, ConnectErrorKind, Credential, ExposeSecret, RootCert, ServerInfo, SslMode,
    TargetSpec,
};
use sqlx::Executor;
use sqlx::mysql::{
    MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions, MySqlSslMode,
};

use super::{classify, effective_user, login_provenance};

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

fn ssl_mode(mode: SslMode) -> MySqlSslMode {
    match mode {
        SslMode::Disable => MySqlSslMode::Disabled,
        SslMode::Allow | SslMode::Prefer => MySqlSslMode::Preferred,
        SslMode::Require => MySqlSslMode::Required,
        SslMode::VerifyCa => MySqlSslMode::VerifyCa,
        SslMode::VerifyFull => MySqlSslMode::VerifyIdentity,
    }
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
    // The same rules as PostgreSQL's (crate::tls): `ssl-ca`, `ssl-cert`, `ssl-key` are the
    // target's sslrootcert, sslcert and sslkey, checked before anything connects.
    let files = &spec.options.tls;
    let mode = super::checked_tls(spec, address(spec), user)?;
    if let Some(crl) = &files.crl {
        // sqlx-mysql takes no revocation list; a CRL that is silently not checked would be
        // worse than none.
        return Err(ConnectError {
            kind: ConnectErrorKind::Configuration,
            address: address(spec),
            user: user.to_owned(),
            detail: format!(
                "sslcrl {} is set, but revocation lists are checked for postgres targets only; remove it for this mysql target",
                crl.display()
            ),
            hint: None,
        });
    }
    // Unset, sqlx's own default stays.
    if spec.options.sslmode.is_some() || files.root_cert.is_some() {
        options = options.ssl_mode(ssl_mode(mode));
    }
    if let Some(RootCert::File(path)) = &files.root_cert {
        options = options.ssl_ca(path);
    }
    if let (Some(cert), Some(key)) = (&files.cert, &files.key) {
        options = options.ssl_client_cert(cert).ssl_client_key(key);
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
        detail: super::describe(error),
        hint: match kind {
            ConnectErrorKind::AuthenticationFailed => Some(login_provenance(spec, credential)),
            ConnectErrorKind::ConnectionRefused => {
                Some("is the server running and listening on that address?".into())
            }
            ConnectErrorKind::Tls => Some(super::tls_hint(spec)),
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

/// How long one new connection (the pool's first, or the probe of a new credential) may take.
pub fn probe_timeout(spec: &TargetSpec) -> Duration {
    spec.options
        .connect_timeout
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
}

pub async fn connect(
    spec: &TargetSpec,
    credential: Option<&Credential>,
    retirement: std::sync::Arc<super::Retirement>,
) -> Result<MySqlPool, ConnectError> {
    let options = connect_options(spec, credential)?;
    let timeout = probe_timeout(spec);
    let mut pool_options = super::pool_settings(MySqlPoolOptions::new(), &spec.options.pool);
    if let Some(timeout) = spec.options.statement_timeout {
        pool_options = pool_options.after_connect(move |conn, _meta| {
            Box::pin(async move { set_statement_timeout(conn, timeout).await })
        });
    }
    pool_options = super::with_retirement(pool_options, retirement);
    let pool = pool_options.connect_lazy_with(options);
    super::open_first(
        pool,
        spec,
        credential,
        Some(3306),
        timeout,
        address(spec),
        |e| connect_error(spec, credential, e),
    )
    .await
}

pub async fn ping(spec: &TargetSpec, pool: &MySqlPool) -> Result<ServerInfo, ConnectError> {
    // A connection returned at once, so that the caller's next query reuses it.
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| connect_error(spec, None, &e))?;
    let row: (String, String, Option<String>) =
        sqlx::query_as("select version(), current_user(), database()")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| connect_error(spec, None, &e))?;
    conn.return_to_pool().await;
    Ok(ServerInfo {
        version: format!("MySQL-compatible {}", row.0),
        current_user: row.1,
        database: row.2.unwrap_or_default(),
        answered_by: None,
        standby: None,
    })
}
