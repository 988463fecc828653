//! `dbcore ping TARGET --watch`: short transactions from several tasks through the target's
//! pool, reported once per interval: what an operator runs through a rotation or a failover.
//!
//! The numbers are bounded, checked when the command line is parsed and again by [`run`]:
//! `--interval` from 100 ms (a report line per interval; shorter would flood the terminal
//! and `0s` would mean "report continuously") to 1 h, `--duration` from 1 ms to 7 days (a
//! deadline must be a representable instant), `--concurrency` from 1 to 1024 tasks (each is
//! a client of the pool; more only queue for its connections). An interval longer than the
//! duration gives one report, at the end. Every task's outcome is counted: a task that
//! panicked counts as a failed query.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use project_core::db::lease::RotationTrigger;
use project_core::db::{DatabaseConnection, RetryPolicy};

use crate::watch_writes::{Outages, WriteTable};
use project_core::{Context, DbError, registry};

pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
pub const MAX_CONCURRENCY: usize = 1024;

fn duration_text(text: &str, flag: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{flag} takes a duration such as 1s, 500ms or 2m ({e})"))
}

fn check_interval(interval: Duration) -> Result<Duration, String> {
    if interval < MIN_INTERVAL || interval > MAX_INTERVAL {
        return Err(format!(
            "--interval must be between {} and {}",
            humantime::format_duration(MIN_INTERVAL),
            humantime::format_duration(MAX_INTERVAL)
        ));
    }
    Ok(interval)
}

fn check_duration(duration: Duration) -> Result<Duration, String> {
    if duration.is_zero() || duration > MAX_DURATION {
        return Err(format!(
            "--duration must be more than 0s and at most {}",
            humantime::format_duration(MAX_DURATION)
        ));
    }
    Ok(duration)
}

fn check_concurrency(tasks: usize) -> Result<usize, String> {
    if tasks == 0 || tasks > MAX_CONCURRENCY {
        return Err(format!(
            "--concurrency must be between 1 and {MAX_CONCURRENCY} tasks"
        ));
    }
    Ok(tasks)
}

/// `--interval` for clap.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    check_interval(duration_text(text, "--interval")?)
}

/// `--duration` for clap.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    check_duration(duration_text(text, "--duration")?)
}

/// `--concurrency` for clap.
pub fn parse_concurrency(text: &str) -> Result<usize, String> {
    let tasks = text.trim().parse::<usize>().map_err(|_| {
        format!("--concurrency takes a whole number of tasks, 1 to {MAX_CONCURRENCY}")
    })?;
    check_concurrency(tasks)
}

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
        DbError::CommitOutcomeUnknown { .. } => "commit outcome unknown".to_owned(),
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

/// Waits for every task; one that panicked (or was cancelled) is a failed query, not a lost
/// one: its last query never reported.
async fn join(workers: Vec<tokio::task::JoinHandle<()>>) -> Tally {
    let mut lost = Tally::default();
    for worker in workers {
        if let Err(error) = worker.await {
            let kind = if error.is_panic() {
                "task panicked"
            } else {
                "task cancelled"
            };
            *lost.failures.entry(kind.to_owned()).or_default() += 1;
        }
    }
    lost
}

/// One short transaction: begin, select (or insert one row of this run's table), commit;
/// through the retrying scope with `--retry`.
async fn probe(run: &Run, task: i32) -> Result<(), DbError> {
    let db = &*run.db;
    match (&run.writes, &run.retry) {
        (None, None) => project_core::on_pool!(db => session_scope::<(), DbError>(async |tx| {
            sqlx::query("select 1").execute(&mut **tx).await.map(|_| ()).map_err(|e| tx.query_error(e))
        })),
        (None, Some(policy)) => {
            project_core::on_pool!(db => session_scope_retry::<(), DbError>(policy, |tx| Box::pin(async move {
                sqlx::query("select 1").execute(&mut **tx).await.map(|_| ()).map_err(|e| tx.query_error(e))
            })))
        }
        (Some(table), retry) => {
            let id = table.take_id();
            let sql = table.insert_sql(db.kind());
            let outcome = match retry {
                None => project_core::on_pool!(db => session_scope::<(), DbError>(async |tx| {
                    let insert = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(id).bind(task);
                    insert.execute(&mut **tx).await.map(|_| ()).map_err(|e| tx.query_error(e))
                })),
                Some(policy) => {
                    project_core::on_pool!(db => session_scope_retry::<(), DbError>(policy, |tx| {
                        // Owned for the boxed attempt; the same id on every attempt.
                        let sql = sql.clone();
                        Box::pin(async move {
                            let insert = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(task);
                            insert.execute(&mut **tx).await.map(|_| ()).map_err(|e| tx.query_error(e))
                        })
                    }))
                }
            };
            match &outcome {
                Ok(()) => table.acknowledged(id),
                Err(DbError::CommitOutcomeUnknown { .. }) => table.in_doubt(id),
                Err(_) => {}
            }
            outcome
        }
    }
}

