//! PostgreSQL through sqlx: options built from a `TargetSpec`, connect with classification, ping.

use std::time::Duration;

use domain::{
    ConnectError, ConnectErrorKind, Credential, ExposeSecret, ServerInfo, SslMode, TargetSpec,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};

use super::hosts::{HostLogin, MultiHost, session_facts};
use super::{classify, effective_user, login_provenance};
use domain::{Endpoint, SecretString};
use std::sync::Arc;

/// What libpq waits for a connection when `connect_timeout` is unset is "forever"; we choose
/// a bound so that `dbcore ping` always answers.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// sqlx's default `acquire_timeout`.
const SQLX_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds sqlx options from the target alone: they start from no environment (the `PGSSL*`
/// variables libpq reads are a settings layer, shown by explain), and the password is always
/// set, to an empty string when there is none.
pub fn connect_options(
    spec: &TargetSpec,
    credential: Option<&Credential>,
) -> Result<PgConnectOptions, ConnectError> {
    let identity = &spec.identity;
    let user = effective_user(identity, credential);
    let mut options = PgConnectOptions::new_without_environment();
    // An empty user leaves sqlx's default, the login name, as libpq does.
    if !user.is_empty() {
        options = options.username(user);
    }
    options = options.password(credential.map_or("", |c| c.password.expose_secret()));
    if let Some(connector) = multi_host(spec, credential) {
        // Each connection's host, port and password are the connector's choice.
        options = options.connector(Arc::new(connector));
    } else {
        match identity.host.as_deref() {
            // libpq: a host beginning with `/` is a Unix-socket directory, and no host at all
            // means the default socket directory.
            Some(dir) if dir.starts_with('/') => options = options.socket(dir),
            Some(host) if !host.is_empty() => options = options.host(host),
            _ => options = options.socket(crate::credentials::pgpass::DEFAULT_SOCKET_DIR),
        }
        if let Some(port) = identity.port {
            options = options.port(port);
        }
    }
    if let Some(database) = identity.database.as_deref() {
        options = options.database(database);
    }
    options = tls_options(options, spec, credential)?;
    if let Some(name) = spec.options.application_name.as_deref() {
        options = options.application_name(name);
    }
    let mut server_options: Vec<(&str, String)> = Vec::new();
    if let Some(timeout) = spec.options.statement_timeout {
        server_options.push(("statement_timeout", timeout.as_millis().to_string()));
    }
    if let Some(path) = &spec.options.search_path {
        let quoted: Vec<String> = path.iter().map(|s| quote_identifier(s)).collect();
        server_options.push(("search_path", quoted.join(",")));
    }
    if !server_options.is_empty() {
        options = options.options(server_options);
    }
    Ok(options)
}

/// The connector of a target with several hosts or a `target_session_attrs` to check (libpq
/// checks it for one host too); `None` for a plain one-host target.
pub(crate) fn multi_host(spec: &TargetSpec, credential: Option<&Credential>) -> Option<MultiHost> {
    let options = &spec.options;
    let attrs = options.target_session_attrs.unwrap_or_default();
    if options.hosts.is_empty() && !attrs.needs_check() {
        return None;
    }
    let endpoints = if options.hosts.is_empty() {
        vec![Endpoint {
            host: spec.identity.host.clone().unwrap_or_default(),
            port: spec.identity.port,
        }]
    } else {
        options.hosts.clone()
    };
    let logins = endpoints
        .into_iter()
        .enumerate()
        .map(|(index, endpoint)| HostLogin {
            endpoint,
            // A host's own password goes with its own source's user, else the target's.
            username: credential
                .and_then(|c| c.username_for_host(index))
                .or(spec.identity.user.as_deref())
                .map(str::to_owned),
            password: credential.and_then(|c| c.for_host(index)).map_or_else(
                || SecretString::from(""),
                |(password, _, _)| password.clone(),
            ),
        })
        .collect();
    Some(MultiHost::new(
        logins,
        attrs,
        options.load_balance_hosts.unwrap_or_default(),
        options.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
    ))
}

/// The sslmode, CA and client certificate, checked by `checked_tls`.
fn tls_options(
    options: PgConnectOptions,
    spec: &TargetSpec,
    credential: Option<&Credential>,
) -> Result<PgConnectOptions, ConnectError> {
    let files = &spec.options.tls;
    let user = effective_user(&spec.identity, credential);
    let mode = super::checked_tls(spec, address(spec), user)?;
    let options = options.ssl_mode(ssl_mode(mode));
    if mode == SslMode::Disable {
        return Ok(options);
    }
    // Our own rustls configuration (sqlx-postgres patch 6): exactly the CAs of sslrootcert
    // (sqlx's would add the public roots to them), the CRLs of sslcrl, verify-ca without the
    // name check, the client certificate.
    let config = crate::tls::client_config(mode, files).map_err(|error| ConnectError {
        kind: ConnectErrorKind::Configuration,
        address: address(spec),
        user: user.to_owned(),
        detail: error.to_string(),
        hint: None,
    })?;
    Ok(options.tls_client_config(config))
}

fn ssl_mode(mode: SslMode) -> PgSslMode {
    match mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Allow => PgSslMode::Allow,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require => PgSslMode::Require,
        SslMode::VerifyCa => PgSslMode::VerifyCa,
        SslMode::VerifyFull => PgSslMode::VerifyFull,
    }
}

