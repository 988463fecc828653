//! `dbcore proxy TARGET`: a PostgreSQL endpoint on a private Unix socket that logs every
//! client in to the target with the credential current at that moment, so psql, pg_dump,
//! pgbench and any libpq or JDBC program connect with no password and ride rotations.
//!
//! Design decision: the proxy relays bytes, it does not pool or parse queries. Each client
//! connection gets its own server connection, logged in by the proxy (SCRAM, MD5 or
//! cleartext — whatever the server asks) with the credential the library's lease manager
//! holds now ([`project_core::db::CredentialFeed`]); after the login the two sockets are
//! joined. So a session keeps the credential it logged in with until the server ends it,
//! and every new one uses the newest. Cancel requests are mapped from keys the proxy hands
//! out to the server's own.

mod cancel_keys;
mod client_auth;
mod counted;
mod session;
mod socket_dir;
mod tls;
mod upstream;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use domain::DbKind;
use project_core::{Context, registry};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;

/// `--shutdown-timeout`: 0 (close at once) to 1 h.
pub fn parse_shutdown_timeout(text: &str) -> Result<Duration, String> {
    let allowed = "--shutdown-timeout takes a duration from 0s to 1h, e.g. 30s";
    let timeout = humantime::parse_duration(text.trim()).map_err(|_| allowed.to_owned())?;
    if timeout > Duration::from_secs(3600) {
        return Err(allowed.to_owned());
    }
    Ok(timeout)
}

/// `--listen`: a loopback address and port, never beyond.
pub fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    let address: std::net::SocketAddr = text
        .parse()
        .map_err(|_| format!("`{text}` is not an address and port, e.g. 127.0.0.1:6432"))?;
    if !address.ip().is_loopback() {
        return Err(format!(
            "`{text}` is not a loopback address; the proxy listens on 127.0.0.1 or ::1 only"
        ));
    }
    Ok(address)
}

#[derive(Debug)]
pub struct ProxyArgs {
    pub target: String,
    pub socket_dir: PathBuf,
    pub port: u16,
    pub shutdown_timeout: Duration,
    pub listen: Option<std::net::SocketAddr>,
    pub client_password_file: Option<PathBuf>,
}

/// The client password for the TCP listener: one line of a regular 0600 file.
fn client_verifier(path: &std::path::Path) -> Result<client_auth::Verifier> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the client password file {}: {e}",
            path.display()
        )
    })?;
    if !meta.is_file() {
        bail!(
            "the client password file {} is not a regular file",
            path.display()
        );
    }
    if meta.mode() & 0o077 != 0 {
        bail!(
            "the client password file {} is mode {:o}; it must be 0600 (or stricter)",
            path.display(),
            meta.mode() & 0o777
        );
    }
    if meta.len() > 4096 {
        bail!(
            "the client password file {} is over 4096 bytes; it holds one password",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the client password file {}: {e}",
            path.display()
        )
    })?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() || line.contains('\n') {
        bail!(
            "the client password file {} must hold one non-empty line",
            path.display()
        );
    }
    Ok(client_auth::Verifier::new(&secrecy::SecretString::from(
        line.to_owned(),
    )))
}

