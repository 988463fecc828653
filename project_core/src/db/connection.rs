//! `DatabaseConnection`: one target's settings, resolved credential and pool.

use std::path::PathBuf;
use std::sync::Arc;

use adapters::database::{DbPool, SqlxTarget};
use domain::{Attempt, ConnectionTarget, DbKind, ServerInfo};
use sqlx::Pool;
use sqlx::pool::PoolConnection;
use tracing::instrument;

use crate::context::Context;
use crate::db::backend::Backend;
use crate::db::handout::CredentialFeed;
use crate::db::lease::{LeaseStatus, Leases};
use crate::db::open::{Provenance, open_on, retry_after_refusal};
use crate::db::prefix::PrefixClaim;
use crate::db::retry::{RetryPolicy, Retryable, ScopeAttempt};
use crate::db::scope::{Tx, run_scope, run_scope_with};
use crate::error::DbError;
use crate::health::{self, PoolStats};
use crate::metadata;
use crate::settings::{Settings, TargetDefaults, setting_key};

/// An open target: its layered settings, how its credential was resolved, and its pool.
pub struct DatabaseConnection {
    pub(crate) settings: Settings,
    pub(crate) target: Arc<SqlxTarget>,
    pub(crate) pool: DbPool,
    attempts: Vec<Attempt>,
    provenance: Option<Provenance>,
    pub(crate) cache_path: Option<PathBuf>,
    /// The fingerprint, model and commit horizon last seen; shared by every caller in this
    /// process.
    pub(crate) metadata: tokio::sync::Mutex<Option<crate::db::schema::Known>>,
    /// Leased credentials, rotation and re-resolution.
    leases: Arc<Leases>,
    /// The lease manager task (when the credential is leased) and the watch on the sources'
    /// files (when one reads a file).
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// This connection's hold on its environment prefix; `None` once closed.
    prefix: std::sync::Mutex<Option<PrefixClaim>>,
    /// What health metrics sample of this connection; listed while it lives.
    probe: Arc<health::Probe>,
}

impl std::fmt::Debug for DatabaseConnection {
    // Deliberately not the pool or the connect options: sqlx's Debug for those prints the
    // password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConnection")
            .field("target", &self.settings.name())
            .field("kind", &self.pool.kind())
            .field("provenance", &self.provenance)
            .finish_non_exhaustive()
    }
}
impl DatabaseConnection {
    /// Resolves a credential through the target's chain (when its kind uses one), opens the
    /// pool and proves it with one connection.
    #[instrument(skip_all, fields(target = %settings.name()))]
    pub async fn open(settings: Settings, context: &Context) -> Result<Self, DbError> {
        // A failed creation drops the claim: it leaves nothing behind.
        let claim = PrefixClaim::claim(settings.name(), settings.env_prefix())?;
        Self::open_claimed(settings, context, claim).await
    }

    /// Opens a compiled connection module's target in the process context (its `db()`).
    #[doc(hidden)]
    pub async fn open_module(defaults: &TargetDefaults) -> Result<Self, DbError> {
        let context = crate::context::context();
        let settings = Settings::load(
            defaults.name,
            Some(defaults),
            context.config_dir(),
            context.env().as_ref(),
        )?;
        Self::open(settings, context).await
    }

    async fn open_claimed(
        settings: Settings,
        context: &Context,
        claim: PrefixClaim,
    ) -> Result<Self, DbError> {
        let target = Arc::new(SqlxTarget::new(settings.spec()));
        let chain = crate::chain::build(&settings, context.env().clone())?;
        let opened = open_on(target.clone(), &settings, chain).await?;
        let cache_path = context
            .cache_dir()
            .map(|dir| metadata::path_for(dir, &settings.cache_name()));
        let probe = Arc::new(health::Probe {
            target: settings.name().to_owned(),
            pool: opened.pool.clone(),
            waiting: Arc::default(),
            leases: opened.leases.clone(),
        });
        health::register(&probe);
        Ok(Self {
            probe,
            settings,
            target,
            pool: opened.pool,
            attempts: opened.resolution.attempts,
            provenance: opened.provenance,
            cache_path,
            metadata: tokio::sync::Mutex::new(None),
            leases: opened.leases,
            tasks: std::sync::Mutex::new(
                opened
                    .manager
                    .into_iter()
                    .chain(opened.file_watch)
                    .collect(),
            ),
            prefix: std::sync::Mutex::new(Some(claim)),
        })
    }

    pub fn name(&self) -> &str {
        self.settings.name()
    }

