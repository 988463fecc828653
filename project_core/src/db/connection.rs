//! `DatabaseConnection`: one target's settings, resolved credential and pool.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use adapters::database::{DbPool, SqlxTarget, reflect};
use domain::{Attempt, ConnectErrorKind, ConnectionTarget, DbKind, Env, Resolution, ServerInfo};
use domain::{CredentialChain, Metadata};
use sqlx::Pool;
use sqlx::pool::PoolConnection;
use tracing::instrument;

use crate::context::Context;
use crate::db::lease::{LeaseStatus, Leases, Sink};
use crate::db::prefix::PrefixClaim;
use crate::db::scope::{Tx, run_scope};
use crate::error::DbError;
use crate::metadata::{self, CacheHeader, CacheStatus, MetadataReport, Read};
use crate::settings::Settings;

/// A kind of database the standard API can hand out typed pools for.
pub trait Backend: sqlx::Database {
    const KIND: DbKind;
    fn from_pool(pool: &DbPool) -> Option<&Pool<Self>>;
}

impl Backend for sqlx::Postgres {
    const KIND: DbKind = DbKind::Postgres;
    fn from_pool(pool: &DbPool) -> Option<&Pool<Self>> {
        pool.as_postgres()
    }
}

impl Backend for sqlx::MySql {
    const KIND: DbKind = DbKind::MySql;
    fn from_pool(pool: &DbPool) -> Option<&Pool<Self>> {
        pool.as_mysql()
    }
}

impl Backend for sqlx::Sqlite {
    const KIND: DbKind = DbKind::Sqlite;
    fn from_pool(pool: &DbPool) -> Option<&Pool<Self>> {
        pool.as_sqlite()
    }
}

/// Which source supplied the credential in use, for `explain` and errors. No secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub source: String,
    pub origin: String,
    pub username: String,
}

/// An open target: its layered settings, how its credential was resolved, and its pool.
pub struct DatabaseConnection {
    settings: Settings,
    target: SqlxTarget,
    pool: DbPool,
    attempts: Vec<Attempt>,
    provenance: Option<Provenance>,
    cache_path: Option<PathBuf>,
    /// The fingerprint and model last seen; shared by every caller in this process.
    metadata: tokio::sync::Mutex<Option<(String, Arc<Metadata>)>>,
    /// Leased credentials, rotation and re-resolution.
    leases: Arc<Leases>,
    /// The lease manager task, when the credential is leased.
    manager: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// This connection's hold on its environment prefix; `None` once closed.
    prefix: std::sync::Mutex<Option<PrefixClaim>>,
}

/// Installs new credentials into this connection's pool.
struct PoolSink {
    target: SqlxTarget,
    pool: DbPool,
}

#[async_trait::async_trait]
impl Sink for PoolSink {
    async fn install(&self, credential: &domain::Credential) -> Result<(), String> {
        self.target
            .install(&self.pool, credential)
            .await
            .map_err(|e| e.to_string())
    }

    /// PostgreSQL shows every session's user in `pg_stat_activity` to every user; other kinds
    /// cannot tell (MariaDB shows other users' threads only with `PROCESS`).
    async fn sessions_of(&self, username: &str) -> Option<u64> {
        let pool = self.pool.as_postgres()?;
        let count: i64 =
            sqlx::query_scalar("select count(*) from pg_stat_activity where usename = $1")
                .bind(username)
                .fetch_one(pool)
                .await
                .ok()?;
        u64::try_from(count).ok()
    }
}

