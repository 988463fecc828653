//! Opening a target, written once against the `ConnectionTarget` port: resolve a credential
//! through the chain, connect with it, give a leased credential back when the connect fails,
//! start the lease manager; and, later, when the server refuses the password, resolve again
//! once and retry. `DatabaseConnection` runs it on sqlx; the unit tests on a recording target.

use std::future::Future;
use std::sync::Arc;

use domain::{
    ConnectErrorKind, ConnectionTarget, Credential, CredentialChain, DbKind, Env, Resolution,
};
use tokio::task::JoinHandle;

use crate::chain::InvalidSource;
use crate::db::lease::{FILE_CHECK_INTERVAL, Leases, Sink, baseline, give_back, watch_files};
use crate::error::DbError;
use crate::settings::Settings;

/// Which source supplied the credential in use, for `explain` and errors. No secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub source: String,
    pub origin: String,
    pub username: String,
}

impl Provenance {
    /// Where `credential` came from; its user is the credential's, else the target's.
    pub fn of(credential: &Credential, target_user: Option<String>) -> Self {
        Provenance {
            source: credential.source.clone(),
            origin: credential.origin.clone(),
            username: credential
                .username
                .clone()
                .or(target_user)
                .unwrap_or_default(),
        }
    }
}

/// A target opened on `T`: its pool, how its credential was resolved, its leases.
pub(crate) struct Opened<T: ConnectionTarget> {
    pub pool: T::Pool,
    pub resolution: Resolution,
    pub provenance: Option<Provenance>,
    pub leases: Arc<Leases>,
    /// The lease manager, when the credential is leased.
    pub manager: Option<JoinHandle<()>>,
    /// The watch on the files the chain's sources read, when some source reads one.
    pub file_watch: Option<JoinHandle<()>>,
}

/// Resolves a credential through `chain`, connects and starts the lease manager.
pub(crate) async fn open_on<T>(
    target: Arc<T>,
    settings: &Settings,
    chain: CredentialChain,
) -> Result<Opened<T>, DbError>
where
    T: ConnectionTarget + 'static,
    T::Pool: 'static,
{
    // A lease is timed from before its request went out, and opening (resolve, then prove
    // with a first connection) is the first measure of what a rotation costs.
    let started = tokio::time::Instant::now();
    let uses_credentials = settings.kind().is_some_and(DbKind::uses_credentials);
    let files = match uses_credentials {
        true => Some(baseline(&chain, &settings.identity()).await),
        false => None,
    };
    let mut resolution = resolve_on(&chain, settings).await;
    crate::health::record_resolution(settings.name(), &resolution.attempts);
    stop_on_hard_error(settings, &mut resolution)?;
    let credential = resolution.credential.as_ref();
    let pool = match target.connect(credential).await {
        Ok(pool) => pool,
        Err(mut error) => {
            if let (Some(credential), Some(issuer)) = (credential, &resolution.issuer) {
                give_back(credential, issuer).await;
            }
            crate::health::record_connection_error(settings.name(), error.kind);
            if error.kind == ConnectErrorKind::AuthenticationFailed && credential.is_none() {
                let tried = resolution.summary();
                error.hint = Some(format!("no source supplied a password ({tried})"));
            }
            return Err(DbError::Connect {
                target: settings.name().to_owned(),
                error: Box::new(error),
            });
        }
    };
    let provenance = credential.map(|c| Provenance::of(c, settings.identity().user));
    if let Some(credential) = credential {
        crate::health::record_refresh(settings.name(), &credential.source);
    }
    tracing::debug!(
        source = provenance.as_ref().map(|p| p.source.as_str()),
        "target opened"
    );
    let sink = Arc::new(TargetSink {
        target,
        pool: pool.clone(),
    });
    let leases = Leases::new(chain, settings.identity(), sink);
    leases.set_hosts(settings.endpoints());
    if let Some(credential) = credential {
        leases.publish(credential);
    }
    let mut manager = None;
    if let (Some(credential), Some(issuer)) = (credential, &resolution.issuer)
        && credential.lease.is_some()
    {
        leases.adopt(credential, issuer, started).await;
        leases.record_rotation_cost(started.elapsed());
        manager = Some(tokio::spawn(leases.clone().run()));
    }
    let file_watch =
        files.map(|files| tokio::spawn(watch_files(leases.clone(), files, FILE_CHECK_INTERVAL)));
    Ok(Opened {
        pool,
        resolution,
        provenance,
        leases,
        manager,
        file_watch,
    })
}

/// What `chain` resolves for `settings`, hard errors included; kinds without credentials ask
/// no source.
pub(crate) async fn resolve_on(chain: &CredentialChain, settings: &Settings) -> Resolution {
    if !settings.kind().is_some_and(DbKind::uses_credentials) {
        return Resolution::nothing();
    }
    chain
        .resolve_hosts(&settings.identity(), &settings.endpoints())
        .await
}

/// The chain of `settings` and what it resolved, hard errors included (`explain` shows them).
pub(crate) async fn resolve_all(
    settings: &Settings,
    env: Arc<dyn Env>,
) -> Result<(CredentialChain, Resolution), InvalidSource> {
    let chain = crate::chain::build(settings, env)?;
    let resolution = resolve_on(&chain, settings).await;
    Ok((chain, resolution))
}

/// A hard error that stopped the chain (Vault refused, a pgpass file unreadable) ends the
/// open, naming the source and everything tried.
fn stop_on_hard_error(settings: &Settings, resolution: &mut Resolution) -> Result<(), DbError> {
    match resolution.error.take() {
        None => Ok(()),
        Some(cause) => Err(DbError::Credential {
            target: settings.name().to_owned(),
            source_name: resolution
                .attempts
                .last()
                .map_or_else(String::new, |a| a.source.clone()),
            tried: resolution.summary(),
            cause,
        }),
    }
}

/// Runs `attempt`; when the server refused the password, resolves credentials again (once,
/// shared with every caller that saw the same refusal) and retries once.
pub(crate) async fn retry_after_refusal<T, R, F, Fut>(
    target: &T,
    leases: &Leases,
    attempt: F,
) -> Result<R, T::QueryError>
where
    T: ConnectionTarget,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<R, T::QueryError>>,
{
    match attempt().await {
        Err(error) if target.refused_password(&error) => {
            tracing::warn!(%error, "the server refused the password; resolving credentials again");
            if let Err(reason) = leases.rotate().await {
                tracing::warn!(%reason, "resolving credentials again failed");
            }
            attempt().await
        }
        other => other,
    }
}

/// Where the lease manager puts a new credential: the target's pool.
struct TargetSink<T: ConnectionTarget> {
    target: Arc<T>,
    pool: T::Pool,
}

#[async_trait::async_trait]
impl<T: ConnectionTarget> Sink for TargetSink<T> {
    async fn install(&self, credential: &Credential) -> Result<(), String> {
        self.target
            .install(&self.pool, credential)
            .await
            .map_err(|e| {
                // A new credential that the server refuses is a failed connection too.
                crate::health::record_connection_error(&self.target.identity().name, e.kind);
                e.to_string()
            })
    }

    async fn sessions_of(&self, username: &str) -> Option<u64> {
        self.target.sessions_of(&self.pool, username).await
    }
}

#[cfg(test)]
#[path = "open_tests.rs"]
mod tests;
