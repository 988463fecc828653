//! The gauges: what open connections look like at a scrape (pool sizes, waiting acquirers,
//! seconds left on leases), read from a registry of live connections when an endpoint asks.
//!
//! Design decision: gauges are sampled at the scrape, not pushed on every change, so that a
//! checkout costs no metric update; and each sample clears what the last one set and this one
//! lacks, because the exporter cannot drop a series and a stale gauge would show a pool or a
//! lease that no longer exists.

use std::sync::{Arc, Mutex, Weak};

use adapters::database::DbPool;

use super::{LEASE_SECONDS_LEFT, POOL_CONNECTIONS, POOL_IDLE, POOL_MAX, POOL_WAITING};
use crate::db::lease::Leases;

/// What [`sample`] reads of one open connection.
pub(crate) struct Probe {
    pub target: String,
    pub pool: DbPool,
    pub waiting: Arc<std::sync::atomic::AtomicUsize>,
    pub leases: Arc<Leases>,
}

/// The open connections, for [`sample`]; a connection that is dropped leaves by itself.
static PROBES: Mutex<Vec<Weak<Probe>>> = Mutex::new(Vec::new());

/// Lists `probe` for sampling for as long as it lives.
pub(crate) fn register(probe: &Arc<Probe>) {
    let mut probes = PROBES.lock().unwrap_or_else(|p| p.into_inner());
    probes.retain(|p| p.strong_count() > 0);
    probes.push(Arc::downgrade(probe));
}

/// The label sets the last sample set, so that the next can clear what is gone.
static LAST_SAMPLED: Mutex<Vec<Sampled>> = Mutex::new(Vec::new());

/// One open connection's gauges at a sample.
#[derive(Debug, Clone, PartialEq)]
struct Sampled {
    target: String,
    stats: PoolStats,
    /// The source of the lease in force and its seconds left.
    lease: Option<(String, f64)>,
}

/// Sets the gauges of every open connection (pool sizes, waiting acquirers, seconds left on
/// leases) from their state now; an endpoint calls it before rendering a scrape.
pub async fn sample() {
    let live: Vec<Arc<Probe>> = {
        let mut probes = PROBES.lock().unwrap_or_else(|p| p.into_inner());
        probes.retain(|p| p.strong_count() > 0);
        probes.iter().filter_map(Weak::upgrade).collect()
    };
    let mut now = Vec::with_capacity(live.len());
    for probe in live {
        let lease = probe.leases.status().await.and_then(|lease| {
            let left = lease.expires_in?;
            Some((lease.source, left.as_secs_f64()))
        });
        now.push(Sampled {
            target: probe.target.clone(),
            stats: pool_stats(&probe.pool, &probe.waiting),
            lease,
        });
    }
    set_gauges(now, &LAST_SAMPLED);
}

/// Sets the gauges of `now`, and clears what the last sample set and `now` lacks: a gauge
/// is never left showing a state that ended (the exporter has no way to drop a series). A
/// closed target's pool shows 0 connections; a lease no longer held shows NaN seconds left,
/// which no threshold alert matches.
fn set_gauges(now: Vec<Sampled>, last: &Mutex<Vec<Sampled>>) {
    let previous = std::mem::replace(
        &mut *last.lock().unwrap_or_else(|p| p.into_inner()),
        now.clone(),
    );
    for gone in &previous {
        let open = now.iter().find(|s| s.target == gone.target);
        if open.is_none() {
            let closed = PoolStats {
                size: 0,
                idle: 0,
                max: gone.stats.max,
                waiting: 0,
            };
            set_pool(&gone.target, &closed);
        }
        if let Some((source, _)) = &gone.lease
            && open
                .and_then(|s| s.lease.as_ref())
                .is_none_or(|(now, _)| now != source)
        {
            metrics::gauge!(LEASE_SECONDS_LEFT, "target" => gone.target.clone(), "source" => source.clone())
                .set(f64::NAN);
        }
    }
    for sampled in now {
        set_pool(&sampled.target, &sampled.stats);
        if let Some((source, left)) = sampled.lease {
            metrics::gauge!(LEASE_SECONDS_LEFT, "target" => sampled.target, "source" => source)
                .set(left);
        }
    }
}

fn set_pool(target: &str, stats: &PoolStats) {
    metrics::gauge!(POOL_CONNECTIONS, "target" => target.to_owned()).set(stats.size);
    metrics::gauge!(POOL_IDLE, "target" => target.to_owned()).set(stats.idle as f64);
    metrics::gauge!(POOL_MAX, "target" => target.to_owned()).set(stats.max);
    metrics::gauge!(POOL_WAITING, "target" => target.to_owned()).set(stats.waiting as f64);
}

/// Counts a caller as waiting for a connection while it lives.
pub(crate) struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Waiting<'a> {
    pub(crate) fn enter(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A pool's state now (for operators: `dbcore-viewer`, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PoolStats {
    /// Connections the pool holds, idle or in use.
    pub size: u32,
    pub idle: usize,
    /// The most it may hold.
    pub max: u32,
    /// Callers of `session()` and the scopes waiting for a connection now (a direct
    /// `pool().acquire()` is sqlx's own and is not counted).
    pub waiting: usize,
}

pub(crate) fn pool_stats(pool: &DbPool, waiting: &std::sync::atomic::AtomicUsize) -> PoolStats {
    let (size, idle, max) = match pool {
        DbPool::Postgres(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        DbPool::MySql(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        DbPool::Sqlite(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
    };
    PoolStats {
        size,
        idle,
        max,
        waiting: waiting.load(std::sync::atomic::Ordering::SeqCst),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_target_and_a_lease_no_longer_held_do_not_keep_their_last_values() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let last = Mutex::new(Vec::new());
        let has =
            |text: &str, series: &str| assert!(text.contains(series), "{series} not in\n{text}");
        let stats = |size| PoolStats {
            size,
            idle: 1,
            max: 8,
            waiting: 0,
        };
        let sampled = |target: &str, size, lease: Option<f64>| Sampled {
            target: target.into(),
            stats: stats(size),
            lease: lease.map(|left| ("vault".to_owned(), left)),
        };
        metrics::with_local_recorder(&recorder, || {
            set_gauges(
                vec![sampled("a", 3, Some(1800.0)), sampled("b", 2, None)],
                &last,
            );
        });
        let text = handle.render();
        has(
            &text,
            r#"dbcore_lease_expiry_seconds{target="a",source="vault"} 1800"#,
        );
        has(&text, r#"dbcore_pool_connections{target="b"} 2"#);
        // `a` falls back to a static credential; `b` is closed.
        metrics::with_local_recorder(&recorder, || {
            set_gauges(vec![sampled("a", 3, None)], &last);
        });
        let text = handle.render();
        has(
            &text,
            r#"dbcore_lease_expiry_seconds{target="a",source="vault"} NaN"#,
        );
        has(&text, r#"dbcore_pool_connections{target="b"} 0"#);
        has(&text, r#"dbcore_pool_connections{target="a"} 3"#);
    }
}
