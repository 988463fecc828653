//! Which targets a URL may open: only configured ones, each once.
//!
//! Design decision: a target name from a URL is first a `TargetName` (so it is never a path),
//! then it must be one of `registry::names` (a compiled module or a file in `targets/`): a
//! name the configuration does not list is never opened, even when the environment would
//! describe it. Pools are keyed by the validated name, and a name has one cell that the first
//! request fills while later ones wait on it, so no spelling and no race opens a second pool;
//! requests that wait on an open that fails share its failure instead of each trying again
//! in turn (`FirstUse`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use domain::TargetName;
use project_core::db::{DatabaseConnection, FirstUse};
use project_core::settings::Settings;
use project_core::{Context, DbError, registry};

use crate::html::Refusal;

type Cell = Arc<FirstUse<Arc<DatabaseConnection>, OpenFailure>>;

/// Why a target could not be opened: a stable kind (a connection error's class, or what
/// failed before connecting) and the error on one line, as pages show it. No secret: the
/// library's errors name sources, files and addresses, never a password.
#[derive(Debug, Clone)]
pub(crate) struct OpenFailure {
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}

impl OpenFailure {
    fn of(error: &DbError) -> Self {
        Self {
            kind: failure_kind(error),
            message: domain::redact::redact(&project_core::one_line(error)),
        }
    }
}

impl From<OpenFailure> for Refusal {
    fn from(failure: OpenFailure) -> Self {
        Refusal(
            StatusCode::BAD_GATEWAY,
            format!("{}: {}", failure.kind, failure.message),
        )
    }
}

/// The class of an open's failure: a connection error's kind (`connection_refused`, …), or
/// the step that failed before any connection.
fn failure_kind(error: &DbError) -> &'static str {
    if let Some(connect) = error.connect_error() {
        return connect.kind.as_str();
    }
    match error {
        DbError::Settings(_) | DbError::InvalidSource(_) => "settings",
        DbError::Credential { .. } => "credential",
        DbError::SharedPrefix { .. } | DbError::KindMismatch { .. } => "configuration",
        DbError::Query { .. } => "query",
        DbError::Shared(shared) => failure_kind(shared),
        _ => "other",
    }
}

/// What the target list shows of one target's open.
#[derive(Debug)]
pub(crate) enum Opening {
    Open(Arc<DatabaseConnection>),
    Failed(OpenFailure),
    /// Still under way after the page's wait; it goes on, and a later page shows its outcome.
    Pending,
}

/// The targets a viewer may open and the pools it has opened.
pub(crate) struct Targets {
    context: Context,
    open: Mutex<HashMap<TargetName, Cell>>,
    /// Pools opened so far (for tests: at most one per configured name).
    opened: AtomicUsize,
    /// Opens tried so far, failed ones included.
    attempts: AtomicUsize,
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Targets")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl Targets {
    pub(crate) fn new(context: Context) -> Self {
        Self {
            context,
            open: Mutex::new(HashMap::new()),
            opened: AtomicUsize::new(0),
            attempts: AtomicUsize::new(0),
        }
    }

    /// Every configured name, for the list at `/`.
    pub(crate) fn names(&self) -> Vec<String> {
        registry::names(&self.context)
    }

    /// The configured target `raw` names: 400 when it is not a name, 404 when no target by
    /// that name is configured.
    pub(crate) fn configured(&self, raw: &str) -> Result<TargetName, Refusal> {
        let name = TargetName::parse(raw)
            .map_err(|e| Refusal(StatusCode::BAD_REQUEST, format!("no such target: {e}")))?;
        if !self.names().iter().any(|n| n == name.as_str()) {
            return Err(Refusal(
                StatusCode::NOT_FOUND,
                format!("no target named {name} is configured (the list is at /)"),
            ));
        }
        Ok(name)
    }

    /// The pool of a configured target, opened on first use.
    pub(crate) async fn db(&self, name: &TargetName) -> Result<Arc<DatabaseConnection>, Refusal> {
        self.open(name).await.map_err(Refusal::from)
    }

    /// A configured target's layered settings (no open): what the target list shows of a
    /// target that cannot be opened.
    pub(crate) fn settings(&self, name: &str) -> Result<Settings, OpenFailure> {
        registry::settings(name, &self.context).map_err(|e| OpenFailure::of(&e))
    }

    async fn open(&self, name: &TargetName) -> Result<Arc<DatabaseConnection>, OpenFailure> {
        let cell = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            open.entry(name.clone()).or_default().clone()
        };
        cell.get_or_try_init(|| async {
            self.attempts.fetch_add(1, Ordering::Relaxed);
            let db = registry::open(name.as_str(), &self.context)
                .await
                .map_err(|e| OpenFailure::of(&e))?;
            self.opened.fetch_add(1, Ordering::Relaxed);
            Ok(Arc::new(db))
        })
        .await
        .cloned()
    }

    /// Opens every configured target at once, each in its own task, and waits for them until
    /// `deadline`: an open still under way then goes on (a dropped wait would cancel it, and
    /// the next page would start again), so a slow server holds up the list once, by at most
    /// the deadline, and never stops the other rows.
    pub(crate) async fn open_all(
        this: &Arc<Self>,
        names: &[String],
        deadline: tokio::time::Instant,
    ) -> Vec<Opening> {
        let tasks: Vec<_> = names
            .iter()
            .map(|raw| {
                let this = this.clone();
                let raw = raw.clone();
                tokio::spawn(async move {
                    let name = TargetName::parse(&raw).map_err(|e| OpenFailure {
                        kind: "settings",
                        message: format!("not a target name: {e}"),
                    })?;
                    this.open(&name).await
                })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            out.push(match tokio::time::timeout_at(deadline, task).await {
                Ok(Ok(Ok(db))) => Opening::Open(db),
                Ok(Ok(Err(failure))) => Opening::Failed(failure),
                Ok(Err(_)) => Opening::Failed(OpenFailure {
                    kind: "other",
                    message: "the open stopped unexpectedly".into(),
                }),
                Err(_) => Opening::Pending,
            });
        }
        out
    }

    #[cfg(test)]
    pub(crate) fn opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn attempts(&self) -> usize {
        self.attempts.load(Ordering::Relaxed)
    }
}
