//! Leased credentials under a live pool: renew them while they can be renewed, rotate them
//! when they cannot, and have the new credential in the pool — and the old one's sessions
//! gone — before the old lease ends.
//!
//! Design decision: the timing is a pure function ([`plan`]) of the lease, of how long a
//! rotation takes here, and of the clock; the loop around it talks to the world through two
//! seams — the credential source (renew, resolve again) and a [`Sink`] that installs a
//! credential into the pool — so that unit tests drive it with a fake Vault, a slow sink and
//! tokio's paused clock.
//!
//! # The rule
//!
//! - **The lease is assumed to end 1 s before it says, counted from when its request was
//!   sent.** Vault reports durations in whole seconds, rounded (a lease with 1.56 s left says
//!   "2 s"), and it starts the clock when it handles the request, which is after we sent it.
//!   So a term is `sent + reported − 1 s`; nothing is anchored at the time the answer arrived.
//! - **A rotation costs what recent rotations cost.** Fetching, proving and installing a
//!   credential and waiting for the old one's sessions to close is measured every time (and
//!   once when the target is opened); the cost is the longest of the last
//!   [`RECENT_ROTATIONS`], never less than [`MIN_ROTATION`], and [`ASSUMED_ROTATION`] before
//!   anything was measured.
//! - **Act at two thirds of the term, or earlier so that [`MARGIN_ROTATIONS`] rotation costs
//!   are still left**: a renewable lease is renewed there, any other is rotated there. Renewing
//!   that early means that when a renewal comes back capped by `max_ttl` (or is refused), at
//!   least that margin is still left on the lease.
//! - **A capped or refused renewal rotates at once**: the lease will not grow again, and
//!   waiting only spends the margin.
//! - **A lease's lifetime is learned from its first capped renewal** (`max_ttl`, as seen
//!   from here: from the fetch being sent to the capped term's end), and the next leases are
//!   rotated that margin before they would reach it, whether or not they could still be
//!   renewed: when three rotation costs are more than a lease's whole term, renewing early
//!   cannot keep the margin, and only knowing where the cap falls can. A lease rotated while
//!   it could still be renewed is renewed first, so that the rotation runs in a whole term.
//! - One lease is never acted on sooner than a third of its reported duration (at least
//!   [`MIN_SPACING`]) after its last renewal: a lease too short for the margin is renewed or
//!   rotated three times per duration rather than in a loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use domain::{Credential, CredentialChain, CredentialSource, Lease, TargetIdentity};
use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;

mod files;
mod held;
mod plan;

pub use files::{Baseline, FILE_CHECK_INTERVAL, baseline, watch_files};

use held::Expose;
pub use held::{Held, LeaseStatus, Sink, give_back};

pub use plan::{
    ASSUMED_ROTATION, MARGIN_ROTATIONS, MIN_ROTATION, MIN_SPACING, RECENT_ROTATIONS, ROUNDING,
    RotationCost, Standing, Step, Term, plan,
};

/// The last credential swapped into a live pool (for operators; no secret in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationNote {
    /// The source that supplied it (`file`, `vault` …).
    pub source: String,
    /// Where in that source (`/var/run/secrets/db/password`, a Vault path).
    pub origin: String,
    /// Why: `lease_or_refusal` (a lease near its end, a refused password) or `file_changed`.
    pub trigger: RotationTrigger,
}

/// Why credentials are resolved again under a live pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationTrigger {
    /// A lease nears its end, or the server refused the password.
    Lease,
    /// A file a source reads changed on disk.
    FileChanged,
}

impl RotationTrigger {
    /// The spelling in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationTrigger::Lease => "lease_or_refusal",
            RotationTrigger::FileChanged => "file_changed",
        }
    }
}

