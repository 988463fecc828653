//! Transactions that are run again when that is safe, and never when it is not.
//!
//! Design decision: the unit of retry is the whole transaction, re-run from `BEGIN` by calling
//! the scope's closure again (an `AsyncFnMut`), never a single statement. It is re-run on a
//! conflict the server reported (serialization failure, deadlock, lock wait timeout) and on a
//! connection lost **before** COMMIT was sent, with bounded attempts and jittered backoff (as
//! CockroachDB's `crdb.ExecuteTx` and Spring's retry templates do). A failure while COMMIT was
//! in flight is [`DbError::CommitOutcomeUnknown`] and is never retried: the server may have
//! committed, and a second run could write twice. The closure must therefore be safe to run
//! more than once: its effects outside the transaction are the caller's to make idempotent.

use std::sync::Arc;
use std::time::Duration;

use adapters::database::{Transience, transience};

use crate::error::DbError;

/// How often and how patiently a retrying scope runs a transaction again.
#[derive(Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles per attempt up to `max_delay`, and
    /// each wait is drawn at random below it ("full jitter"), so that clients that failed
    /// together do not retry together.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// The transaction may be run again even when its COMMIT outcome is unknown: it only
    /// reads, or its writes are idempotent (an upsert of fixed values). Off by default: an
    /// unknown outcome is then the caller's to resolve.
    pub idempotent: bool,
    /// Told about each retry (for reports such as `ping --watch --retry`).
    pub observer: Option<Arc<dyn RetryObserver>>,
}

impl std::fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("first_delay", &self.first_delay)
            .field("max_delay", &self.max_delay)
            .field("idempotent", &self.idempotent)
            .finish_non_exhaustive()
    }
}

impl Default for RetryPolicy {
    /// Ten attempts, 50 ms doubling to 2 s: about ten seconds of waiting in all, enough to
    /// ride out a restart or a promoted standby, short enough that a real outage still shows.
    /// Each attempt can also take up to the target's `connect_timeout` (per host) to find a
    /// server, so against servers that do not answer at all the whole can take longer.
    fn default() -> Self {
        Self {
            max_attempts: 10,
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            idempotent: false,
            observer: None,
        }
    }
}

impl RetryPolicy {
    /// The most the wait before attempt `next` (2, 3, …) may be.
    pub fn delay_cap(&self, next: u32) -> Duration {
        let doublings = next.saturating_sub(2).min(30);
        self.first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    /// A wait drawn uniformly from zero to the cap.
    fn delay(&self, next: u32) -> Duration {
        let cap = self.delay_cap(next);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::random_range(0..=nanos))
    }
}

/// Sees each retry: which attempt failed and why (the error's text has no secret).
pub trait RetryObserver: Send + Sync {
    fn retrying(&self, failed_attempt: u32, why: Transience, error: &str);
}

/// Whether an error means the transaction may be run again. Implemented for [`DbError`];
/// an app's own error type implements it by asking the `DbError` (or sqlx error) inside.
pub trait Retryable {
    fn transience(&self) -> Transience;

    /// Whether this is an unknown COMMIT outcome (retried only for an idempotent policy).
    fn commit_outcome_unknown(&self) -> bool {
        false
    }
}

impl Retryable for DbError {
    fn transience(&self) -> Transience {
        match self {
            DbError::Query { cause, .. } => transience(cause),
            // The pool could not connect: nothing was sent.
            DbError::Connect { error, .. } => match error.kind {
                domain::ConnectErrorKind::ConnectionRefused
                | domain::ConnectErrorKind::Timeout
                | domain::ConnectErrorKind::Unreachable
                | domain::ConnectErrorKind::NoSuitableHost => Transience::ConnectionLost,
                _ => Transience::Permanent,
            },
            DbError::Shared(shared) => shared.transience(),
            // Above all CommitOutcomeUnknown: never run again (unless the policy says the
            // transaction is idempotent).
            _ => Transience::Permanent,
        }
    }

    fn commit_outcome_unknown(&self) -> bool {
        match self {
            DbError::CommitOutcomeUnknown { .. } => true,
            DbError::Shared(shared) => shared.commit_outcome_unknown(),
            _ => false,
        }
    }
}

/// The future a retrying scope's closure returns for one attempt: boxed and `Send`, as sqlx's
/// own `transaction(|tx| Box::pin(async move { … }))`. An `AsyncFnMut` closure would read
/// better, but rustc cannot yet prove the future of one called through `&mut` to be `Send`
/// ("implementation of `Send` is not general enough"), so a task that used it could not be
/// spawned; the box settles `Send` where the closure is written.
pub type ScopeAttempt<'t, T, E> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, E>> + Send + 't>>;

