//! Health metrics for credentials and pools, through the `metrics` facade.
//!
//! Design decision: the library only records, through the `metrics` crate's macros, and an app
//! chooses whether anything listens (a Prometheus endpoint in the dbcore apps, `--metrics`);
//! without a recorder installed every call here is a no-op. Counters and histograms are
//! recorded where things happen (a resolution, a rotation, a checkout); the gauges that
//! describe a state — pool size, idle connections, waiting acquirers, seconds left on a lease —
//! are sampled from every open connection when the endpoint is scraped ([`sample`]), so a
//! scrape sees the state at that moment and an idle process does no work for them.
//!
//! Labels are the target's name, a source's name (`vault`, `pgpass`, `file` …), an outcome, an
//! error class, a trigger or a direction: fixed words and configured names, never a secret, a
//! user, a path or a lease id. The names and labels are listed in [`METRICS`] (and the README).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domain::{Attempt, ConnectErrorKind};

mod gauges;

pub use gauges::{PoolStats, sample};
pub(crate) use gauges::{Probe, Waiting, pool_stats, register};

/// Every metric dbcore records: name, type, labels, meaning (the README's table).
pub const METRICS: &[(&str, &str, &str, &str)] = &[
    (
        POOL_CONNECTIONS,
        "gauge",
        "target",
        "connections the pool holds, idle or in use",
    ),
    (POOL_IDLE, "gauge", "target", "idle connections in the pool"),
    (POOL_MAX, "gauge", "target", "the pool's maximum size"),
    (
        POOL_WAITING,
        "gauge",
        "target",
        "callers waiting for a connection (session, session_scope)",
    ),
    (
        ACQUIRE_SECONDS,
        "histogram",
        "target",
        "time to get a connection from the pool",
    ),
    (
        CONNECTION_ERRORS,
        "counter",
        "target, class",
        "failed connections or checkouts, by class (authentication_failed, timeout, tls …)",
    ),
    (
        RESOLUTIONS,
        "counter",
        "target, source, outcome",
        "answers of a credential source: found, not_found, unavailable, error",
    ),
    (
        RENEWALS,
        "counter",
        "target, source, outcome",
        "lease renewals: ok, failed",
    ),
    (
        ROTATIONS,
        "counter",
        "target, source, trigger",
        "credentials swapped into a live pool: lease_or_refusal, file_changed",
    ),
    (
        LEASE_SECONDS_LEFT,
        "gauge",
        "target, source",
        "seconds until the lease in use is assumed to end (NaN once no lease of that source is in use)",
    ),
    (
        LAST_REFRESH,
        "gauge",
        "target, source",
        "Unix time of the last credential put into the pool or lease renewed",
    ),
    (
        PROXY_CLIENTS,
        "counter",
        "target",
        "client connections accepted by dbcore proxy",
    ),
    (
        PROXY_ACTIVE_CLIENTS,
        "gauge",
        "target",
        "client connections dbcore proxy is serving",
    ),
    (
        PROXY_UPSTREAM_SECONDS,
        "histogram",
        "target",
        "time for dbcore proxy to connect and log in to the server",
    ),
    (
        PROXY_BYTES,
        "counter",
        "target, direction",
        "bytes relayed by dbcore proxy: to_server, to_client",
    ),
];

pub const POOL_CONNECTIONS: &str = "dbcore_pool_connections";
pub const POOL_IDLE: &str = "dbcore_pool_idle_connections";
pub const POOL_MAX: &str = "dbcore_pool_max_connections";
pub const POOL_WAITING: &str = "dbcore_pool_waiting_acquirers";
pub const ACQUIRE_SECONDS: &str = "dbcore_pool_acquire_duration_seconds";
pub const CONNECTION_ERRORS: &str = "dbcore_connection_errors_total";
pub const RESOLUTIONS: &str = "dbcore_credential_resolutions_total";
pub const RENEWALS: &str = "dbcore_lease_renewals_total";
pub const ROTATIONS: &str = "dbcore_credential_rotations_total";
pub const LEASE_SECONDS_LEFT: &str = "dbcore_lease_expiry_seconds";
pub const LAST_REFRESH: &str = "dbcore_credential_last_refresh_timestamp_seconds";
pub const PROXY_CLIENTS: &str = "dbcore_proxy_client_connections_total";
pub const PROXY_ACTIVE_CLIENTS: &str = "dbcore_proxy_active_client_connections";
pub const PROXY_UPSTREAM_SECONDS: &str = "dbcore_proxy_upstream_connect_duration_seconds";
pub const PROXY_BYTES: &str = "dbcore_proxy_relayed_bytes_total";

/// Registers each metric's description with the installed recorder (the `# HELP` lines).
pub fn describe() {
    for (name, kind, _, help) in METRICS {
        match *kind {
            "counter" => metrics::describe_counter!(*name, *help),
            "histogram" => metrics::describe_histogram!(*name, metrics::Unit::Seconds, *help),
            _ => metrics::describe_gauge!(*name, *help),
        }
    }
}

