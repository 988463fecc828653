//! Leased credentials under a live pool: renew at two thirds of the lease, rotate when a lease
//! cannot be renewed, and swap the new credential into the pool before the old one expires.
//!
//! Design decision: the timing is a pure function ([`plan`]) of the lease and the clock, and
//! the loop around it talks to the world through two seams — the credential source (renew,
//! resolve again) and a [`Sink`] that installs a credential into the pool — so that unit tests
//! drive it with a mock source, a recording sink and tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use domain::{Credential, CredentialChain, CredentialSource, Lease, TargetIdentity};
use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;

/// Where a new credential goes: the pool (in production) or a recorder (in tests).
#[async_trait]
pub trait Sink: Send + Sync {
    /// Proves and installs the credential; `Err` is a reason to log.
    async fn install(&self, credential: &Credential) -> Result<(), String>;
}

/// The lease in force.
#[derive(Clone)]
pub struct Held {
    pub source: Arc<dyn CredentialSource>,
    pub lease: Lease,
    /// When the current duration started (obtained or last renewed).
    pub since: Instant,
    pub duration: Duration,
    pub renewable: bool,
    pub username: Option<String>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("source", &self.source.name())
            .field("lease", &self.lease)
            .field("duration", &self.duration)
            .field("renewable", &self.renewable)
            .finish_non_exhaustive()
    }
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing until this instant.
    WaitUntil(Instant),
    Renew,
    Rotate,
}

/// Renew a renewable lease when two thirds of it have passed; rotate a lease that cannot be
/// renewed at the same point, so the new credential is in place well before the old expires.
pub fn plan(since: Instant, duration: Duration, renewable: bool, now: Instant) -> Step {
    let due = since + duration * 2 / 3;
    if now < due {
        Step::WaitUntil(due)
    } else if renewable {
        Step::Renew
    } else {
        Step::Rotate
    }
}

/// The state operators see (`admin explain`, `admin ping --watch`). No secret in it.
#[derive(Debug, Clone, Default)]
pub struct LeaseStatus {
    pub source: String,
    pub username: Option<String>,
    pub expires_in: Option<Duration>,
    pub renewable: bool,
    pub renewals: u64,
    pub rotations: u64,
}

/// Shared between the manager task, the connection (re-resolve on a refused password) and
/// `close()` (revoke).
pub struct Leases {
    chain: CredentialChain,
    identity: TargetIdentity,
    sink: Arc<dyn Sink>,
    held: Mutex<Option<Held>>,
    /// Every lease this process obtained, for revocation on close.
    obtained: Mutex<Vec<(Arc<dyn CredentialSource>, Lease)>>,
    changed: Notify,
    renewals: AtomicU64,
    rotations: AtomicU64,
    rotation_lock: Mutex<()>,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("target", &self.identity.name)
            .field("rotations", &self.rotations())
            .finish_non_exhaustive()
    }
}

impl Leases {
    pub fn new(chain: CredentialChain, identity: TargetIdentity, sink: Arc<dyn Sink>) -> Arc<Self> {
        Arc::new(Self {
            chain,
            identity,
            sink,
            held: Mutex::new(None),
            obtained: Mutex::new(Vec::new()),
            changed: Notify::new(),
            renewals: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            rotation_lock: Mutex::new(()),
        })
    }

    /// Takes the credential the connection opened with (if it is leased).
    pub async fn adopt(&self, credential: &Credential) {
        let Some(lease) = credential.lease.clone() else {
            return;
        };
        let Some(source) = self.chain.source(&credential.source) else {
            return;
        };
        self.obtained
            .lock()
            .await
            .push((source.clone(), lease.clone()));
        *self.held.lock().await = Some(Held {
            source,
            duration: lease.duration,
            renewable: lease.renewable,
            lease,
            since: Instant::now(),
            username: credential.username.clone(),
        });
        self.changed.notify_one();
    }

    pub async fn status(&self) -> Option<LeaseStatus> {
        let held = self.held.lock().await;
        let held = held.as_ref()?;
        let end = held.since + held.duration;
        Some(LeaseStatus {
            source: held.source.name().to_owned(),
            username: held.username.clone(),
            expires_in: Some(end.saturating_duration_since(Instant::now())),
            renewable: held.renewable,
            renewals: self.renewals.load(Ordering::SeqCst),
            rotations: self.rotations.load(Ordering::SeqCst),
        })
    }

    pub fn rotations(&self) -> u64 {
        self.rotations.load(Ordering::SeqCst)
    }

    /// Resolves a new credential through the chain and installs it. One at a time: callers
    /// that arrive while a rotation runs wait for it and then return, sharing its result.
    pub async fn rotate(&self) -> Result<(), String> {
        let seen = self.rotations();
        let _one = self.rotation_lock.lock().await;
        if self.rotations() != seen {
            return Ok(()); // someone rotated while we waited
        }
        let resolution = self.chain.resolve(&self.identity).await;
        if let Some(error) = resolution.error {
            return Err(error.to_string());
        }
        let summary = resolution.summary();
        let credential = resolution
            .credential
            .ok_or_else(|| format!("no source has a credential now ({summary})"))?;
        self.sink.install(&credential).await?;
        self.rotations.fetch_add(1, Ordering::SeqCst);
        tracing::info!(source = %credential.source, "new credentials are in the pool");
        if credential.lease.is_some() {
            self.adopt(&credential).await;
        }
        Ok(())
    }