/// What `--watch` runs, shared by its tasks.
struct Run {
    db: Arc<DatabaseConnection>,
    /// Set when the run ends early (the reader of stdout went away, a signal): the tasks
    /// stop after their current transaction.
    stop: std::sync::atomic::AtomicBool,
    writes: Option<WriteTable>,
    retry: Option<RetryPolicy>,
    outages: Arc<Outages>,
}

/// The choices of `ping --watch`.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    pub interval: Duration,
    pub duration: Duration,
    pub concurrency: usize,
    /// Each transaction inserts a row into a table of this run's own.
    pub write: bool,
    /// Transactions go through the retrying scope.
    pub retry: bool,
}

#[allow(
    clippy::print_stdout,
    reason = "the watch report is the command's output"
)]
/// One line on standard output; an error instead of a panic when the reader has gone.
fn say(line: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write as _;
    writeln!(std::io::stdout().lock(), "{line}")
}

pub async fn run(context: &Context, target: &str, options: WatchOptions) -> Result<ExitCode> {
    let WatchOptions {
        interval,
        duration,
        concurrency,
        ..
    } = options;
    let checked = check_interval(interval)
        .and_then(|_| check_duration(duration))
        .and_then(|_| check_concurrency(concurrency));
    if let Err(reason) = checked {
        bail!(reason);
    }
    let db = Arc::new(registry::open(target, context).await?);
    let writes = match options.write {
        true => match WriteTable::create(&db).await {
            Ok(table) => Some(table),
            Err(error) => {
                db.close().await;
                return Err(error.into());
            }
        },
        false => None,
    };
    let started = Instant::now();
    let outages = Arc::new(Outages::new(started));
    // `select 1` may always run again; an insert only when nothing can have committed.
    let retry = options.retry.then(|| RetryPolicy {
        idempotent: !options.write,
        observer: Some(outages.clone()),
        ..RetryPolicy::default()
    });
    let what = match &writes {
        Some(table) => format!(", each inserting a row into {}", table.name()),
        None => String::new(),
    };
    let retried = if options.retry {
        ", retrying what is safe to retry"
    } else {
        ""
    };
    if let Err(e) = say(format_args!(
        "watching {target} ({}) at {} for {} with {concurrency} tasks{what}{retried}",
        db.kind(),
        db.settings().location(),
        humantime::format_duration(duration)
    )) {
        if let Some(table) = &writes {
            table.drop_table(&db).await;
        }
        db.close().await;
        return Err(e.into());
    }
    let Some(deadline) = started.checked_add(duration) else {
        bail!("--duration is too long for this clock");
    };
    let run = Arc::new(Run {
        db: db.clone(),
        stop: std::sync::atomic::AtomicBool::new(false),
        writes,
        retry,
        outages: outages.clone(),
    });
    let window = Arc::new(Mutex::new(Tally::default()));
    let workers = (0..concurrency)
        .map(|task| {
            let task = i32::try_from(task).unwrap_or(i32::MAX);
            tokio::spawn(work(run.clone(), task, window.clone(), deadline))
        })
        .collect();
    let (mut total, ended) = report(&db, &window, started, deadline, interval).await;
    // However the run ended, the tasks stop before the table is checked and dropped.
    run.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (mut closed, signalled) = match ended {
        Ended::Deadline => (None, None),
        Ended::Closed(error) => (Some(error), None),
        Ended::Signal(code) => (None, Some(code)),
    };
    let mut lost = join(workers).await;
    total.absorb(&mut lock(&window));
    total.absorb(&mut lost);
    let failed = total.failed();
    let retries = if options.retry {
        format!("  retries {}", outages.retries())
    } else {
        String::new()
    };
    // The outages line belongs to a rehearsal (--retry, --write); a plain watch ends with
    // its total, as scripts reading the last line expect.
    let outages_line = if options.retry || options.write {
        format!("\n{}", outages.line())
    } else {
        String::new()
    };
    if closed.is_none()
        && let Err(e) = say(format_args!(
            "total after {:.1}s: {}  rotations {}{retries}{outages_line}",
            started.elapsed().as_secs_f64(),
            total.line(),
            db.rotations(),
        ))
    {
        closed = Some(e);
    }
    let mut writes_hold = true;
    if let Some(table) = &run.writes {
        match table.verify_and_drop(&db).await {
            Ok(report) => {
                writes_hold = report.holds();
                if closed.is_none()
                    && let Err(e) = say(format_args!(
                        "writes: {} acknowledged, {} in the table, {} with an unknown commit outcome; lost acknowledged writes: {}, rows nobody acknowledged: {}",
                        report.acknowledged,
                        report.in_table,
                        report.outcome_unknown,
                        report.lost,
                        report.unexplained
                    ))
                {
                    closed = Some(e);
                }
            }
            Err(error) => {
                writes_hold = false;
                tracing::warn!(%error, "could not read the watch table back");
                let _ = say(format_args!(
                    "writes: could not read {} back ({error}); the table is kept for a look",
                    table.name()
                ));
            }
        }
    }
    db.close().await;
    let held = failed == 0 && writes_hold;
    if let Some(code) = signalled {
        return Ok(ExitCode::from(code));
    }
    match closed {
        // Nobody reads the report any more: quiet, unless the run saw a failure.
        Some(error) if held => Err(error.into()),
        _ if held => Ok(ExitCode::SUCCESS),
        _ => Ok(ExitCode::FAILURE),
    }
}

