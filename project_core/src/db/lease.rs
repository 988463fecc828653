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

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use domain::{Credential, CredentialChain, CredentialSource, Lease, TargetIdentity};
use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;

/// How many rotation costs must still be left on a lease when it is renewed or rotated.
pub const MARGIN_ROTATIONS: u32 = 3;
/// How much sooner than reported a lease may end (Vault rounds to whole seconds).
pub const ROUNDING: Duration = Duration::from_secs(1);
/// What a rotation is assumed to cost before one has been measured.
pub const ASSUMED_ROTATION: Duration = Duration::from_secs(1);
/// The least a rotation is assumed to cost, however fast the recent ones were: load comes
/// and goes faster than rotations happen.
pub const MIN_ROTATION: Duration = Duration::from_millis(250);
/// How many recent rotations the cost is the maximum of.
pub const RECENT_ROTATIONS: usize = 8;
/// The least time between two actions on one lease.
pub const MIN_SPACING: Duration = Duration::from_millis(250);

/// Where a new credential goes: the pool (in production) or a recorder (in tests).
#[async_trait]
pub trait Sink: Send + Sync {
    /// Proves and installs the credential; `Err` is a reason to log.
    async fn install(&self, credential: &Credential) -> Result<(), String>;

    /// How many sessions the server still has for `username` (the replaced credential's
    /// user); `None` when this sink cannot tell. A rotation waits for 0 before it counts as
    /// done, because the old lease's revocation terminates whatever is left.
    async fn sessions_of(&self, _username: &str) -> Option<u64> {
        None
    }
}

/// Whether a lease can still be extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Renew it at the planned point.
    Renewable,
    /// Issued (or renewed) as not renewable: rotate it at the planned point.
    NotRenewable,
    /// A renewal came back shorter than asked (`max_ttl`) or was refused: rotate at once.
    Capped,
}

/// What the plan knows of the lease in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// When the request that obtained or last renewed it was sent.
    pub sent: Instant,
    /// The duration the answer reported (whole seconds).
    pub reported: Duration,
    pub standing: Standing,
    /// When the lease is expected to reach its `max_ttl` (learned from an earlier capped
    /// renewal), if known.
    pub hard_end: Option<Instant>,
}

impl Term {
    /// The latest the lease can be trusted to last: 1 s of rounding before `sent + reported`.
    pub fn end(&self) -> Instant {
        self.sent + self.reported.saturating_sub(ROUNDING)
    }
}

/// The lease in force.
#[derive(Clone)]
pub struct Held {
    pub source: Arc<dyn CredentialSource>,
    pub lease: Lease,
    pub term: Term,
    /// When the request that obtained the lease was sent.
    pub obtained: Instant,
    pub username: Option<String>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("source", &self.source.name())
            .field("lease", &self.lease)
            .field("term", &self.term)
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

/// The rule of the module doc: when to renew or rotate a lease of this `term`, given what a
/// rotation costs (`rotation`, see [`RotationCost`]).
pub fn plan(term: &Term, rotation: Duration, now: Instant) -> Step {
    if term.standing == Standing::Capped {
        return Step::Rotate;
    }
    let end = term.end();
    let two_thirds = term.sent + (end - term.sent) * 2 / 3;
    let margin = rotation.saturating_mul(MARGIN_ROTATIONS);
    let before_margin = end.checked_sub(margin).unwrap_or(term.sent);
    let earliest = term.sent + (term.reported / 3).max(MIN_SPACING);
    let due = two_thirds.min(before_margin).max(earliest);
    let before_cap = term
        .hard_end
        .map(|hard| hard.checked_sub(margin).unwrap_or(term.sent).max(earliest));
    if let Some(before_cap) = before_cap.filter(|at| *at <= due) {
        return if now < before_cap {
            Step::WaitUntil(before_cap)
        } else {
            Step::Rotate
        };
    }
    if now < due {
        Step::WaitUntil(due)
    } else if term.standing == Standing::Renewable {
        Step::Renew
    } else {
        Step::Rotate
    }
}

/// What recent rotations cost: the longest of the last [`RECENT_ROTATIONS`].
#[derive(Debug, Clone, Default)]
pub struct RotationCost {
    recent: VecDeque<Duration>,
}

impl RotationCost {
    pub fn record(&mut self, took: Duration) {
        if self.recent.len() == RECENT_ROTATIONS {
            self.recent.pop_front();
        }
        self.recent.push_back(took);
    }

