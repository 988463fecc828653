//! A value made on first use, where callers that arrive while it is being made share the
//! outcome of that one attempt, failure included.
//!
//! Design decision: `tokio::sync::OnceCell::get_or_try_init` lets the next waiter try again
//! when an attempt fails, so N callers that arrive together at a target whose first open fails
//! run N opens one after another: the last waits N connection timeouts, and the credential
//! source (a Vault login, a dynamic user) and the server see N attempts. Here one attempt runs
//! at a time and everyone who was waiting for it gets its result; a caller that arrives after
//! a failure starts a new attempt, so a target that comes back is opened on the next use. An
//! attempt whose caller is cancelled (a dropped request) ends without a result and the next
//! waiter starts one.

use std::sync::{Mutex, OnceLock};

use tokio::sync::watch;

/// One attempt's outcome as its waiters see it: `None` until it ends.
type Outcome<E> = Option<Result<(), E>>;

/// A value made once, on first use; failures are shared with the callers waiting for them.
pub struct FirstUse<T, E> {
    value: OnceLock<T>,
    attempt: Mutex<Option<watch::Receiver<Outcome<E>>>>,
}

impl<T, E: Clone> Default for FirstUse<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E> std::fmt::Debug for FirstUse<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstUse")
            .field("made", &self.value.get().is_some())
            .finish_non_exhaustive()
    }
}

/// Ends an attempt: clears it, then (by dropping its sender) wakes waiters that did not get an
/// outcome, so that one of them starts the next attempt when this one was cancelled.
struct Attempt<'a, E> {
    slot: &'a Mutex<Option<watch::Receiver<Outcome<E>>>>,
    sender: watch::Sender<Outcome<E>>,
}

impl<E> Drop for Attempt<'_, E> {
    fn drop(&mut self) {
        // Only the one attempt under way fills the slot, so it is this attempt's.
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl<T, E: Clone> FirstUse<T, E> {
    pub const fn new() -> Self {
        Self {
            value: OnceLock::new(),
            attempt: Mutex::new(None),
        }
    }

    /// The value, if it was made.
    pub fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// The value, made by `make` unless it exists or an attempt under way ends with it.
    pub async fn get_or_try_init<F, Fut>(&self, make: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let attempt = loop {
            if let Some(value) = self.value.get() {
                return Ok(value);
            }
            let mut receiver = {
                let mut slot = self.attempt.lock().unwrap_or_else(|p| p.into_inner());
                match slot.as_ref() {
                    Some(receiver) => receiver.clone(),
                    None => {
                        let (sender, receiver) = watch::channel(None);
                        *slot = Some(receiver);
                        break Attempt {
                            slot: &self.attempt,
                            sender,
                        };
                    }
                }
            };
            // The attempt's outcome, or nothing when its caller was cancelled.
            let outcome = receiver
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|outcome| outcome.clone());
            if let Some(Err(error)) = outcome {
                return Err(error);
            }
        };
        match make().await {
            Ok(value) => {
                let value = self.value.get_or_init(move || value);
                attempt.sender.send_replace(Some(Ok(())));
                Ok(value)
            }
            Err(error) => {
                attempt.sender.send_replace(Some(Err(error.clone())));
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::Notify;

    /// Callers waiting on an attempt, counted as they arrive, then released together.
    struct Gate {
        arrived: AtomicUsize,
        attempts: AtomicUsize,
        open: Notify,
    }

    async fn use_cell(
        cell: Arc<FirstUse<u32, String>>,
        gate: Arc<Gate>,
        fail: bool,
    ) -> Result<u32, String> {
        gate.arrived.fetch_add(1, Ordering::SeqCst);
        cell.get_or_try_init(|| async {
            gate.attempts.fetch_add(1, Ordering::SeqCst);
            gate.open.notified().await;
            if fail {
                Err("refused".to_owned())
            } else {
                Ok(7)
            }
        })
        .await
        .copied()
    }

    async fn fifty_together(
        fail: bool,
    ) -> (Vec<Result<u32, String>>, usize, Arc<FirstUse<u32, String>>) {
        let cell = Arc::new(FirstUse::new());
        let gate = Arc::new(Gate {
            arrived: AtomicUsize::new(0),
            attempts: AtomicUsize::new(0),
            open: Notify::new(),
        });
        let tasks: Vec<_> = (0..50)
            .map(|_| tokio::spawn(use_cell(cell.clone(), gate.clone(), fail)))
            .collect();
        while gate.arrived.load(Ordering::SeqCst) < 50 || gate.attempts.load(Ordering::SeqCst) == 0
        {
            tokio::task::yield_now().await;
        }
        // Every caller has reached the cell; let the callers that are not the attempt settle
        // into waiting (a current-thread runtime runs each task until it waits).
        tokio::task::yield_now().await;
        gate.open.notify_waiters();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        (results, gate.attempts.load(Ordering::SeqCst), cell)
    }

    #[tokio::test]
    async fn callers_that_arrive_together_share_one_failed_attempt() {
        let (results, attempts, cell) = fifty_together(true).await;
        assert_eq!(attempts, 1);
        assert!(
            results.iter().all(|r| *r == Err("refused".to_owned())),
            "{results:?}"
        );
        assert!(cell.get().is_none());
        // The next caller tries again, and a success is kept.
        let made = cell.get_or_try_init(|| async { Ok(9) }).await.copied();
        assert_eq!(made, Ok(9));
        let kept = cell
            .get_or_try_init(|| async { Err("unused".to_owned()) })
            .await
            .copied();
        assert_eq!(kept, Ok(9));
    }

    #[tokio::test]
    async fn callers_that_arrive_together_share_one_value() {
        let (results, attempts, _) = fifty_together(false).await;
        assert_eq!(attempts, 1);
        assert!(results.iter().all(|r| *r == Ok(7)), "{results:?}");
    }

    #[tokio::test]
    async fn a_cancelled_attempt_hands_over_to_a_waiter() {
        let cell: Arc<FirstUse<u32, String>> = Arc::new(FirstUse::new());
        let first = {
            let cell = cell.clone();
            tokio::spawn(async move {
                cell.get_or_try_init(std::future::pending::<Result<u32, String>>)
                    .await
                    .copied()
            })
        };
        while cell.attempt.lock().unwrap().is_none() {
            tokio::task::yield_now().await;
        }
        let second = {
            let cell = cell.clone();
            tokio::spawn(async move { cell.get_or_try_init(|| async { Ok(3) }).await.copied() })
        };
        tokio::task::yield_now().await;
        first.abort();
        assert_eq!(second.await.unwrap(), Ok(3));
    }
}