/// After attempt `number` failed with `error`: the wait before the next one, or `None` when
/// the error is final (permanent, an unknown commit outcome, or the last attempt).
pub(crate) fn after_failure<E>(policy: &RetryPolicy, number: u32, error: &E) -> Option<Duration>
where
    E: Retryable + std::fmt::Display,
{
    let why = match error.transience() {
        // Nothing is lost by running an idempotent transaction again.
        Transience::Permanent if policy.idempotent && error.commit_outcome_unknown() => {
            Transience::ConnectionLost
        }
        why => why,
    };
    if why == Transience::Permanent || number >= policy.max_attempts.max(1) {
        return None;
    }
    let text = error.to_string();
    tracing::info!(attempt = number, ?why, error = %text, "retrying the transaction");
    if let Some(observer) = &policy.observer {
        observer.retrying(number, why, &text);
    }
    Some(policy.delay(number + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn lost() -> DbError {
        DbError::Query {
            target: "t".into(),
            cause: sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            )),
        }
    }

    /// The retry loop as the scope runs it, over a plain closure.
    async fn with_retries<T>(
        policy: &RetryPolicy,
        mut attempt: impl FnMut() -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut number = 1;
        loop {
            match attempt() {
                Ok(value) => return Ok(value),
                Err(error) => match after_failure(policy, number, &error) {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => return Err(error),
                },
            }
            number += 1;
        }
    }

    fn quick(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            idempotent: false,
            observer: None,
        }
    }

    #[tokio::test]
    async fn a_lost_connection_is_retried_until_it_works_within_the_attempts() {
        let mut calls = 0;
        let outcome: Result<u32, DbError> = with_retries(&quick(5), || {
            calls += 1;
            if calls < 3 { Err(lost()) } else { Ok(calls) }
        })
        .await;
        assert_eq!(outcome.unwrap(), 3);
        let mut calls = 0;
        let outcome: Result<(), DbError> = with_retries(&quick(4), || {
            calls += 1;
            Err(lost())
        })
        .await;
        assert!(outcome.is_err());
        assert_eq!(calls, 4, "bounded");
    }

    #[tokio::test]
    async fn an_unknown_commit_outcome_and_a_permanent_error_are_never_retried() {
        for error in [
            || DbError::CommitOutcomeUnknown {
                target: "t".into(),
                cause: sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "eof",
                )),
            },
            || DbError::Query {
                target: "t".into(),
                cause: sqlx::Error::RowNotFound,
            },
        ] {
            let mut calls = 0;
            let outcome: Result<(), DbError> = with_retries(&quick(5), || {
                calls += 1;
                Err(error())
            })
            .await;
            assert!(outcome.is_err());
            assert_eq!(calls, 1);
        }
    }

    #[tokio::test]
    async fn an_idempotent_transaction_is_run_again_after_an_unknown_commit() {
        let unknown = || DbError::CommitOutcomeUnknown {
            target: "t".into(),
            cause: sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "eof",
            )),
        };
        let mut calls = 0;
        let policy = RetryPolicy {
            idempotent: true,
            ..quick(5)
        };
        let outcome: Result<u32, DbError> = with_retries(&policy, || {
            calls += 1;
            if calls < 2 { Err(unknown()) } else { Ok(calls) }
        })
        .await;
        assert_eq!(outcome.unwrap(), 2);
        // A permanent error stays permanent, idempotent or not.
        let mut calls = 0;
        let _: Result<(), DbError> = with_retries(&policy, || {
            calls += 1;
            Err(DbError::Query {
                target: "t".into(),
                cause: sqlx::Error::RowNotFound,
            })
        })
        .await;
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn the_observer_hears_each_retry_and_zero_attempts_means_one() {
        struct Heard(Mutex<Vec<u32>>);
        impl RetryObserver for Heard {
            fn retrying(&self, failed_attempt: u32, why: Transience, _: &str) {
                assert_eq!(why, Transience::ConnectionLost);
                self.0.lock().unwrap().push(failed_attempt);
            }
        }
        let heard = Arc::new(Heard(Mutex::new(Vec::new())));
        let policy = RetryPolicy {
            observer: Some(heard.clone()),
            ..quick(3)
        };
        let _: Result<(), DbError> = with_retries(&policy, || Err(lost())).await;
        assert_eq!(*heard.0.lock().unwrap(), [1, 2]);
        let mut calls = 0;
        let _: Result<(), DbError> = with_retries(&quick(0), || {
            calls += 1;
            Err(lost())
        })
        .await;
        assert_eq!(calls, 1);
    }

    #[test]
    fn the_backoff_doubles_to_its_cap_and_never_overflows() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay_cap(2), Duration::from_millis(50));
        assert_eq!(policy.delay_cap(3), Duration::from_millis(100));
        assert_eq!(policy.delay_cap(7), Duration::from_millis(1600));
        assert_eq!(policy.delay_cap(8), Duration::from_secs(2));
        assert_eq!(policy.delay_cap(u32::MAX), Duration::from_secs(2));
        let huge = RetryPolicy {
            first_delay: Duration::MAX,
            max_delay: Duration::MAX,
            ..RetryPolicy::default()
        };
        assert_eq!(huge.delay_cap(40), Duration::MAX);
        for next in 2..12 {
            assert!(policy.delay(next) <= policy.delay_cap(next));
        }
    }
}
