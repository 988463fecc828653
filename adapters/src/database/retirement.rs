/// Which pooled connections are too old to keep: those made before the last credential swap.
///
/// The pool asks it when a connection is released and before one is handed out, so that a
/// connection opened with retired credentials is closed instead of reused.
#[derive(Debug)]
pub struct Retirement {
    base: std::time::Instant,
    /// Nanoseconds after `base` before which connections are retired; 0 = none.
    cutoff: std::sync::atomic::AtomicU64,
}

impl Default for Retirement {
    fn default() -> Self {
        Self {
            base: std::time::Instant::now(),
            cutoff: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Retirement {
    /// Retires every connection made before `instant`.
    pub fn retire_before(&self, instant: std::time::Instant) {
        let nanos = instant.saturating_duration_since(self.base).as_nanos();
        self.cutoff.store(
            u64::try_from(nanos).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// Whether a connection of this age may stay in the pool.
    pub fn keeps(&self, age: std::time::Duration) -> bool {
        self.keeps_at(age, std::time::Instant::now())
    }

    /// Whether a connection that is `age` old at `now` was made at or after the last swap.
    fn keeps_at(&self, age: std::time::Duration, now: std::time::Instant) -> bool {
        let cutoff = self.cutoff.load(std::sync::atomic::Ordering::SeqCst);
        if cutoff == 0 {
            return true;
        }
        let made = now.checked_sub(age).unwrap_or(self.base);
        made.saturating_duration_since(self.base).as_nanos() >= u128::from(cutoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// On an explicit clock: the swap is at base + 1 s, "now" is base + 2 s.
    #[test]
    fn retirement_keeps_only_connections_made_at_or_after_the_swap() {
        let retirement = Retirement::default();
        let base = retirement.base;
        let now = base + Duration::from_secs(2);
        assert!(
            retirement.keeps_at(Duration::from_secs(3600), now),
            "nothing retired before a swap"
        );
        retirement.retire_before(base + Duration::from_secs(1));
        let ms = Duration::from_millis;
        assert!(
            !retirement.keeps_at(ms(1001), now),
            "made 1 ms before the swap"
        );
        assert!(retirement.keeps_at(ms(1000), now), "made at the swap");
        assert!(
            retirement.keeps_at(ms(999), now),
            "made 1 ms after the swap"
        );
        assert!(
            !retirement.keeps_at(Duration::from_secs(3600), now),
            "made before the pool's clock started"
        );
        // A pool that never swapped keeps everything (cutoff 0 is "none").
        assert!(
            Retirement::default().keeps(Duration::ZERO),
            "a fresh pool keeps a fresh connection"
        );
    }
}