/// Shared between the manager task, the connection (re-resolve on a refused password) and
/// `close()` (revoke).
pub struct Leases {
    chain: CredentialChain,
    identity: TargetIdentity,
    /// The servers of a target with several: a rotation resolves for each, as the open did.
    hosts: std::sync::OnceLock<Vec<domain::Endpoint>>,
    sink: Arc<dyn Sink>,
    held: Mutex<Option<Held>>,
    /// Every lease this process obtained, for revocation on close.
    obtained: Mutex<Vec<(Arc<dyn CredentialSource>, Lease)>>,
    changed: Notify,
    renewals: AtomicU64,
    rotations: AtomicU64,
    /// Rotation attempts that have ended, successful or not.
    attempts: AtomicU64,
    /// Held while a rotation runs; it guards the outcome of the last attempt, which callers
    /// that waited for that attempt share (no secret in it: reasons are classified errors).
    rotation_lock: Mutex<Result<(), String>>,
    cost: std::sync::Mutex<RotationCost>,
    /// How long a lease lives at most (`max_ttl`), learned from the last capped renewal.
    lifetime: std::sync::Mutex<Option<Duration>>,
    /// The credential the pool is on, for programs that are handed it (`dbcore exec`,
    /// `dbcore proxy`); `None` before the first one and for kinds without credentials.
    current: tokio::sync::watch::Sender<Option<Credential>>,
    /// The last credential swapped into the pool: where it came from and why.
    last_rotation: std::sync::Mutex<Option<RotationNote>>,
    /// Set once the credential is handed to other programs: the old user's sessions are then
    /// theirs too, and a rotation does not wait for them (they can last the whole lease).
    handed_out: std::sync::atomic::AtomicBool,
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
            hosts: std::sync::OnceLock::new(),
            sink,
            held: Mutex::new(None),
            obtained: Mutex::new(Vec::new()),
            changed: Notify::new(),
            renewals: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            rotation_lock: Mutex::new(Ok(())),
            cost: std::sync::Mutex::new(RotationCost::default()),
            lifetime: std::sync::Mutex::new(None),
            current: tokio::sync::watch::Sender::new(None),
            handed_out: std::sync::atomic::AtomicBool::new(false),
            last_rotation: std::sync::Mutex::new(None),
        })
    }

    /// Says that the pool is now on `credential` (at open and after every installed rotation).
    pub fn publish(&self, credential: &Credential) {
        self.current.send_replace(Some(credential.clone()));
    }

    /// Follows the credential the pool is on.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Option<Credential>> {
        self.current.subscribe()
    }

    /// Follows the credential for handing it to other programs: from now on a rotation does
    /// not wait for the replaced user's sessions, which are no longer only the pool's (a
    /// child's psql, a proxied session), so that what a rotation costs stays what fetching
    /// and proving one costs.
    pub fn hand_out(&self) -> tokio::sync::watch::Receiver<Option<Credential>> {
        self.handed_out.store(true, Ordering::SeqCst);
        self.current.subscribe()
    }

    /// Takes the credential the connection opened with (if it is leased); `sent` is when the
    /// request that obtained it was sent (or earlier).
    pub async fn adopt(
        &self,
        credential: &Credential,
        issuer: &Arc<dyn CredentialSource>,
        sent: Instant,
    ) {
        let Some(lease) = credential.lease.clone() else {
            return;
        };
        let source = issuer.clone();
        self.obtained
            .lock()
            .await
            .push((source.clone(), lease.clone()));
        let lifetime = *self.lifetime.lock().unwrap_or_else(|p| p.into_inner());
        *self.held.lock().await = Some(Held {
            source,
            term: Term {
                sent,
                reported: lease.duration,
                standing: if lease.renewable {
                    Standing::Renewable
                } else {
                    Standing::NotRenewable
                },
                hard_end: lifetime.map(|l| sent + l),
            },
            obtained: sent,
            lease,
            username: credential.username.clone(),
        });
        self.changed.notify_one();
    }

    /// Counts `took` as the cost of one rotation (fetch, prove, install, old sessions gone);
    /// the connection also reports how long opening took.
    pub fn record_rotation_cost(&self, took: Duration) {
        self.cost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(took);
    }

    pub fn rotation_cost(&self) -> Duration {
        self.cost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .estimate()
    }

    pub async fn status(&self) -> Option<LeaseStatus> {
        let held = self.held.lock().await;
        let held = held.as_ref()?;
        Some(LeaseStatus {
            source: held.source.name().to_owned(),
            username: held.username.clone(),
            expires_in: Some(held.term.end().saturating_duration_since(Instant::now())),
            renewable: held.term.standing == Standing::Renewable,
            renewals: self.renewals.load(Ordering::SeqCst),
            rotations: self.rotations.load(Ordering::SeqCst),
            rotation_cost: self.rotation_cost(),
        })
    }

    pub fn rotations(&self) -> u64 {
        self.rotations.load(Ordering::SeqCst)
    }

    /// The last credential swapped into the pool, if one was.
    pub fn last_rotation(&self) -> Option<RotationNote> {
        self.last_rotation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The servers of a multi-host target, for the resolutions of rotations (set once, at
    /// open; a later call changes nothing).
    pub fn set_hosts(&self, hosts: Vec<domain::Endpoint>) {
        let _ = self.hosts.set(hosts);
    }

    /// Resolves a new credential through the chain and installs it. One at a time: callers
    /// that arrive while a rotation runs wait for it and then return its outcome, failure
    /// included — a refused password seen by fifty sessions at once is one resolution, not
    /// fifty in turn.
    pub async fn rotate(&self) -> Result<(), String> {
        let seen = self.attempts.load(Ordering::SeqCst);
        let mut last = self.rotation_lock.lock().await;
        if self.attempts.load(Ordering::SeqCst) != seen {
            // An attempt ended while we waited for the lock: it is the one we asked for.
            return last.clone();
        }
        let outcome = self.rotate_now(RotationTrigger::Lease).await.map(|_| ());
        *last = outcome.clone();
        self.attempts.fetch_add(1, Ordering::SeqCst);
        outcome
    }

    /// Resolves again because a file a source reads changed on disk, and installs what it
    /// gives when that differs from the credential in the pool. `Ok(false)`: the same login
    /// (a file touched, or rewritten with the same password). An `Err` leaves the pool on the
    /// credential it has.
    pub async fn refresh_after_file_change(&self) -> Result<bool, String> {
        let mut last = self.rotation_lock.lock().await;
        let outcome = self.rotate_now(RotationTrigger::FileChanged).await;
        *last = outcome.clone().map(|_| ());
        self.attempts.fetch_add(1, Ordering::SeqCst);
        outcome
    }

    /// The chain's sources with the files each reads, in chain order (for the file watch).
    pub fn watched_files(&self) -> Vec<(String, Vec<std::path::PathBuf>)> {
        files::files_of(&self.chain, &self.identity)
    }

    /// What a file change is resolved through: the sources before the one that supplied the
    /// pool's credential, and that one too when it reads a file. A later source cannot win
    /// while that one answers, and must not on a file's bad moment (empty, unreadable, caught
    /// half-written): the pool keeps its credential. A source that reads no file (Vault) has
    /// nothing new to say because a file changed; asked anyway, it would issue a new lease
    /// and a new database user for every edit of an earlier source's file. The flag: whether
    /// the current source is asked (when it is not, nothing found means nothing changed).
    fn sources_for_a_file_change(&self) -> (CredentialChain, bool) {
        let sources = self.chain.sources();
        let Some(current) = self.current_source() else {
            return (CredentialChain::new(sources.to_vec()), true);
        };
        let Some(at) = sources.iter().position(|s| s.name() == current) else {
            return (CredentialChain::new(sources.to_vec()), true);
        };
        let reads_a_file = !sources[at].watched_files(&self.identity).is_empty();
        let end = if reads_a_file { at + 1 } else { at };
        (CredentialChain::new(sources[..end].to_vec()), reads_a_file)
    }

    /// The name of the source the pool's credential came from, if it has one.
    pub fn current_source(&self) -> Option<String> {
        self.current.borrow().as_ref().map(|c| c.source.clone())
    }

    /// One rotation attempt; the caller holds the rotation lock. `Ok(true)` when a new
    /// credential went into the pool.
    async fn rotate_now(&self, trigger: RotationTrigger) -> Result<bool, String> {
        let sent = Instant::now();
        let hosts = self.hosts.get().map_or(&[][..], Vec::as_slice);
        let (resolution, current_asked) = match trigger {
            RotationTrigger::Lease => (self.chain.resolve_hosts(&self.identity, hosts).await, true),
            RotationTrigger::FileChanged => {
                let (chain, current_asked) = self.sources_for_a_file_change();
                (
                    chain.resolve_hosts(&self.identity, hosts).await,
                    current_asked,
                )
            }
        };
        crate::health::record_resolution(&self.identity.name, &resolution.attempts);
        if let Some(error) = resolution.error {
            return Err(error.to_string());
        }
        let summary = resolution.summary();
        let (Some(credential), Some(issuer)) = (resolution.credential, resolution.issuer) else {
            if !current_asked {
                // An earlier source's file changed and still has nothing for this target.
                return Ok(false);
            }
            return Err(format!("no source has a credential now ({summary})"));
        };
        if trigger == RotationTrigger::FileChanged
            && self
                .current
                .borrow()
                .as_ref()
                .is_some_and(|current| current.same_login(&credential))
        {
            return Ok(false);
        }
        // Where a slow rotation spends its time: the source, or proving and installing.
        let resolved = sent.elapsed();
        if let Err(reason) = self.sink.install(&credential).await {
            // A credential that never made it into the pool is given back at once: left to
            // its TTL, every failed attempt would leave one more live user at the server.
            give_back(&credential, &issuer).await;
            return Err(reason);
        }
        self.rotations.fetch_add(1, Ordering::SeqCst);
        crate::health::record_rotation(&self.identity.name, &credential.source, trigger.as_str());
        *self.last_rotation.lock().unwrap_or_else(|p| p.into_inner()) = Some(RotationNote {
            source: credential.source.clone(),
            origin: credential.origin.clone(),
            trigger,
        });
        self.publish(&credential);
        tracing::info!(
            source = %credential.source,
            trigger = trigger.as_str(),
            ms = sent.elapsed().as_millis() as u64,
            resolve_ms = resolved.as_millis() as u64,
            "new credentials are in the pool"
        );
        if credential.lease.is_some() {
            self.adopt(&credential, &issuer, sent).await;
        } else {
            // The pool now runs on a credential without a lease (Vault was down and the chain
            // fell through to a static source): nothing is left to renew or rotate, and the
            // replaced lease's term must not be planned on again, or every step would rotate.
            *self.held.lock().await = None;
        }
        Ok(true)
    }

    /// The manager loop: runs until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        loop {
            let snapshot = self.held.lock().await.clone();
            let Some(held) = snapshot else {
                self.changed.notified().await;
                continue;
            };
            match plan(&held.term, self.rotation_cost(), Instant::now()) {
                Step::WaitUntil(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.changed.notified() => {}
                    }
                }
                Step::Renew => self.renew(held).await,
                Step::Rotate if held.term.standing == Standing::Renewable => {
                    // Ahead of a learned cap: renew first, so that the rotation has a whole
                    // renewal to run in (nothing renews the old lease while it runs).
                    self.renew(held.clone()).await;
                    let renewed = self.held.lock().await.clone();
                    self.clone()
                        .rotate_before_expiry(renewed.unwrap_or(held))
                        .await;
                }
                Step::Rotate => self.clone().rotate_before_expiry(held).await,
            }
        }
    }

    async fn renew(&self, held: Held) {
        let sent = Instant::now();
        match held.source.renew(&held.lease).await {
            Ok(renewal) => {
                // Vault caps a renewal at max_ttl: a shorter lease than asked for will not
                // grow again, so it is rotated at once.
                let capped = renewal.duration < held.lease.duration || renewal.duration.is_zero();
                if capped && !renewal.duration.is_zero() {
                    let cap = sent + renewal.duration.saturating_sub(ROUNDING);
                    *self.lifetime.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(cap.saturating_duration_since(held.obtained));
                }
                let mut current = self.held.lock().await;
                if let Some(h) = current
                    .as_mut()
                    .filter(|h| h.lease.id.expose() == held.lease.id.expose())
                {
                    h.term = Term {
                        sent,
                        reported: renewal.duration,
                        standing: if capped {
                            Standing::Capped
                        } else if renewal.renewable {
                            Standing::Renewable
                        } else {
                            Standing::NotRenewable
                        },
                        hard_end: held.term.hard_end,
                    };
                }
                self.renewals.fetch_add(1, Ordering::SeqCst);
                crate::health::record_renewal(&self.identity.name, held.source.name(), true);
                tracing::debug!(
                    seconds = renewal.duration.as_secs(),
                    capped,
                    "lease renewed"
                );
            }
            Err(error) => {
                crate::health::record_renewal(&self.identity.name, held.source.name(), false);
                tracing::warn!(%error, "lease renewal failed; fetching new credentials");
                let mut current = self.held.lock().await;
                if let Some(h) = current.as_mut() {
                    h.term.standing = Standing::Capped;
                }
            }
        }
    }

    async fn rotate_before_expiry(self: Arc<Self>, held: Held) {
        let end = held.term.end();
        let started = Instant::now();
        match self.rotate().await {
            Ok(()) => {
                // The old user's sessions are waited for beside the loop, which must go on
                // renewing the new lease meanwhile; the rotation's cost includes the wait.
                tokio::spawn(async move {
                    self.retire(&held).await;
                    self.record_rotation_cost(started.elapsed());
                });
            }
            Err(error) => {
                let left = end.saturating_duration_since(Instant::now());
                tracing::warn!(%error, seconds_left = left.as_secs(), "cannot rotate credentials yet; existing connections go on until the lease ends");
                let wait = (left / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Waits (until the old lease's term ends at the latest) for the server to have no
    /// session of the replaced user left: the pool closes idle ones at the swap and busy
    /// ones when they are released, and Vault's revocation would terminate the rest.
    async fn retire(&self, old: &Held) {
        let Some(user) = old.username.as_deref() else {
            return;
        };
        if self.handed_out.load(Ordering::SeqCst) {
            return;
        }
        let current = self
            .held
            .lock()
            .await
            .as_ref()
            .and_then(|h| h.username.clone());
        if current.as_deref() == Some(user) {
            return; // same user, new password: nothing to wait for
        }
        let started = Instant::now();
        let end = old.term.end();
        loop {
            match self.sink.sessions_of(user).await {
                None => return,
                Some(0) => {
                    tracing::debug!(
                        ms = started.elapsed().as_millis() as u64,
                        "the replaced credential has no session left"
                    );
                    return;
                }
                Some(left) if Instant::now() >= end => {
                    tracing::warn!(
                        sessions = left,
                        "sessions of the replaced credential are still open as its lease ends"
                    );
                    return;
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(10)).await,
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

#[cfg(test)]
mod tests;