    pub fn kind(&self) -> DbKind {
        self.pool.kind()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Every source asked when the connection was opened, in order.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// Which source supplied the credential in use (`None` when none was needed or found).
    pub fn provenance(&self) -> Option<&Provenance> {
        self.provenance.as_ref()
    }

    /// The pool, whatever its kind.
    pub fn any_pool(&self) -> &DbPool {
        &self.pool
    }

    /// The typed pool (dm-dbcore's `engine`).
    pub fn pool<DB: Backend>(&self) -> Result<&Pool<DB>, DbError> {
        DB::from_pool(&self.pool).ok_or_else(|| DbError::KindMismatch {
            target: self.name().to_owned(),
            expected: DB::KIND,
            actual: self.kind(),
            origin: self
                .settings
                .origin(setting_key!(kind))
                .map_or_else(|| "default".into(), ToString::to_string),
        })
    }

    /// A pooled connection (dm-dbcore's `get_session()`).
    /// A connection refused for a bad password re-resolves credentials once before failing.
    pub async fn session<DB: Backend>(&self) -> Result<PoolConnection<DB>, DbError> {
        let pool = self.pool::<DB>()?;
        self.checkout(retry_after_refusal(&*self.target, &self.leases, || {
            pool.acquire()
        }))
        .await
        .map_err(|cause| self.query_error(cause))
    }

    /// Waits for `checkout` as one waiting acquirer, recording how long it took and how it
    /// failed.
    async fn checkout<R>(
        &self,
        checkout: impl Future<Output = Result<R, sqlx::Error>>,
    ) -> Result<R, sqlx::Error> {
        let waiting = health::Waiting::enter(&self.probe.waiting);
        let started = std::time::Instant::now();
        let outcome = checkout.await;
        drop(waiting);
        health::record_acquire(self.name(), started.elapsed());
        if let Err(error) = &outcome {
            health::record_connection_error(self.name(), adapters::database::classify(error));
        }
        outcome
    }

    /// The pool's state now: size, idle, maximum, waiting acquirers.
    pub fn pool_stats(&self) -> PoolStats {
        health::pool_stats(&self.pool, &self.probe.waiting)
    }

    /// How many times credentials were swapped into the pool.
    pub fn rotations(&self) -> u64 {
        self.leases.rotations()
    }

    /// The last credential swapped into the pool (source, origin, why), if one was.
    pub fn last_rotation(&self) -> Option<crate::db::lease::RotationNote> {
        self.leases.last_rotation()
    }

    /// Follows the credential this connection's pool is on, for handing it to another program
    /// (`dbcore exec`, `dbcore proxy`); see [`CredentialFeed`].
    pub fn credential_feed(&self) -> CredentialFeed {
        CredentialFeed::new(self.leases.clone())
    }

    /// The lease in force, if the credential is leased (for operators; no ids).
    pub async fn lease_status(&self) -> Option<LeaseStatus> {
        self.leases.status().await
    }

    /// Runs `f` in a transaction: commit on `Ok`, roll back on `Err` and on panic.
    pub async fn session_scope<DB, T, E, F>(&self, f: F) -> Result<T, E>
    where
        DB: Backend,
        E: From<DbError>,
        F: for<'t> AsyncFnOnce(&'t mut Tx<DB>) -> Result<T, E>,
    {
        let pool = self.pool::<DB>()?;
        let transaction = self
            .checkout(retry_after_refusal(&*self.target, &self.leases, || {
                pool.begin()
            }))
            .await
            .map_err(|cause| E::from(self.query_error(cause)))?;
        run_scope(self.name(), transaction, f).await
    }

    /// Runs `f` in a transaction as [`session_scope`](Self::session_scope) does, and runs the
    /// whole transaction again — `f` from the start, on a new transaction — when the server
    /// reported a conflict (40001, 40P01; MySQL 1213, 1205) or the connection was lost before
    /// COMMIT was sent, as `policy` allows. A failure while committing is
    /// [`DbError::CommitOutcomeUnknown`] and is never retried. `f` may therefore run more than
    /// once: whatever it does outside the transaction must be safe to repeat.
    ///
    /// `f` returns its attempt boxed (see [`ScopeAttempt`] for why):
    /// `|tx| Box::pin(async move { sqlx::query("…").execute(&mut **tx).await.map_err(|e| tx.query_error(e))?; Ok(()) })`.
    pub async fn session_scope_retry<DB, T, E, F>(
        &self,
        policy: &RetryPolicy,
        mut f: F,
    ) -> Result<T, E>
    where
        DB: Backend,
        E: From<DbError> + Retryable + std::fmt::Display,
        F: for<'t> FnMut(&'t mut Tx<DB>) -> ScopeAttempt<'t, T, E>,
    {
        let mut number = 1;
        loop {
            let outcome = match self.pool::<DB>() {
                Err(error) => Err(E::from(error)),
                Ok(pool) => {
                    let begun =
                        self.checkout(retry_after_refusal(&*self.target, &self.leases, || {
                            pool.begin()
                        }));
                    match begun.await {
                        Err(cause) => Err(E::from(self.query_error(cause))),
                        Ok(transaction) => run_scope_with(self.name(), transaction, &mut f).await,
                    }
                }
            };
            let error = match outcome {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            match crate::db::retry::after_failure(policy, number, &error) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(error),
            }
            number += 1;
        }
    }

    /// Who and where we are, as the server sees it.
    pub async fn ping(&self) -> Result<ServerInfo, DbError> {
        self.target
            .ping(&self.pool)
            .await
            .map_err(|error| DbError::Connect {
                target: self.name().to_owned(),
                error: Box::new(error),
            })
    }

    /// Closes the pool (waiting for checked-out connections to come back), stops the lease
    /// manager and revokes the leases this process obtained.
    pub async fn close(&self) {
        self.stop_manager();
        self.target.close(&self.pool).await;
        self.leases.revoke_all().await;
        drop(self.prefix.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    fn stop_manager(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    pub(crate) fn query_error(&self, cause: sqlx::Error) -> DbError {
        DbError::Query {
            target: self.name().to_owned(),
            cause,
        }
    }
}

impl Drop for DatabaseConnection {
    // The pool closes itself when its last handle goes; the lease manager must be stopped with
    // it (the prefix claim, a field, is released when it is dropped).
    fn drop(&mut self) {
        self.stop_manager();
    }
}
