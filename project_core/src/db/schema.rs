//! The reflected schema of an open target (the original's `metadata`): from memory or the
//! on-disk cache while the server's schema fingerprint matches, reflected again when it does
//! not. The fingerprint and the reflection go through the `ConnectionTarget` port.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{ConnectionTarget, DbKind, Metadata};
use tokio::task::JoinHandle;
use tracing::instrument;

use crate::db::DatabaseConnection;
use crate::error::DbError;
use crate::metadata::{self, CacheHeader, CacheStatus, MetadataReport, Read};

/// The schema this process last saw: the model, and what proves it current.
#[derive(Debug)]
pub(crate) struct Known {
    /// The fingerprint it had (`None` when it was trusted by its commit horizon alone).
    pub fingerprint: Option<String>,
    pub model: Arc<Metadata>,
    /// The server's commit horizon taken before it was proven.
    pub horizon: Option<String>,
}

/// The steps a load took, by name, for the report.
type Steps = Vec<(&'static str, Duration)>;

impl DatabaseConnection {
    /// The reflected schema: from memory, the cache, or the server.
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
        let mut file = match (&self.cache_path, refresh || shared.is_some()) {
            (Some(path), false) => Some(CacheFile::Reading(prefetch(path.clone()))),
            _ => None,
        };
        // Taken before the fingerprint: a cache written with it is trusted while the server
        // still reports it (nothing has committed since), without computing the fingerprint.
        let horizon = self.target.commit_horizon(&self.pool).await;
        if horizon.is_some() {
            steps.push(("commit_horizon", started.elapsed()));
        }
        if !refresh && let Some(horizon) = &horizon {
            if let Some(known) = shared.as_ref()
                && known.horizon.as_ref() == Some(horizon)
            {
                return Ok((known.model.clone(), self.report(CacheStatus::Memory, steps)));
            }
            if let Some(pending) = file.take()
                && let Some(loaded) = pending.loaded().await
            {
                let expected = self.cache_header(&schemas, String::new(), None);
                if !loaded.unchanged_since(&expected, horizon) {
                    // Kept for the fingerprint check below.
                    file = Some(CacheFile::Read(loaded));
                } else if let Some(model) = loaded.into_model() {
                    steps.push(("read_cache", started.elapsed()));
                    let model = Arc::new(model);
                    *shared = Some(Known {
                        fingerprint: None,
                        model: model.clone(),
                        horizon: Some(horizon.clone()),
                    });
                    return Ok((model, self.report(CacheStatus::Used, steps)));
                }
            }
        }
        let fingerprint = self
            .target
            .fingerprint(&self.pool, &schemas)
            .await
            .map_err(|cause| self.query_error(cause))?;
        steps.push(("fingerprint", started.elapsed()));
        if !refresh
            && let Some(known) = shared.as_mut()
            && known.fingerprint.as_ref() == Some(&fingerprint)
        {
            known.horizon = horizon;
            return Ok((known.model.clone(), self.report(CacheStatus::Memory, steps)));
        }
        let header = self.cache_header(&schemas, fingerprint.clone(), horizon.clone());
        let reason = match (&self.cache_path, refresh) {
            (_, true) => "refresh requested".to_owned(),
            (None, false) => "no cache directory".to_owned(),
            (Some(path), false) => match read_cache(path, &header, file, &mut steps).await {
                Ok(model) => {
                    if horizon.is_some() {
                        // The file was proven by its fingerprint, so its horizon is an old
                        // one: record this one, taken before that fingerprint, so that the
                        // next process skips the fingerprint while nothing commits. Beside
                        // the caller, which need not wait for it.
                        let (path, header, model) = (path.clone(), header.clone(), model.clone());
                        tokio::task::spawn_blocking(move || {
                            if let Err(error) = metadata::write(&path, &header, &model) {
                                tracing::debug!(%error, "cannot record the commit horizon in the metadata cache");
                            }
                        });
                    }
                    *shared = Some(Known {
                        fingerprint: Some(fingerprint),
                        model: model.clone(),
                        horizon,
                    });
                    return Ok((model, self.report(CacheStatus::Used, steps)));
                }
                Err(reason) => reason,
            },
        };
        let model = self
            .reflect_and_cache(&schemas, &header, &mut steps)
            .await?;
        *shared = Some(Known {
            fingerprint: Some(fingerprint),
            model: model.clone(),
            horizon,
        });
        Ok((model, self.report(CacheStatus::Rebuilt(reason), steps)))
    }

    /// Reflects the schemas from the server and writes the cache (a failed write is logged:
    /// the model is still good).
    async fn reflect_and_cache(
        &self,
        schemas: &[String],
        header: &CacheHeader,
        steps: &mut Steps,
    ) -> Result<Arc<Metadata>, DbError> {
        let started = Instant::now();
        let model = self
            .target
            .reflect(&self.pool, schemas)
            .await
            .map_err(|cause| self.query_error(cause))?;
        steps.push(("reflect", started.elapsed()));
        if let Some(path) = &self.cache_path {
            let started = Instant::now();
            if let Err(error) = metadata::write(path, header, &model) {
                tracing::warn!(path = %path.display(), %error, "cannot write the metadata cache");
            }
            steps.push(("write_cache", started.elapsed()));
        }
        Ok(Arc::new(model))
    }

    fn report(&self, status: CacheStatus, steps: Steps) -> MetadataReport {
        MetadataReport {
            path: self.cache_path.clone(),
            status,
            steps,
        }
    }

    fn cache_header(
        &self,
        schemas: &[String],
        fingerprint: String,
        commit_horizon: Option<String>,
    ) -> CacheHeader {
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
            commit_horizon,
        }
    }
}

/// The cache file: still being read beside the server's queries, or read.
enum CacheFile {
    Reading(JoinHandle<metadata::Loaded>),
    Read(metadata::Loaded),
}

impl CacheFile {
    /// The file as read (`None` when the reading task failed: the caller reads it again).
    async fn loaded(self) -> Option<metadata::Loaded> {
        match self {
            CacheFile::Reading(task) => task.await.ok(),
            CacheFile::Read(loaded) => Some(loaded),
        }
    }
}

/// Reads and decodes the cache file beside the fingerprint query.
fn prefetch(path: PathBuf) -> JoinHandle<metadata::Loaded> {
    tokio::task::spawn_blocking(move || metadata::read_unchecked(&path))
}

/// The cached model when its header matches; else why it cannot be used.
async fn read_cache(
    path: &Path,
    header: &CacheHeader,
    file: Option<CacheFile>,
    steps: &mut Steps,
) -> Result<Arc<Metadata>, String> {
    let started = Instant::now();
    let loaded = match file {
        Some(file) => file.loaded().await,
        None => None,
    };
    let read = match loaded {
        Some(loaded) => metadata::check(loaded, header),
        None => metadata::read(path, header),
    };
    steps.push(("read_cache", started.elapsed()));
    match read {
        Read::Current(model) => Ok(Arc::new(model)),
        Read::Unusable { reason, warn } => {
            if warn {
                tracing::warn!(path = %path.display(), %reason, "metadata cache is unusable; rebuilding it");
            }
            Err(reason)
        }
    }
}
