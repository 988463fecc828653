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
use project_core::{Context, registry};

use crate::html::Refusal;

type Cell = Arc<FirstUse<Arc<DatabaseConnection>, Refusal>>;

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
        let cell = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            open.entry(name.clone()).or_default().clone()
        };
        cell.get_or_try_init(|| async {
            self.attempts.fetch_add(1, Ordering::Relaxed);
            let db = registry::open(name.as_str(), &self.context)
                .await
                .map_err(|e| Refusal(StatusCode::BAD_GATEWAY, e.to_string()))?;
            self.opened.fetch_add(1, Ordering::Relaxed);
            Ok(Arc::new(db))
        })
        .await
        .cloned()
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
