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

mod session;
mod socket_dir;
mod upstream;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use domain::{DbKind, SslMode};
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

#[derive(Debug)]
pub struct ProxyArgs {
    pub target: String,
    pub socket_dir: PathBuf,
    pub port: u16,
    pub shutdown_timeout: Duration,
}

pub async fn run(context: &Context, args: ProxyArgs) -> Result<ExitCode> {
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
    if let Some(mode @ (SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull)) =
        spec.options.sslmode
    {
        connection.close().await;
        bail!(
            "target `{}` has sslmode {mode}; dbcore proxy does not speak TLS to the server yet",
            args.target
        );
    }
    socket_dir::prepare(&args.socket_dir)?;
    let (listener, socket) = socket_dir::bind(&args.socket_dir, args.port).await?;
    let shared = Arc::new(session::Shared::new(spec, connection.credential_feed()));
    outln!("dbcore proxy: listening on {}", socket.display());

    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut sessions = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    next_id += 1;
                    sessions.spawn(session::serve(client, shared.clone(), next_id));
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    drop(listener);
    let _ = std::fs::remove_file(&socket);
    tracing::info!(
        sessions = sessions.len(),
        "no longer accepting; waiting for open sessions"
    );
    let drained = tokio::time::timeout(args.shutdown_timeout, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            sessions = sessions.len(),
            "closing the sessions still open at the shutdown timeout"
        );
        sessions.shutdown().await;
    }
    connection.close().await;
    Ok(ExitCode::SUCCESS)
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
}