/// Whether an error says the server refused the password.
fn refused_password(error: &sqlx::Error) -> bool {
    adapters::database::classify(error) == ConnectErrorKind::AuthenticationFailed
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

    async fn open_claimed(
        settings: Settings,
        context: &Context,
        claim: PrefixClaim,
    ) -> Result<Self, DbError> {
        let name = settings.name().to_owned();
        // A lease is timed from before its request went out, and opening (resolve, then
        // prove with a first connection) is the first measure of what a rotation costs.
        let started = tokio::time::Instant::now();
        let (chain, resolution) = resolve(&settings, context.env().clone()).await?;
        let target = SqlxTarget::new(settings.spec());
        let credential = resolution.credential.as_ref();
        let connected = target.connect(credential).await;
        if connected.is_err()
            && let Some(credential) = credential
            && let Some(lease) = &credential.lease
            && let Some(source) = chain.source(&credential.source)
            && let Err(error) = source.revoke(lease).await
        {
            // A credential the pool never used is given back at once: left to its TTL, each
            // failed open (and each retry) would leave one more live user at the server.
            tracing::warn!(%error, "could not revoke the lease of a credential that failed to connect");
        }
        let pool = connected.map_err(|mut error| {
            if error.kind == ConnectErrorKind::AuthenticationFailed && credential.is_none() {
                error.hint = Some(format!(
                    "no source supplied a password ({})",
                    resolution.summary()
                ));
            }
            DbError::Connect {
                target: name.clone(),
                error: Box::new(error),
            }
        })?;
        let provenance = credential.map(|c| Provenance {
            source: c.source.clone(),
            origin: c.origin.clone(),
            username: c
                .username
                .clone()
                .or_else(|| settings.identity().user)
                .unwrap_or_default(),
        });
        tracing::debug!(
            source = provenance.as_ref().map(|p| p.source.as_str()),
            "target opened"
        );
        let cache_path = context
            .cache_dir()
            .map(|dir| metadata::path_for(dir, &settings.cache_name()));
        let sink = Arc::new(PoolSink {
            target: target.clone(),
            pool: pool.clone(),
        });
        let leases = Leases::new(chain, settings.identity(), sink);
        let mut manager = None;
        if let Some(credential) = credential.filter(|c| c.lease.is_some()) {
            leases.adopt(credential, started).await;
            leases.record_rotation_cost(started.elapsed());
            manager = Some(tokio::spawn(leases.clone().run()));
        }
        Ok(Self {
            settings,
            target,
            pool,
            attempts: resolution.attempts,
            provenance,
            cache_path,
            metadata: tokio::sync::Mutex::new(None),
            leases,
            manager: std::sync::Mutex::new(manager),
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
                .origin("kind")
                .map_or_else(|| "default".into(), ToString::to_string),
        })
    }

    /// A pooled connection (dm-dbcore's `get_session()`).
    /// A connection refused for a bad password re-resolves credentials once before failing.
    pub async fn session<DB: Backend>(&self) -> Result<PoolConnection<DB>, DbError> {
        let pool = self.pool::<DB>()?;
        match pool.acquire().await {
            Err(error) if refused_password(&error) => {
                self.reresolve(&error).await;
                pool.acquire()
                    .await
                    .map_err(|cause| self.query_error(cause))
            }
            other => other.map_err(|cause| self.query_error(cause)),
        }
    }

    async fn reresolve(&self, error: &sqlx::Error) {
        tracing::warn!(%error, "the server refused the password; resolving credentials again");
        if let Err(reason) = self.leases.rotate().await {
            tracing::warn!(%reason, "resolving credentials again failed");
        }
    }

    /// How many times credentials were swapped into the pool.
    pub fn rotations(&self) -> u64 {
        self.leases.rotations()
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
        let transaction = match pool.begin().await {
            Err(error) if refused_password(&error) => {
                self.reresolve(&error).await;
                pool.begin().await
            }
            other => other,
        }
        .map_err(|cause| E::from(self.query_error(cause)))?;
        run_scope(self.name(), transaction, f).await
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

    /// The reflected schema (the original's `metadata`): from memory or the on-disk cache while
    /// the server's schema fingerprint matches, reflected again when it does not.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, DbError> {
        self.metadata_with_report(false).await.map(|(m, _)| m)
    }

    /// Reflects now, whatever the cache says, and rewrites the cache.
    pub async fn refresh_metadata(&self) -> Result<Arc<Metadata>, DbError> {
        self.metadata_with_report(true).await.map(|(m, _)| m)
    }

    /// `metadata()` plus what it did: cache path, status and how long each step took.
    #[instrument(skip_all, fields(target = %self.name(), refresh))]
    pub async fn metadata_with_report(
        &self,
        refresh: bool,
    ) -> Result<(Arc<Metadata>, MetadataReport), DbError> {
        let mut shared = self.metadata.lock().await;
        let schemas = self.settings.schemas();
        let mut steps = Vec::new();
        let started = Instant::now();
        // The cache file is read and decoded while the server computes the fingerprint; it is
        // trusted only if its header then matches.
        let prefetch = match (&self.cache_path, refresh || shared.is_some()) {
            (Some(path), false) => {
                let path = path.clone();
                Some(tokio::task::spawn_blocking(move || {
                    metadata::read_unchecked(&path)
                }))
            }
            _ => None,
        };
        let fingerprint = reflect::fingerprint(&self.pool, &schemas)
            .await
            .map_err(|cause| self.query_error(cause))?;
        steps.push(("fingerprint", started.elapsed()));
        let report = |status, steps| MetadataReport {
            path: self.cache_path.clone(),
            status,
            steps,
        };
        if !refresh
            && let Some((known, model)) = shared.as_ref()
            && *known == fingerprint
        {
            return Ok((model.clone(), report(CacheStatus::Memory, steps)));
        }
        let header = self.cache_header(&schemas, fingerprint.clone());
        let reason = if refresh {
            "refresh requested".to_owned()
        } else if let Some(path) = &self.cache_path {
            let started = Instant::now();
            let read = match prefetch {
                Some(task) => match task.await {
                    Ok(file) => metadata::check(file, &header),
                    Err(_) => metadata::read(path, &header),
                },
                None => metadata::read(path, &header),
            };
            steps.push(("read cache (after the fingerprint)", started.elapsed()));
            match read {
                Read::Current(model) => {
                    let model = Arc::new(model);
                    *shared = Some((fingerprint, model.clone()));
                    return Ok((model, report(CacheStatus::Used, steps)));
                }
                Read::Unusable { reason, warn } => {
                    if warn {
                        tracing::warn!(path = %path.display(), %reason, "metadata cache is unusable; rebuilding it");
                    }
                    reason
                }
            }
        } else {
            "no cache directory".to_owned()
        };
        let started = Instant::now();
        let model = reflect::reflect(&self.pool, &schemas)
            .await
            .map_err(|cause| self.query_error(cause))?;
        steps.push(("reflect", started.elapsed()));
        if let Some(path) = &self.cache_path {
            let started = Instant::now();
            if let Err(error) = metadata::write(path, &header, &model) {
                tracing::warn!(path = %path.display(), %error, "cannot write the metadata cache");
            }
            steps.push(("write cache", started.elapsed()));
        }
        let model = Arc::new(model);
        *shared = Some((fingerprint, model.clone()));
        Ok((model, report(CacheStatus::Rebuilt(reason), steps)))
    }

    fn cache_header(&self, schemas: &[String], fingerprint: String) -> CacheHeader {
        let identity = self.settings.identity();
        CacheHeader {
            kind: self.kind().as_str().to_owned(),
            host: identity.host,
            port: identity.port,
            database: match self.kind() {
                DbKind::Sqlite => self.settings.path().map(|p| p.display().to_string()),
                _ => identity.database,
            },
            schemas: schemas.to_vec(),
            fingerprint,
        }
    }

    /// Closes the pool (waiting for checked-out connections to come back), stops the lease
    /// manager and revokes the leases this process obtained.
    pub async fn close(&self) {
        if let Some(task) = self
            .manager
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
        self.pool.close().await;
        self.leases.revoke_all().await;
        drop(self.prefix.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    fn query_error(&self, cause: sqlx::Error) -> DbError {
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
        if let Some(task) = self
            .manager
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

/// Resolves the target's credential; kinds without credentials skip the chain.
pub(crate) async fn resolve(
    settings: &Settings,
    env: Arc<dyn Env>,
) -> Result<(CredentialChain, Resolution), DbError> {
    let chain = crate::chain::build(settings, env)?;
    let needs_credential = settings.kind().is_some_and(DbKind::uses_credentials);
    if !needs_credential {
        let nothing = Resolution {
            attempts: Vec::new(),
            credential: None,
            error: None,
        };
        return Ok((chain, nothing));
    }
    let mut resolution = chain.resolve(&settings.identity()).await;
    if let Some(cause) = resolution.error.take() {
        let source_name = resolution
            .attempts
            .last()
            .map_or_else(String::new, |a| a.source.clone());
        return Err(DbError::Credential {
            target: settings.name().to_owned(),
            source_name,
            tried: resolution.summary(),
            cause,
        });
    }
    Ok((chain, resolution))
}
