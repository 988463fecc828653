//! `admin ping TARGET --watch`: short transactions from several tasks through the target's
//! pool, reported once per interval: what an operator runs through a rotation or a failover.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use project_core::db::DatabaseConnection;
use project_core::{Context, DbError, DbKind, registry};

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    failures: BTreeMap<String, u64>,
}

impl Tally {
    fn absorb(&mut self, other: &mut Tally) {
        self.latencies.append(&mut other.latencies);
        for (kind, n) in std::mem::take(&mut other.failures) {
            *self.failures.entry(kind).or_default() += n;
        }
    }

    fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    fn line(&mut self) -> String {
        self.latencies.sort();
        let pct = |p: f64| -> String {
            if self.latencies.is_empty() {
                return "-".into();
            }
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            format!("{:.2}ms", self.latencies[i].as_secs_f64() * 1000.0)
        };
        let failures = if self.failures.is_empty() {
            "0".to_owned()
        } else {
            let parts: Vec<String> = self
                .failures
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            format!("{} ({})", self.failed(), parts.join(", "))
        };
        format!(
            "ok {:>7}  failed {failures}  p50 {}  p95 {}  p99 {}",
            self.latencies.len(),
            pct(0.50),
            pct(0.95),
            pct(0.99)
        )
    }
}

/// The classified name of a failure, for the report.
fn classify(error: &DbError) -> String {
    match error {
        DbError::Query { cause, .. } => adapters_kind(cause),
        DbError::Connect { error, .. } => error.kind.as_str().to_owned(),
        other => format!("{:?}", std::mem::discriminant(other)),
    }
}

fn adapters_kind(cause: &sqlx::Error) -> String {
    match cause {
        sqlx::Error::Database(db) => format!("database error {}", db.code().unwrap_or_default()),
        sqlx::Error::PoolTimedOut => "pool timeout".into(),
        sqlx::Error::Io(io) => format!("io {:?}", io.kind()),
        other => other
            .to_string()
            .split(':')
            .next()
            .unwrap_or("error")
            .to_owned(),
    }
}

/// One short transaction: begin, select, commit.
async fn probe(db: &DatabaseConnection) -> Result<(), DbError> {
    macro_rules! select_one {
        ($db:ty) => {
            db.session_scope::<$db, (), DbError, _>(async |tx| {
                match sqlx::query("select 1").execute(&mut **tx).await {
                    Ok(_) => Ok(()),
                    Err(cause) => Err(tx.query_error(cause)),
                }
            })
            .await
        };
    }
    match db.kind() {
        DbKind::Postgres => select_one!(sqlx::Postgres),
        DbKind::MySql => select_one!(sqlx::MySql),
        _ => select_one!(sqlx::Sqlite),
    }
}

#[allow(
    clippy::print_stdout,
    reason = "the watch report is the command's output"
)]
pub async fn run(
    context: &Context,
    target: &str,
    interval: Duration,
    duration: Duration,
    concurrency: usize,
) -> Result<ExitCode> {
    let db = Arc::new(registry::open(target, context).await?);
    println!(
        "watching {target} ({}) at {} for {}s with {concurrency} tasks",
        db.kind(),
        db.settings().location(),
        duration.as_secs()
    );
    let started = Instant::now();
    let deadline = started + duration;
    let window = Arc::new(Mutex::new(Tally::default()));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (db, window) = (db.clone(), window.clone());
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let t = Instant::now();
                let outcome = probe(&db).await;
                let took = t.elapsed();
                let failed = {
                    let mut w = window.lock().unwrap_or_else(|p| p.into_inner());
                    match &outcome {
                        Ok(()) => {
                            w.latencies.push(took);
                            false
                        }
                        Err(error) => {
                            *w.failures.entry(classify(error)).or_default() += 1;
                            true
                        }
                    }
                };
                if let (true, Err(error)) = (failed, &outcome) {
                    tracing::warn!(%error, "query failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    let mut total = Tally::default();
    let mut rotations_seen = db.rotations();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        ticker.tick().await;
        let mut this = std::mem::take(&mut *window.lock().unwrap_or_else(|p| p.into_inner()));
        let elapsed = started.elapsed().as_secs_f64();
        let rotations = db.rotations();
        if rotations != rotations_seen {
            println!(
                "t={elapsed:>6.1}s  rotation: new credentials in the pool ({} so far)",
                rotations
            );
            rotations_seen = rotations;
        }
        let lease = match db.lease_status().await {
            Some(l) => format!(
                "  lease {}s left, {}",
                l.expires_in.map_or(0, |d| d.as_secs()),
                if l.renewable {
                    "renewable"
                } else {
                    "not renewable"
                }
            ),
            None => String::new(),
        };
        println!("t={elapsed:>6.1}s  {}{lease}", this.line());
        total.absorb(&mut this);
        if Instant::now() >= deadline {
            break;
        }
    }
    for worker in workers {
        let _ = worker.await;
    }
    total.absorb(&mut window.lock().unwrap_or_else(|p| p.into_inner()));
    let failed = total.failed();
    println!(
        "total after {:.1}s: {}  rotations {}",
        started.elapsed().as_secs_f64(),
        total.line(),
        db.rotations()
    );
    db.close().await;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