    pub fn estimate(&self) -> Duration {
        self.recent
            .iter()
            .max()
            .copied()
            .unwrap_or(ASSUMED_ROTATION)
            .max(MIN_ROTATION)
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
    /// What a rotation is taken to cost when planning.
    pub rotation_cost: Duration,
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
    cost: std::sync::Mutex<RotationCost>,
    /// How long a lease lives at most (`max_ttl`), learned from the last capped renewal.
    lifetime: std::sync::Mutex<Option<Duration>>,
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
            cost: std::sync::Mutex::new(RotationCost::default()),
            lifetime: std::sync::Mutex::new(None),
        })
    }

    /// Takes the credential the connection opened with (if it is leased); `sent` is when the
    /// request that obtained it was sent (or earlier).
    pub async fn adopt(&self, credential: &Credential, sent: Instant) {
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

    /// Resolves a new credential through the chain and installs it. One at a time: callers
    /// that arrive while a rotation runs wait for it and then return, sharing its result.
    pub async fn rotate(&self) -> Result<(), String> {
        let seen = self.rotations();
        let _one = self.rotation_lock.lock().await;
        if self.rotations() != seen {
            return Ok(()); // someone rotated while we waited
        }
        let sent = Instant::now();
        let resolution = self.chain.resolve(&self.identity).await;
        if let Some(error) = resolution.error {
            return Err(error.to_string());
        }
        let summary = resolution.summary();
        let credential = resolution
            .credential
            .ok_or_else(|| format!("no source has a credential now ({summary})"))?;
        if let Err(reason) = self.sink.install(&credential).await {
            // A credential that never made it into the pool is given back at once: left to
            // its TTL, every failed attempt would leave one more live user at the server.
            self.give_back(&credential).await;
            return Err(reason);
        }
        self.rotations.fetch_add(1, Ordering::SeqCst);
        tracing::info!(
            source = %credential.source,
            ms = sent.elapsed().as_millis() as u64,
            "new credentials are in the pool"
        );
        if credential.lease.is_some() {
            self.adopt(&credential, sent).await;
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

    /// Revokes the lease of a credential that was obtained but never used.
    pub async fn give_back(&self, credential: &Credential) {
        if let Some(lease) = &credential.lease
            && let Some(source) = self.chain.source(&credential.source)
            && let Err(error) = source.revoke(lease).await
        {
            tracing::warn!(%error, "could not revoke the lease of an unused credential");
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

    fn term(sent: Instant, secs: u64, standing: Standing) -> Term {
        Term {
            sent,
            reported: Duration::from_secs(secs),
            standing,
            hard_end: None,
        }
    }

    #[test]
    fn a_learned_cap_rotates_a_renewable_lease_three_rotation_costs_before_it() {
        let t0 = Instant::now();
        let slow = Duration::from_millis(1500);
        // 3 s leases that live 9 s: renewing every second until the cap would leave the
        // rotation what is left of one renewal; rotate 4.5 s before the cap instead.
        let lease = Term {
            hard_end: Some(t0 + secs(9)),
            ..term(t0 + secs(3), 3, Standing::Renewable)
        };
        assert_eq!(
            plan(&lease, slow, t0 + secs(3)),
            Step::WaitUntil(t0 + secs(4))
        );
        let later = Term {
            hard_end: Some(t0 + secs(9)),
            ..term(t0 + secs(4), 3, Standing::Renewable)
        };
        assert_eq!(
            plan(&later, slow, t0 + secs(4)),
            Step::WaitUntil(t0 + Duration::from_millis(5_000))
        );
        assert_eq!(plan(&later, slow, t0 + secs(5)), Step::Rotate);
        // Far from the cap, renewing goes on as before.
        let early = Term {
            hard_end: Some(t0 + secs(60)),
            ..term(t0, 31, Standing::Renewable)
        };
        assert_eq!(plan(&early, slow, t0 + secs(20)), Step::Renew);
    }

    #[test]
    fn renew_at_two_thirds_of_the_rounded_term_when_rotations_are_cheap() {
        let t0 = Instant::now();
        let fast = Duration::from_millis(300);
        // 31 s reported: trusted for 30 s from when the request was sent.
        let lease = term(t0, 31, Standing::Renewable);
        assert_eq!(plan(&lease, fast, t0), Step::WaitUntil(t0 + secs(20)));
        assert_eq!(plan(&lease, fast, t0 + secs(20)), Step::Renew);
        let fixed = term(t0, 31, Standing::NotRenewable);
        assert_eq!(plan(&fixed, fast, t0 + secs(25)), Step::Rotate);
        assert_eq!(
            plan(&fixed, fast, t0 + secs(19)),
            Step::WaitUntil(t0 + secs(20))
        );
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_slow_rotation_moves_the_point_earlier_by_three_rotation_costs() {
        let t0 = Instant::now();
        // 16 s reported, trusted for 15 s; a rotation costs 2 s: act at 15 − 6 = 9 s, not 10 s.
        let lease = term(t0, 16, Standing::Renewable);
        assert_eq!(plan(&lease, secs(2), t0), Step::WaitUntil(t0 + secs(9)));
        let fixed = term(t0, 16, Standing::NotRenewable);
        assert_eq!(plan(&fixed, secs(2), t0 + secs(9)), Step::Rotate);
    }

    #[test]
    fn a_capped_renewal_rotates_at_once_however_much_is_left() {
        let t0 = Instant::now();
        let fast = Duration::from_millis(300);
        assert_eq!(plan(&term(t0, 2, Standing::Capped), fast, t0), Step::Rotate);
        assert_eq!(
            plan(&term(t0, 600, Standing::Capped), fast, t0),
            Step::Rotate
        );
    }

    #[test]
    fn a_rounded_duration_is_trusted_one_second_less_from_when_it_was_sent() {
        let t0 = Instant::now();
        let fast = Duration::from_millis(250);
        // "4 s" may be 3 s: two thirds of 3 s is 2 s (not 2.67 s), and 3 × 250 ms before the
        // end is later than that.
        let lease = term(t0, 4, Standing::NotRenewable);
        assert_eq!(plan(&lease, fast, t0), Step::WaitUntil(t0 + secs(2)));
    }

    #[test]
    fn a_lease_too_short_for_the_margin_is_acted_on_at_a_third_not_in_a_loop() {
        let t0 = Instant::now();
        let lease = term(t0, 2, Standing::Renewable);
        assert_eq!(plan(&lease, secs(1), t0), Step::WaitUntil(t0 + secs(2) / 3));
        let nothing = term(t0, 0, Standing::NotRenewable);
        assert_eq!(
            plan(&nothing, secs(1), t0),
            Step::WaitUntil(t0 + MIN_SPACING)
        );
    }

    #[test]
    fn the_rotation_cost_is_the_longest_recent_one_within_bounds() {
        let mut cost = RotationCost::default();
        assert_eq!(cost.estimate(), ASSUMED_ROTATION);
        cost.record(Duration::from_millis(10));
        assert_eq!(cost.estimate(), MIN_ROTATION);
        cost.record(Duration::from_millis(700));
        for _ in 0..RECENT_ROTATIONS - 1 {
            cost.record(Duration::from_millis(400));
        }
        assert_eq!(cost.estimate(), Duration::from_millis(700));
        cost.record(Duration::from_millis(400));
        assert_eq!(
            cost.estimate(),
            Duration::from_millis(400),
            "the slow one aged out"
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
        leases.adopt(&first, start).await;
        let task = tokio::spawn(leases.clone().run());

        // "9 s" is trusted for 8 s; before any rotation was measured one is assumed to cost
        // 1 s, so each renewal goes out with 3 s left: t=5 renews (9 s), t=10 renews and is
        // capped at 3 s, and the rotation starts at once, 2 s before the old term ends.
        tokio::time::sleep(Duration::from_millis(9_900)).await;
        assert_eq!(source.renewed.load(Ordering::SeqCst), 1);
        assert!(sink.installed.lock().unwrap().is_empty());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(source.renewed.load(Ordering::SeqCst), 2);
        let installed = sink.installed.lock().unwrap().clone();
        assert_eq!(installed.len(), 1, "one rotation");
        assert_eq!(installed[0] - start, Duration::from_secs(10));
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
        leases.adopt(&first, Instant::now()).await;
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

    /// A Vault in miniature: leases of `ttl` capped at `max_ttl` from their creation, remaining
    /// time reported rounded to whole seconds as Vault does, each request taking `latency`
    /// (handled half way through). It remembers when each lease really ends.
    struct FakeVault {
        ttl: Duration,
        max_ttl: Duration,
        latency: Duration,
        /// Per lease: (real end, hard end at max_ttl).
        leases: StdMutex<Vec<(Instant, Instant)>>,
    }

    fn whole_seconds(d: Duration) -> Duration {
        Duration::from_secs(((d.as_millis() + 500) / 1000) as u64)
    }

    impl FakeVault {
        fn new(ttl_ms: u64, max_ttl_ms: u64, latency_ms: u64) -> Arc<Self> {
            Arc::new(Self {
                ttl: Duration::from_millis(ttl_ms),
                max_ttl: Duration::from_millis(max_ttl_ms),
                latency: Duration::from_millis(latency_ms),
                leases: StdMutex::new(Vec::new()),
            })
        }

        fn end_of(&self, n: usize) -> Instant {
            self.leases.lock().unwrap()[n].0
        }
    }

    #[async_trait]
    impl CredentialSource for FakeVault {
        fn name(&self) -> &str {
            "vault"
        }
        async fn lookup(&self, _t: &TargetIdentity) -> Result<Lookup, SourceError> {
            tokio::time::sleep(self.latency / 2).await;
            let now = Instant::now();
            let n = {
                let mut leases = self.leases.lock().unwrap();
                leases.push((now + self.ttl.min(self.max_ttl), now + self.max_ttl));
                leases.len() - 1
            };
            tokio::time::sleep(self.latency / 2).await;
            let mut c = Credential::new(
                Some(format!("v-{n}")),
                SecretString::from("p"),
                "vault",
                "fake",
            );
            c.lease = Some(Lease {
                id: SecretString::from(format!("{n}")),
                duration: whole_seconds(self.ttl.min(self.max_ttl)),
                renewable: self.ttl < self.max_ttl,
                obtained_at: std::time::Instant::now(),
            });
            Ok(Lookup::Found(c))
        }
        async fn renew(&self, lease: &Lease) -> Result<Renewal, SourceError> {
            tokio::time::sleep(self.latency / 2).await;
            let n: usize = lease.id.expose().parse().unwrap();
            let now = Instant::now();
            let left = {
                let mut leases = self.leases.lock().unwrap();
                let (end, hard) = &mut leases[n];
                if now >= *end {
                    return Err(SourceError::Other("lease not found or expired".into()));
                }
                *end = (now + self.ttl).min(*hard);
                *end - now
            };
            tokio::time::sleep(self.latency / 2).await;
            Ok(Renewal {
                duration: whole_seconds(left),
                renewable: true,
            })
        }
    }

    /// Installs take `delay` and are recorded with the user they install.
    #[derive(Default)]
    struct SlowSink {
        delay: Duration,
        installed: StdMutex<Vec<(Instant, String)>>,
    }

    #[async_trait]
    impl Sink for SlowSink {
        async fn install(&self, c: &Credential) -> Result<(), String> {
            tokio::time::sleep(self.delay).await;
            let user = c.username.clone().unwrap_or_default();
            self.installed.lock().unwrap().push((Instant::now(), user));
            Ok(())
        }
    }

    /// Runs the manager against `vault` for `run_for` and returns, per rotation, how long
    /// before the end of the replaced lease the new credential was in the pool (negative: late).
    async fn rotate_against(vault: Arc<FakeVault>, install_ms: u64, run_for: Duration) -> Vec<f64> {
        let chain = CredentialChain::new(vec![vault.clone()]);
        let sink = Arc::new(SlowSink {
            delay: Duration::from_millis(install_ms),
            ..SlowSink::default()
        });
        let leases = Leases::new(chain.clone(), identity(), sink.clone());
        let sent = Instant::now();
        let first = chain.resolve(&identity()).await.credential.unwrap();
        leases.adopt(&first, sent).await;
        let task = tokio::spawn(leases.clone().run());
        tokio::time::sleep(run_for).await;
        task.abort();
        let installed = sink.installed.lock().unwrap().clone();
        installed
            .iter()
            .map(|(at, user)| {
                let n: usize = user.trim_start_matches("v-").parse().unwrap();
                let end = vault.end_of(n - 1);
                if *at < end {
                    (end - *at).as_secs_f64()
                } else {
                    -(*at - end).as_secs_f64()
                }
            })
            .collect()
    }

    /// The scenario: 5 s leases capped at 15 s, a rotation that takes 0.6 s under
    /// load. The last renewal comes back capped with 1.2 s left, reported as "1 s".
    #[tokio::test(start_paused = true)]
    async fn a_short_capped_remainder_is_rotated_at_once() {
        let vault = FakeVault::new(5_000, 15_000, 100);
        let slack = rotate_against(vault, 500, Duration::from_secs(60)).await;
        assert!(slack.len() >= 3, "one rotation per max_ttl: {slack:?}");
        assert!(
            slack.iter().all(|s| *s > 0.0),
            "every new credential in the pool before the old lease ended: {slack:?}"
        );
    }

    /// A rotation that takes 2.5 s (fetch + prove + install under heavy load) with 6 s leases
    /// capped at 18 s: the plan must learn how long rotating takes.
    #[tokio::test(start_paused = true)]
    async fn a_slow_rotation_is_started_early_enough() {
        let vault = FakeVault::new(6_000, 18_000, 100);
        let slack = rotate_against(vault, 2_400, Duration::from_secs(90)).await;
        assert!(slack.len() >= 3, "{slack:?}");
        assert!(slack.iter().all(|s| *s > 0.0), "{slack:?}");
    }

    /// 3 s leases capped at 9 s and rotations of 1.5 s: three rotation costs are more than a
    /// whole lease, so renewing early cannot keep the margin; the lifetime learned from the
    /// first capped renewal must move the next rotations ahead of the cap.
    #[tokio::test(start_paused = true)]
    async fn a_rotation_longer_than_a_third_of_the_lease_comes_before_the_cap() {
        let vault = FakeVault::new(3_000, 9_000, 100);
        let slack = rotate_against(vault, 1_400, Duration::from_secs(60)).await;
        assert!(slack.len() >= 5, "{slack:?}");
        // The first cap is met with what renewing every second leaves; after it, rotations
        // start a margin of three rotation costs (4.5 s) before the learned cap.
        assert!(slack.iter().all(|s| *s > 0.0), "{slack:?}");
        assert!(slack[1..].iter().all(|s| *s > 1.0), "{slack:?}");
    }

    /// A lease that really has 2.6 s but is reported as "3 s", and that cannot be renewed.
    #[tokio::test(start_paused = true)]
    async fn a_rounded_duration_is_not_trusted_to_the_last_second() {
        let vault = FakeVault::new(2_600, 2_600, 40);
        let slack = rotate_against(vault, 600, Duration::from_secs(20)).await;
        assert!(slack.len() >= 3, "{slack:?}");
        assert!(slack.iter().all(|s| *s > 0.0), "{slack:?}");
    }

    /// Issues numbered leases and records which were revoked.
    #[derive(Default)]
    struct Revoking {
        issued: AtomicU64,
        revoked: StdMutex<Vec<String>>,
    }

    #[async_trait]
    impl CredentialSource for Revoking {
        fn name(&self) -> &str {
            "vault"
        }
        async fn lookup(&self, _t: &TargetIdentity) -> Result<Lookup, SourceError> {
            let n = self.issued.fetch_add(1, Ordering::SeqCst);
            let mut c = Credential::new(
                Some(format!("v-{n}")),
                SecretString::from("p"),
                "vault",
                "fake",
            );
            c.lease = Some(Lease {
                id: SecretString::from(format!("{n}")),
                duration: Duration::from_secs(60),
                renewable: true,
                obtained_at: std::time::Instant::now(),
            });
            Ok(Lookup::Found(c))
        }
        async fn revoke(&self, lease: &Lease) -> Result<(), SourceError> {
            self.revoked
                .lock()
                .unwrap()
                .push(lease.id.expose().to_owned());
            Ok(())
        }
    }

    /// A pool that refuses every new credential (the server refuses the new user).
    struct Refusing;

    #[async_trait]
    impl Sink for Refusing {
        async fn install(&self, _c: &Credential) -> Result<(), String> {
            Err("password authentication failed".into())
        }
    }

    /// A credential fetched for a rotation that then fails is revoked at once, not left to
    /// live at Vault (and as a database role) until its TTL: every failed attempt would
    /// otherwise leave one more.
    #[tokio::test(start_paused = true)]
    async fn a_failed_rotation_revokes_the_lease_it_obtained() {
        let source = Arc::new(Revoking::default());
        let chain = CredentialChain::new(vec![source.clone()]);
        let leases = Leases::new(chain, identity(), Arc::new(Refusing));
        for _ in 0..3 {
            assert!(leases.rotate().await.is_err());
        }
        assert_eq!(source.issued.load(Ordering::SeqCst), 3);
        let mut revoked = source.revoked.lock().unwrap().clone();
        revoked.sort();
        assert_eq!(revoked, ["0", "1", "2"], "each failed rotation's lease");
        leases.revoke_all().await;
        assert_eq!(source.revoked.lock().unwrap().len(), 3, "none twice");
    }
}