/// What a chain's sources answered for `target`, one count per source asked.
pub(crate) fn record_resolution(target: &str, attempts: &[Attempt]) {
    for attempt in attempts {
        metrics::counter!(
            RESOLUTIONS,
            "target" => target.to_owned(),
            "source" => attempt.source.clone(),
            "outcome" => attempt.outcome.as_str(),
        )
        .increment(1);
    }
}

/// A credential from `source` went into `target`'s live pool.
pub(crate) fn record_rotation(target: &str, source: &str, trigger: &'static str) {
    metrics::counter!(
        ROTATIONS,
        "target" => target.to_owned(),
        "source" => source.to_owned(),
        "trigger" => trigger,
    )
    .increment(1);
    record_refresh(target, source);
}

/// A lease renewal of `source` for `target`, and whether it went through.
pub(crate) fn record_renewal(target: &str, source: &str, ok: bool) {
    metrics::counter!(
        RENEWALS,
        "target" => target.to_owned(),
        "source" => source.to_owned(),
        "outcome" => if ok { "ok" } else { "failed" },
    )
    .increment(1);
    if ok {
        record_refresh(target, source);
    }
}

/// The credential of `target` from `source` was refreshed now (opened, rotated, renewed).
pub(crate) fn record_refresh(target: &str, source: &str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    metrics::gauge!(
        LAST_REFRESH,
        "target" => target.to_owned(),
        "source" => source.to_owned(),
    )
    .set(now.as_secs_f64());
}

/// A connection or checkout of `target` failed with `class`.
pub(crate) fn record_connection_error(target: &str, class: ConnectErrorKind) {
    metrics::counter!(
        CONNECTION_ERRORS,
        "target" => target.to_owned(),
        "class" => class.as_str(),
    )
    .increment(1);
}

/// How long a checkout from `target`'s pool took.
pub(crate) fn record_acquire(target: &str, took: Duration) {
    metrics::histogram!(ACQUIRE_SECONDS, "target" => target.to_owned()).record(took);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_lists_every_metric_with_its_type_and_labels() {
        let readme = include_str!("../../../README.md");
        for (name, kind, labels, _) in METRICS {
            let row = format!("| `{name}` | {kind} | {labels} |");
            assert!(readme.contains(&row), "README lacks {row}");
        }
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        for (name, kind, labels, _) in METRICS {
            assert!(name.starts_with("dbcore_"), "{name}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            assert_eq!(*kind == "counter", name.ends_with("_total"), "{name}");
            if *kind == "histogram" {
                assert!(name.ends_with("_seconds"), "{name}");
            }
            assert!(
                !labels.contains("user") && !labels.contains("lease_id"),
                "{name}"
            );
        }
    }

    #[test]
    fn recorded_series_carry_only_names_and_fixed_words() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe();
            record_resolution(
                "prod",
                &[
                    Attempt {
                        source: "env".into(),
                        outcome: domain::Outcome::NotFound,
                        detail: "PROD_PASSWORD is not set".into(),
                    },
                    Attempt {
                        source: "file".into(),
                        outcome: domain::Outcome::Found,
                        detail: "/run/secrets/canary-path".into(),
                    },
                ],
            );
            record_rotation("prod", "file", "file_changed");
            record_renewal("prod", "vault", false);
            record_connection_error("prod", ConnectErrorKind::AuthenticationFailed);
            record_acquire("prod", Duration::from_millis(3));
        });
        let text = handle.render();
        for series in [
            r#"dbcore_credential_resolutions_total{target="prod",source="env",outcome="not_found"} 1"#,
            r#"dbcore_credential_resolutions_total{target="prod",source="file",outcome="found"} 1"#,
            r#"dbcore_credential_rotations_total{target="prod",source="file",trigger="file_changed"} 1"#,
            r#"dbcore_lease_renewals_total{target="prod",source="vault",outcome="failed"} 1"#,
            r#"dbcore_connection_errors_total{target="prod",class="authentication_failed"} 1"#,
            r#"dbcore_pool_acquire_duration_seconds_count{target="prod"} 1"#,
            "# HELP dbcore_credential_rotations_total credentials swapped into a live pool",
        ] {
            assert!(text.contains(series), "{series} not in\n{text}");
        }
        assert!(
            !text.contains("canary") && !text.contains("PROD_PASSWORD"),
            "{text}"
        );
        assert!(
            text.contains(
                r#"dbcore_credential_last_refresh_timestamp_seconds{target="prod",source="file"}"#
            ),
            "a rotation is a refresh: {text}"
        );
        assert!(
            !text.contains(r#"last_refresh_timestamp_seconds{target="prod",source="vault"}"#),
            "a failed renewal is none: {text}"
        );
    }
}