/// Quotes a schema name for `search_path` (`"$user"` and plain names pass through as written
/// by the user when they are already quoted).
fn quote_identifier(name: &str) -> String {
    if name.starts_with('"') || name == "$user" {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `host:port/database` for messages; every host, comma-separated, for a multi-host target.
pub fn address(spec: &TargetSpec) -> String {
    let identity = &spec.identity;
    if !spec.options.hosts.is_empty() {
        let hosts: Vec<String> = spec.options.hosts.iter().map(|h| h.display(5432)).collect();
        return format!(
            "{}/{}",
            hosts.join(","),
            identity.database.as_deref().unwrap_or("")
        );
    }
    let host = identity
        .host
        .as_deref()
        .filter(|h| !h.is_empty())
        .unwrap_or(crate::credentials::pgpass::DEFAULT_SOCKET_DIR);
    let port = identity.port.unwrap_or(5432);
    let database = identity.database.as_deref().unwrap_or("");
    format!("{host}:{port}/{database}")
}

pub(crate) fn connect_error(
    spec: &TargetSpec,
    credential: Option<&Credential>,
    error: &sqlx::Error,
) -> ConnectError {
    let kind = classify(error);
    let hint = match kind {
        ConnectErrorKind::AuthenticationFailed => Some(login_provenance(spec, credential)),
        ConnectErrorKind::ConnectionRefused => {
            Some("is the server running and listening on that address?".into())
        }
        ConnectErrorKind::Tls => Some(super::tls_hint(spec)),
        _ => None,
    };
    ConnectError {
        kind,
        address: address(spec),
        user: effective_user(&spec.identity, credential).to_owned(),
        detail: super::describe(error),
        hint,
    }
}

/// How long one new connection may take to come: `connect_timeout`, or for a host list
/// every host's in turn.
fn first_connection_timeout(spec: &TargetSpec, multi: Option<&MultiHost>) -> Duration {
    match multi {
        Some(multi) => multi.worst_case(),
        None => spec
            .options
            .connect_timeout
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
    }
}

/// How long the probe of a new credential may take before it is refused as unanswered.
pub fn probe_timeout(spec: &TargetSpec, credential: Option<&Credential>) -> Duration {
    first_connection_timeout(spec, multi_host(spec, credential).as_ref())
}

/// Opens a pool. One connection is made first, directly and within `connect_timeout`, so a
/// refused connection or a bad password is reported at once and classified (the pool itself
/// would retry a refused connection until its acquire timeout).
pub async fn connect(
    spec: &TargetSpec,
    credential: Option<&Credential>,
    retirement: std::sync::Arc<super::Retirement>,
) -> Result<PgPool, ConnectError> {
    let options = connect_options(spec, credential)?;
    let multi = multi_host(spec, credential);
    let timeout = first_connection_timeout(spec, multi.as_ref());
    let mut pool_options = super::pool_settings(PgPoolOptions::new(), &spec.options.pool);
    if let Some(multi) = &multi
        && spec.options.pool.acquire_timeout.is_none()
    {
        // sqlx's 30 s would cut the host list short: give every host its connect_timeout.
        pool_options = pool_options.acquire_timeout(SQLX_ACQUIRE_TIMEOUT.max(multi.worst_case()));
    }
    // Any credential can be swapped under the pool (a rotation, or re-resolution after the
    // server refused the password), so every pool retires connections made before a swap.
    pool_options = super::with_retirement(pool_options, retirement.clone());
    if let Some(attrs) = multi
        .as_ref()
        .map(MultiHost::attrs)
        .filter(|a| a.needs_check())
    {
        // Replaces the retirement's `before_acquire` (a pool has one) and keeps its check.
        pool_options = with_session_check(pool_options, retirement, attrs);
    }
    if multi.is_some() {
        // The first connection directly, so that hosts that all refuse are reported at once
        // (the pool would retry a refusal until its acquire timeout), with each host's reason.
        match tokio::time::timeout(timeout, sqlx::ConnectOptions::connect(&options)).await {
            Err(_) => {}
            Ok(Err(error)) => return Err(connect_error(spec, credential, &error)),
            Ok(Ok(probe)) => {
                let _ = sqlx::Connection::close(probe).await;
            }
        }
    }
    let pool = pool_options.connect_lazy_with(options);
    // The connector tries the hosts itself; the TCP probe is for one address.
    let probe = multi.is_none().then_some(5432);
    super::open_first(pool, spec, credential, probe, timeout, address(spec), |e| {
        connect_error(spec, credential, e)
    })
    .await
}

/// A pooled connection is used only while its server still fits `attrs`: asked before every
/// use, in place of sqlx's ping (the same one round trip), and retired when it does not.
fn with_session_check(
    options: PgPoolOptions,
    retirement: Arc<super::Retirement>,
    attrs: domain::SessionAttrs,
) -> PgPoolOptions {
    // The check after a failover: a promoted standby is no standby, a server that went away
    // answers nothing. `prefer-standby` keeps whatever its connector settled for.
    let kept = move |facts: domain::SessionFacts| {
        attrs == domain::SessionAttrs::PreferStandby || attrs.fits(facts)
    };
    options
        .test_before_acquire(false)
        .before_acquire(move |connection, meta| {
            let current = retirement.keeps(meta.age);
            Box::pin(async move {
                if !current {
                    return Ok(false);
                }
                let facts = session_facts(connection).await?;
                if !kept(facts) {
                    tracing::info!(
                        server = facts.describe(),
                        %attrs,
                        "a pooled connection's server no longer fits target_session_attrs; retiring it"
                    );
                }
                Ok(kept(facts))
            })
        })
}

pub async fn ping(spec: &TargetSpec, pool: &PgPool) -> Result<ServerInfo, ConnectError> {
    // A connection returned at once, so that the caller's next query reuses it.
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| connect_error(spec, None, &e))?;
    // Which server answered, as it sees itself: the hosts of a multi-host target differ in
    // address or port (a Unix-socket connection has no address).
    let row: (String, String, String, String, bool) = sqlx::query_as(
        "select version(), current_user::text, current_database()::text, \
         coalesce(host(inet_server_addr()), 'unix socket') || ':' || current_setting('port'), \
         pg_is_in_recovery()",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| connect_error(spec, None, &e))?;
    conn.return_to_pool().await;
    Ok(ServerInfo {
        version: row.0,
        current_user: row.1,
        database: row.2,
        answered_by: Some(row.3),
        standby: Some(row.4),
    })
}