/// How the reporting loop ended.
enum Ended {
    Deadline,
    /// Standard output could not be written (the reader went away).
    Closed(std::io::Error),
    /// SIGINT or SIGTERM: the exit status the shell gives that signal (130, 143).
    Signal(u8),
}

/// The first SIGINT or SIGTERM, as the exit status for it; never, when neither can be watched.
async fn signalled() -> u8 {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
            _ = interrupt.recv() => 130,
            _ = terminate.recv() => 143,
        },
        _ => std::future::pending().await,
    }
}

/// The shared window's tally; a worker that panicked while holding it left it whole.
fn lock(window: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    window.lock().unwrap_or_else(|p| p.into_inner())
}

/// One task: probes until the deadline, counting each outcome in the shared window.
async fn work(run: Arc<Run>, task: i32, window: Arc<Mutex<Tally>>, deadline: Instant) {
    while Instant::now() < deadline && !run.stop.load(std::sync::atomic::Ordering::SeqCst) {
        let t = Instant::now();
        let outcome = probe(&run, task).await;
        let took = t.elapsed();
        match &outcome {
            Ok(()) => {
                run.outages.succeeded();
                lock(&window).latencies.push(took);
            }
            Err(error) => {
                run.outages.failed();
                *lock(&window).failures.entry(classify(error)).or_default() += 1;
            }
        }
        if let Err(error) = &outcome {
            tracing::warn!(%error, "query failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A line per interval until the deadline, and a line for each rotation seen. Returns the
/// tally of the windows reported, and the write error that ended it early: the reader of a
/// pipeline went away, and the caller still stops the workers and closes the connection (its
/// leases revoked).
async fn report(
    db: &DatabaseConnection,
    window: &Mutex<Tally>,
    started: Instant,
    deadline: Instant,
    interval: Duration,
) -> (Tally, Ended) {
    let mut total = Tally::default();
    let mut rotations_seen = db.rotations();
    let mut next = started;
    let signal = signalled();
    tokio::pin!(signal);
    loop {
        next = next.checked_add(interval).unwrap_or(deadline).min(deadline);
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            code = &mut signal => return (total, Ended::Signal(code)),
        }
        let mut this = std::mem::take(&mut *lock(window));
        let elapsed = started.elapsed().as_secs_f64();
        let rotations = db.rotations();
        if rotations != rotations_seen {
            let from = db.last_rotation().map_or_else(String::new, |note| {
                let why = match note.trigger {
                    RotationTrigger::FileChanged => "the file changed",
                    RotationTrigger::Lease => "lease or refusal",
                };
                format!(" from {} {} ({why})", note.source, note.origin)
            });
            if let Err(e) = say(format_args!(
                "t={elapsed:>6.1}s  rotation: new credentials in the pool{from} ({rotations} so far)"
            )) {
                return (total, Ended::Closed(e));
            }
            rotations_seen = rotations;
        }
        let lease = lease_text(db).await;
        let line = this.line();
        total.absorb(&mut this);
        if let Err(e) = say(format_args!("t={elapsed:>6.1}s  {line}{lease}")) {
            return (total, Ended::Closed(e));
        }
        if Instant::now() >= deadline {
            return (total, Ended::Deadline);
        }
    }
}

/// `  lease Ns left, renewable` when the credential is leased, else nothing.
async fn lease_text(db: &DatabaseConnection) -> String {
    match db.lease_status().await {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_huge_numbers_are_refused_with_the_bounds() {
        for zero in ["0s", "0ms", "0", " 0s ", "0ns"] {
            let error = parse_interval(zero).unwrap_err();
            assert!(
                error.starts_with("--interval must be between 100ms and 1h"),
                "{error}"
            );
            let error = parse_duration(zero).unwrap_err();
            assert!(
                error.starts_with("--duration must be more than 0s"),
                "{error}"
            );
        }
        for huge in [
            "9999999999y",
            "584542046091y",
            "2h",
            "10000000000000000000000s",
        ] {
            assert!(parse_interval(huge).is_err(), "{huge}");
        }
        for huge in ["8d", "9999999999y", "18446744073709551615s"] {
            assert!(parse_duration(huge).is_err(), "{huge}");
        }
        for bad in [
            "0",
            "-1",
            "1025",
            "18446744073709551616",
            "4\u{20ac}",
            "",
            "four",
        ] {
            let error = parse_concurrency(bad).unwrap_err();
            assert!(error.contains("1024"), "{error}");
            assert!(
                !error.contains('\u{20ac}'),
                "the input is not echoed: {error}"
            );
        }
        assert!(
            parse_interval("\u{20ac}")
                .unwrap_err()
                .starts_with("--interval takes a duration")
        );
    }

    #[test]
    fn the_bounds_themselves_are_accepted() {
        assert_eq!(parse_interval("100ms"), Ok(MIN_INTERVAL));
        assert_eq!(parse_interval("1h"), Ok(MAX_INTERVAL));
        assert_eq!(parse_duration("1ms"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_duration("7d"), Ok(MAX_DURATION));
        assert_eq!(parse_concurrency("1"), Ok(1));
        assert_eq!(parse_concurrency("1024"), Ok(MAX_CONCURRENCY));
    }

    #[tokio::test]
    async fn run_refuses_out_of_bounds_numbers_before_opening_anything() {
        let context = Context::new(None, Arc::new(project_core::context::ProcessEnv));
        for (interval, duration, tasks) in [
            (Duration::ZERO, Duration::from_secs(1), 1),
            (Duration::from_secs(1), Duration::ZERO, 1),
            (Duration::from_secs(1), Duration::from_secs(1), 0),
            (Duration::from_secs(1), Duration::MAX, 1),
            (Duration::MAX, Duration::from_secs(1), 1),
        ] {
            let options = WatchOptions {
                interval,
                duration,
                concurrency: tasks,
                write: false,
                retry: false,
            };
            let error = run(&context, "no-such-target", options)
                .await
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("--"), "{error}");
        }
    }

    #[tokio::test]
    async fn a_panicked_task_is_a_failed_query() {
        let workers = vec![
            tokio::spawn(async {}),
            tokio::spawn(async { panic!("a worker broke") }),
            tokio::spawn(std::future::pending::<()>()),
        ];
        workers[2].abort();
        let lost = join(workers).await;
        assert_eq!(lost.failed(), 2);
        assert_eq!(lost.failures.get("task panicked"), Some(&1));
        assert_eq!(lost.failures.get("task cancelled"), Some(&1));
    }
}