pub async fn run(context: &Context, args: ProxyArgs) -> Result<ExitCode> {
    // The proxy logs in to one server (its own protocol code, not the pool's connector).
    let settings = registry::settings(&args.target, context)?;
    if settings.chooses_a_server() {
        bail!(
            "target `{}` has several hosts or a target_session_attrs ({}); dbcore proxy serves one-host targets without one only for now",
            args.target,
            settings.location()
        );
    }
    let connection = registry::open(&args.target, context).await?;
    let spec = connection.settings().spec();
    if connection.kind() != DbKind::Postgres {
        connection.close().await;
        bail!(
            "target `{}` is {}; dbcore proxy serves postgres targets only",
            args.target,
            connection.kind().as_str()
        );
    }
    let tls =
        match tls::TlsPolicy::for_target(&spec.identity, spec.options.sslmode, &spec.options.tls) {
            Ok(tls) => tls,
            Err(error) => {
                connection.close().await;
                bail!("target `{}`: {error}", args.target);
            }
        };
    let tcp = match (args.listen, &args.client_password_file) {
        (Some(address), Some(file)) => {
            let verifier = Arc::new(client_verifier(file)?);
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
            Some((listener, verifier))
        }
        (Some(_), None) => {
            bail!("--listen needs --client-password-file: TCP clients must prove a password")
        }
        (None, _) => None,
    };
    socket_dir::prepare(&args.socket_dir)?;
    let (listener, socket) = socket_dir::bind(&args.socket_dir, args.port).await?;
    let shared = Arc::new(session::Shared::new(
        spec,
        tls,
        connection.credential_feed(),
    ));
    // Announced for scripts and tests; a reader that goes away must not stop the proxy.
    announce(&socket.display().to_string());
    if let Some((listener, _)) = &tcp {
        announce(&listener.local_addr()?.to_string());
    }

    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut sessions = JoinSet::new();
    let mut next_id = 0u64;
    // Until the first signal: serve. After it: refuse new logins (57P03) but still take
    // cancel requests, until the open sessions end, the shutdown timeout passes, or a
    // second signal says not to wait.
    let mut drain_until: Option<tokio::time::Instant> = None;
    loop {
        let deadline = async {
            match drain_until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    next_id += 1;
                    sessions.spawn(session::serve(client, shared.clone(), next_id, None));
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            accepted = accept_tcp(tcp.as_ref()) => match accepted {
                Ok((client, verifier)) => {
                    next_id += 1;
                    let _ = client.set_nodelay(true);
                    sessions.spawn(session::serve(client, shared.clone(), next_id, Some(verifier)));
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {
                if drain_until.is_some() && sessions.is_empty() {
                    break;
                }
            }
            () = deadline => {
                tracing::warn!(sessions = sessions.len(), "closing the sessions still open at the shutdown timeout");
                break;
            }
            _ = signal_either(&mut terminate, &mut interrupt) => {
                if drain_until.is_some() {
                    tracing::warn!(sessions = sessions.len(), "a second signal: closing the open sessions now");
                    break;
                }
                shared.draining.store(true, std::sync::atomic::Ordering::SeqCst);
                tracing::info!(sessions = sessions.len(), "no longer taking new sessions; waiting for open ones");
                if sessions.is_empty() {
                    break;
                }
                drain_until = Some(tokio::time::Instant::now() + args.shutdown_timeout);
            }
        }
    }
    sessions.shutdown().await;
    drop(listener);
    drop(tcp);
    let _ = std::fs::remove_file(&socket);
    connection.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn signal_either(a: &mut tokio::signal::unix::Signal, b: &mut tokio::signal::unix::Signal) {
    tokio::select! {
        _ = a.recv() => {}
        _ = b.recv() => {}
    }
}

fn announce(place: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "dbcore proxy: listening on {place}").and_then(|()| out.flush());
}

/// The next TCP client, with the verifier it must satisfy; never, without a TCP listener.
async fn accept_tcp(
    tcp: Option<&(tokio::net::TcpListener, Arc<client_auth::Verifier>)>,
) -> std::io::Result<(tokio::net::TcpStream, Arc<client_auth::Verifier>)> {
    match tcp {
        Some((listener, verifier)) => Ok((listener.accept().await?.0, verifier.clone())),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_timeouts() {
        assert_eq!(parse_shutdown_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_shutdown_timeout("0s"), Ok(Duration::ZERO));
        assert!(parse_shutdown_timeout("2h").is_err());
        assert!(parse_shutdown_timeout("-1s").is_err());
        assert!(parse_shutdown_timeout("").is_err());
    }

    #[test]
    fn only_loopback_addresses_are_listened_on() {
        assert!(parse_listen("127.0.0.1:6432").is_ok());
        assert!(parse_listen("[::1]:6432").is_ok());
        assert!(
            parse_listen("0.0.0.0:6432")
                .unwrap_err()
                .contains("not a loopback address")
        );
        assert!(parse_listen("10.0.0.1:6432").is_err());
        assert!(
            parse_listen("localhost:6432").is_err(),
            "a name could resolve anywhere"
        );
        assert!(parse_listen("127.0.0.1").is_err());
    }
}