    /// The manager loop: runs until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        loop {
            let snapshot = self.held.lock().await.clone();
            let Some(held) = snapshot else {
                self.changed.notified().await;
                continue;
            };
            match plan(held.since, held.duration, held.renewable, Instant::now()) {
                Step::WaitUntil(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.changed.notified() => {}
                    }
                }
                Step::Renew => self.renew(held).await,
                Step::Rotate => self.rotate_before_expiry(held).await,
            }
        }
    }

    async fn renew(&self, held: Held) {
        match held.source.renew(&held.lease).await {
            Ok(renewal) => {
                // Vault caps a renewal at max_ttl: a shorter lease than asked for will not
                // grow again, so it is rotated at two thirds of what is left.
                let capped = renewal.duration < held.lease.duration.mul_f64(0.9);
                let mut current = self.held.lock().await;
                if let Some(h) = current
                    .as_mut()
                    .filter(|h| h.lease.id.expose() == held.lease.id.expose())
                {
                    h.since = Instant::now();
                    h.duration = renewal.duration;
                    h.renewable = renewal.renewable && !capped && !renewal.duration.is_zero();
                }
                self.renewals.fetch_add(1, Ordering::SeqCst);
                tracing::debug!(
                    seconds = renewal.duration.as_secs(),
                    capped,
                    "lease renewed"
                );
            }
            Err(error) => {
                tracing::warn!(%error, "lease renewal failed; fetching new credentials");
                let mut current = self.held.lock().await;
                if let Some(h) = current.as_mut() {
                    h.renewable = false;
                }
            }
        }
    }

    async fn rotate_before_expiry(&self, held: Held) {
        let end = held.since + held.duration;
        match self.rotate().await {
            Ok(()) => {}
            Err(error) => {
                let left = end.saturating_duration_since(Instant::now());
                tracing::warn!(%error, seconds_left = left.as_secs(), "cannot rotate credentials yet; existing connections go on until the lease ends");
                let wait = (left / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Revokes every lease this process obtained (on close).
    pub async fn revoke_all(&self) {
        let leases = std::mem::take(&mut *self.obtained.lock().await);
        for (source, lease) in leases {
            if let Err(error) = source.revoke(&lease).await {
                tracing::warn!(%error, "could not revoke a lease on close");
            }
        }
    }
}

/// Lease ids are compared without exposing them anywhere else.
trait Expose {
    fn expose(&self) -> &str;
}

impl Expose for domain::SecretString {
    fn expose(&self) -> &str {
        use domain::ExposeSecret;
        self.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::credentials::MockSource;
    use adapters::credentials::mock::MockAnswer;
    use domain::{DbKind, Lookup, Renewal, SecretString, SourceError};
    use std::sync::Mutex as StdMutex;

    #[test]
    fn renew_or_rotate_at_two_thirds() {
        let t0 = Instant::now();
        let d = Duration::from_secs(30);
        assert_eq!(
            plan(t0, d, true, t0),
            Step::WaitUntil(t0 + Duration::from_secs(20))
        );
        assert_eq!(plan(t0, d, true, t0 + Duration::from_secs(20)), Step::Renew);
        assert_eq!(
            plan(t0, d, false, t0 + Duration::from_secs(25)),
            Step::Rotate
        );
        assert_eq!(
            plan(t0, d, false, t0 + Duration::from_secs(19)),
            Step::WaitUntil(t0 + Duration::from_secs(20))
        );
    }

    /// A leased source whose renewals follow a script and that counts its calls.
    struct Leasing {
        inner: MockSource,
        renewals: StdMutex<Vec<Result<Renewal, String>>>,
        renewed: AtomicU64,
        issued: AtomicU64,
    }

    #[async_trait]
    impl CredentialSource for Leasing {
        fn name(&self) -> &str {
            "vault"
        }
        async fn lookup(&self, t: &TargetIdentity) -> Result<Lookup, SourceError> {
            let n = self.issued.fetch_add(1, Ordering::SeqCst);
            Ok(match self.inner.lookup(t).await? {
                Lookup::Found(mut c) => {
                    c.lease = Some(Lease {
                        id: SecretString::from(format!("lease-{n}")),
                        duration: Duration::from_secs(9),
                        renewable: true,
                        obtained_at: std::time::Instant::now(),
                    });
                    Lookup::Found(c)
                }
                other => other,
            })
        }
        async fn renew(&self, _lease: &Lease) -> Result<Renewal, SourceError> {
            self.renewed.fetch_add(1, Ordering::SeqCst);
            let next = self.renewals.lock().unwrap().remove(0);
            next.map_err(SourceError::Other)
        }
    }

    #[derive(Default)]
    struct Recorder {
        installed: StdMutex<Vec<Instant>>,
        delay: Duration,
    }

    #[async_trait]
    impl Sink for Recorder {
        async fn install(&self, _c: &Credential) -> Result<(), String> {
            tokio::time::sleep(self.delay).await;
            self.installed.lock().unwrap().push(Instant::now());
            Ok(())
        }
    }

    fn identity() -> TargetIdentity {
        TargetIdentity {
            name: "prod".into(),
            kind: DbKind::Postgres,
            host: None,
            port: None,
            database: None,
            user: Some("app".into()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn renews_until_capped_then_rotates_before_expiry() {
        let source = Arc::new(Leasing {
            inner: MockSource::new(
                "vault",
                vec![MockAnswer::Found {
                    username: Some("v-1".into()),
                    password: "p".into(),
                }],
            ),
            renewals: StdMutex::new(vec![
                Ok(Renewal {
                    duration: Duration::from_secs(9),
                    renewable: true,
                }),
                // max_ttl reached: Vault gives less than asked
                Ok(Renewal {
                    duration: Duration::from_secs(3),
                    renewable: true,
                }),
                Ok(Renewal {
                    duration: Duration::from_secs(9),
                    renewable: true,
                }),
                Ok(Renewal {
                    duration: Duration::from_secs(9),
                    renewable: true,
                }),
            ]),
            renewed: AtomicU64::new(0),
            issued: AtomicU64::new(0),
        });
        let chain = CredentialChain::new(vec![source.clone()]);
        let sink = Arc::new(Recorder::default());
        let leases = Leases::new(chain.clone(), identity(), sink.clone());
        let first = match chain.resolve(&identity()).await.credential {
            Some(c) => c,
            None => panic!("found"),
        };
        let start = Instant::now();
        leases.adopt(&first).await;
        let task = tokio::spawn(leases.clone().run());

        // t=6: first renewal (2/3 of 9 s); t=12: second renewal, capped at 3 s;
        // t=14: rotation (2/3 of the capped 3 s), well before the old lease ends at t=15.
        tokio::time::sleep(Duration::from_millis(13_900)).await;
        assert_eq!(source.renewed.load(Ordering::SeqCst), 2);
        assert!(sink.installed.lock().unwrap().is_empty());
        tokio::time::sleep(Duration::from_millis(200)).await;
        let installed = sink.installed.lock().unwrap().clone();
        assert_eq!(installed.len(), 1, "one rotation");
        assert_eq!(installed[0] - start, Duration::from_secs(14));
        assert_eq!(leases.rotations(), 1);
        let status = leases.status().await.unwrap();
        assert_eq!(status.renewals, 2);
        assert!(status.renewable, "the new lease starts renewable");
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_renewal_rotates_at_once_and_retries_while_the_source_is_down() {
        let source = Arc::new(Leasing {
            inner: MockSource::new(
                "vault",
                vec![
                    MockAnswer::Found {
                        username: None,
                        password: "p".into(),
                    },
                    MockAnswer::Unavailable("vault is down".into()),
                    MockAnswer::Unavailable("vault is down".into()),
                    MockAnswer::Found {
                        username: None,
                        password: "p2".into(),
                    },
                ],
            ),
            renewals: StdMutex::new(vec![Err("permission denied".into())]),
            renewed: AtomicU64::new(0),
            issued: AtomicU64::new(0),
        });
        let chain = CredentialChain::new(vec![source.clone()]);
        let sink = Arc::new(Recorder::default());
        let leases = Leases::new(chain.clone(), identity(), sink.clone());
        let first = chain.resolve(&identity()).await.credential.unwrap();
        leases.adopt(&first).await;
        let task = tokio::spawn(leases.clone().run());
        tokio::time::sleep(Duration::from_secs(8)).await;
        assert_eq!(source.renewed.load(Ordering::SeqCst), 1);
        assert_eq!(
            source.issued.load(Ordering::SeqCst),
            4,
            "two failed tries, then a new credential"
        );
        assert_eq!(sink.installed.lock().unwrap().len(), 1);
        task.abort();
    }

    #[tokio::test]
    async fn concurrent_rotations_make_one_request() {
        let source = Arc::new(MockSource::found("env", "pw"));
        let chain = CredentialChain::new(vec![source.clone()]);
        // Installing takes a while, so the callers overlap as they would under load.
        let sink = Arc::new(Recorder {
            delay: Duration::from_millis(50),
            ..Recorder::default()
        });
        let leases = Leases::new(chain, identity(), sink.clone());
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let l = leases.clone();
                tokio::spawn(async move { l.rotate().await })
            })
            .collect();
        for c in calls {
            c.await.unwrap().unwrap();
        }
        assert_eq!(
            source.calls(),
            1,
            "waiting callers share the rotation in flight"
        );
        assert_eq!(leases.rotations(), 1);
    }
}
