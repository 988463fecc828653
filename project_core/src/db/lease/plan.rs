//! The timing of a lease, as a pure function: when to renew or rotate, given the lease, what
//! a rotation costs here, and the clock (the rule is in the module doc of `lease`).

use std::collections::VecDeque;
use std::time::Duration;

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
