//! Transactions as scopes: commit on `Ok`, roll back on `Err` and on panic; nested scopes are
//! savepoints on one lifetime-free transaction handle.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use sqlx::{Pool, Transaction};
use sqlx_core::transaction::TransactionManager;

use crate::error::DbError;

/// The transaction a `session_scope` closure gets. It derefs to the driver's connection, so
/// queries run on `&mut **tx`; `tx.scope(…)` opens a nested scope (a savepoint).
///
/// Why not sqlx's `Transaction<'static, DB>` directly: a closure over a type with its own
/// lifetime parameter makes rustc reject `tokio::spawn` of the calling future ("implementation
/// of `AsyncFnOnce` is not general enough"), and apps (web handlers above all) run scopes in
/// spawned tasks. A lifetime-free handle avoids that.
pub struct Tx<DB: sqlx::Database> {
    transaction: Transaction<'static, DB>,
    target: Arc<str>,
}

impl<DB: sqlx::Database> std::fmt::Debug for Tx<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl<DB: sqlx::Database> std::ops::Deref for Tx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.transaction
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for Tx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.transaction
    }
}

impl<DB: sqlx::Database> Tx<DB> {
    /// The name of the target this transaction runs on, for errors.
    pub fn target_name(&self) -> &str {
        &self.target
    }

    /// A failed statement inside this transaction, named after its target (apps map their
    /// sqlx errors through this instead of building a `DbError::Query` without a name).
    pub fn query_error(&self, cause: sqlx::Error) -> DbError {
        DbError::Query {
            target: self.target.to_string(),
            cause,
        }
    }

    /// A nested scope: a savepoint, released on `Ok`, rolled back to on `Err` and on panic;
    /// the outer transaction goes on either way.
    pub async fn scope<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        E: From<DbError>,
        F: for<'t> AsyncFnOnce(&'t mut Tx<DB>) -> Result<T, E>,
    {
        type Manager<DB> = <DB as sqlx::Database>::TransactionManager;
        Manager::<DB>::begin(&mut self.transaction, None)
            .await
            .map_err(|e| E::from(self.query_error(e)))?;
        let outcome = AssertUnwindSafe(f(self)).catch_unwind().await;
        match outcome {
            Ok(Ok(value)) => {
                Manager::<DB>::commit(&mut self.transaction)
                    .await
                    .map_err(|e| E::from(self.query_error(e)))?;
                Ok(value)
            }
            Ok(Err(error)) => {
                if let Err(rollback) = Manager::<DB>::rollback(&mut self.transaction).await {
                    tracing::warn!(error = %rollback, "rollback to savepoint failed");
                }
                Err(error)
            }
            Err(panic) => {
                if let Err(rollback) = Manager::<DB>::rollback(&mut self.transaction).await {
                    tracing::warn!(error = %rollback, "rollback to savepoint after a panic failed");
                }
                std::panic::resume_unwind(panic)
            }
        }
    }
}

/// A top-level scope on `pool`: commit on `Ok`; roll back on `Err` and on panic, then let the
/// panic continue.
pub async fn scope<DB, T, E, F>(target: &str, pool: &Pool<DB>, f: F) -> Result<T, E>
where
    DB: sqlx::Database,
    E: From<DbError>,
    F: for<'t> AsyncFnOnce(&'t mut Tx<DB>) -> Result<T, E>,
{
    let transaction = pool.begin().await.map_err(|cause| {
        E::from(DbError::Query {
            target: target.to_owned(),
            cause,
        })
    })?;
    run_scope(target, transaction, f).await
}

pub(crate) async fn run_scope<DB, T, E, F>(
    target: &str,
    transaction: Transaction<'static, DB>,
    f: F,
) -> Result<T, E>
where
    DB: sqlx::Database,
    E: From<DbError>,
    F: for<'t> AsyncFnOnce(&'t mut Tx<DB>) -> Result<T, E>,
{
    let target: Arc<str> = Arc::from(target);
    let mut tx = Tx {
        transaction,
        target,
    };
    let outcome = AssertUnwindSafe(f(&mut tx)).catch_unwind().await;
    finish(tx, outcome).await
}

/// One attempt of a retrying scope: [`run_scope`] with a closure that can be called again.
pub(crate) async fn run_scope_with<DB, T, E, F>(
    target: &str,
    transaction: Transaction<'static, DB>,
    f: &mut F,
) -> Result<T, E>
where
    DB: sqlx::Database,
    E: From<DbError>,
    F: for<'t> FnMut(&'t mut Tx<DB>) -> crate::db::retry::ScopeAttempt<'t, T, E>,
{
    let target: Arc<str> = Arc::from(target);
    let mut tx = Tx {
        transaction,
        target,
    };
    // The call inside the caught future too: a closure that panics before it returns its
    // boxed attempt is rolled back like one that panics inside it.
    let outcome = AssertUnwindSafe(async { f(&mut tx).await })
        .catch_unwind()
        .await;
    finish(tx, outcome).await
}

/// Commits on `Ok`, rolls back on `Err` and on a panic (which then goes on).
async fn finish<DB, T, E>(
    tx: Tx<DB>,
    outcome: Result<Result<T, E>, Box<dyn std::any::Any + Send>>,
) -> Result<T, E>
where
    DB: sqlx::Database,
    E: From<DbError>,
{
    match outcome {
        Ok(Ok(value)) => {
            let Tx {
                transaction,
                target,
            } = tx;
            transaction
                .commit()
                .await
                .map_err(|cause| E::from(commit_failed(&target, cause)))?;
            Ok(value)
        }
        Ok(Err(error)) => {
            if let Err(rollback) = tx.transaction.rollback().await {
                tracing::warn!(error = %rollback, "rollback after an error failed");
            }
            Err(error)
        }
        Err(panic) => {
            if let Err(rollback) = tx.transaction.rollback().await {
                tracing::warn!(error = %rollback, "rollback after a panic failed");
            }
            std::panic::resume_unwind(panic)
        }
    }
}

/// A failed COMMIT: when the server refused it (a serialization failure found at commit, a
/// deferred constraint), the transaction is known not to have committed; when the connection
/// failed under it or the server was going away, nobody knows, and that is a distinct error
/// that is never retried.
fn commit_failed(target: &str, cause: sqlx::Error) -> DbError {
    let target = target.to_owned();
    // The server answered, but with an error that says the connection is going away (a
    // shutdown, a terminated backend, a server that stops accepting: SQLSTATE class 08, 57P0x,
    // MySQL 1053): whether the commit happened first is not known, so it is not "refused".
    let going_away =
        adapters::database::transience(&cause) == adapters::database::Transience::ConnectionLost;
    if adapters::database::server_answered(&cause) && !going_away {
        DbError::Query { target, cause }
    } else {
        DbError::CommitOutcomeUnknown { target, cause }
    }
}
