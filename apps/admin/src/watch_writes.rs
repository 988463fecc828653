//! What `ping --watch --write` and `--retry` add: a table of this run's own, one row per
//! transaction, checked at the end against what was acknowledged; and the outages seen.
//!
//! Each transaction takes its row id before its first attempt, so a retried transaction
//! inserts the same id again and the primary key makes a double write impossible (it would
//! fail, visibly). At the end every acknowledged id must be in the table (none lost), and
//! every id in it must be acknowledged or have an unknown commit outcome.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use domain::DbKind;
use project_core::DbError;
use project_core::db::{DatabaseConnection, RetryObserver, Transience};

/// The table of one run, named so that no two runs share one.
#[derive(Debug)]
pub struct WriteTable {
    name: String,
    next_id: AtomicI64,
    acknowledged: Mutex<Vec<i64>>,
    /// The ids of transactions whose COMMIT outcome is unknown: in the table or not, both
    /// are fine for them, and only for them.
    in_doubt: Mutex<Vec<i64>>,
}

/// What the table holds against what was acknowledged.
#[derive(Debug, PartialEq, Eq)]
pub struct WriteReport {
    pub acknowledged: usize,
    pub in_table: usize,
    pub outcome_unknown: u64,
    /// Acknowledged ids not in the table: must be none.
    pub lost: usize,
    /// Ids in the table nobody saw acknowledged or in doubt: must be none.
    pub unexplained: usize,
}

impl WriteReport {
    pub fn holds(&self) -> bool {
        self.lost == 0 && self.unexplained == 0
    }
}

impl WriteTable {
    /// Creates `dbcore_watch_<random>` on the target.
    pub async fn create(db: &DatabaseConnection) -> Result<Self, DbError> {
        let name = format!("dbcore_watch_{:08x}", rand::random::<u32>());
        let sql = format!("create table {name} (id bigint primary key, task integer not null)");
        project_core::on_pool!(db.any_pool(), pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(pool).await.map(|_| ())
        })
        .map_err(|cause| query_error(db, cause))?;
        Ok(Self {
            name,
            next_id: AtomicI64::new(1),
            acknowledged: Mutex::new(Vec::new()),
            in_doubt: Mutex::new(Vec::new()),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id the next transaction writes (kept across its retries).
    pub fn take_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    /// The insert a transaction runs, with its placeholders for `kind`.
    pub fn insert_sql(&self, kind: DbKind) -> String {
        match kind {
            DbKind::Postgres => format!("insert into {} (id, task) values ($1, $2)", self.name),
            _ => format!("insert into {} (id, task) values (?, ?)", self.name),
        }
    }

    pub fn acknowledged(&self, id: i64) {
        lock(&self.acknowledged).push(id);
    }

    pub fn in_doubt(&self, id: i64) {
        lock(&self.in_doubt).push(id);
    }

    /// Drops the table without reading it (a run that ends before it wrote anything).
    pub async fn drop_table(&self, db: &DatabaseConnection) {
        let drop = format!("drop table {}", self.name);
        let dropped: Result<(), sqlx::Error> = project_core::on_pool!(db.any_pool(), pool => {
            sqlx::query(sqlx::AssertSqlSafe(drop.clone())).execute(pool).await.map(|_| ())
        });
        if let Err(error) = dropped {
            tracing::warn!(table = %self.name, %error, "could not drop the watch table");
        }
    }

    /// Reads the table back and compares; then drops it (retrying a few times, since this
    /// runs right after whatever the operator rehearsed).
    pub async fn verify_and_drop(&self, db: &DatabaseConnection) -> Result<WriteReport, DbError> {
        let select = format!("select id from {}", self.name);
        let mut last = None;
        let mut ids = None;
        for _ in 0..20 {
            let read: Result<Vec<i64>, sqlx::Error> = project_core::on_pool!(db.any_pool(), pool => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(select.clone())).fetch_all(pool).await
            });
            match read {
                Ok(read) => {
                    ids = Some(read);
                    break;
                }
                Err(error) => last = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let Some(ids) = ids else {
            return Err(query_error(db, last.unwrap_or(sqlx::Error::PoolTimedOut)));
        };
        self.drop_table(db).await;
        let in_table: BTreeSet<i64> = ids.into_iter().collect();
        let acknowledged: BTreeSet<i64> = lock(&self.acknowledged).iter().copied().collect();
        let in_doubt: BTreeSet<i64> = lock(&self.in_doubt).iter().copied().collect();
        Ok(WriteReport {
            acknowledged: acknowledged.len(),
            in_table: in_table.len(),
            outcome_unknown: u64::try_from(in_doubt.len()).unwrap_or(u64::MAX),
            lost: acknowledged.difference(&in_table).count(),
            // Each row must be acknowledged, or be one of the transactions in doubt.
            unexplained: in_table
                .iter()
                .filter(|id| !acknowledged.contains(id) && !in_doubt.contains(id))
                .count(),
        })
    }
}

fn query_error(db: &DatabaseConnection, cause: sqlx::Error) -> DbError {
    DbError::Query {
        target: db.name().to_owned(),
        cause,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Outages: from the first failure (a failed attempt, retried or not) to the next success.
#[derive(Debug)]
pub struct Outages {
    started: Instant,
    state: Mutex<OutageState>,
    retries: AtomicU64,
}

#[derive(Debug, Default)]
struct OutageState {
    open_since: Option<Instant>,
    /// Each outage: when it began (since the start) and how long it lasted.
    seen: Vec<(Duration, Duration)>,
}

impl Outages {
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            state: Mutex::new(OutageState::default()),
            retries: AtomicU64::new(0),
        }
    }

    pub fn failed(&self) {
        let mut state = lock(&self.state);
        if state.open_since.is_none() {
            state.open_since = Some(Instant::now());
        }
    }

    pub fn succeeded(&self) {
        let mut state = lock(&self.state);
        if let Some(since) = state.open_since.take() {
            let began = since.saturating_duration_since(self.started);
            state.seen.push((began, since.elapsed()));
        }
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::SeqCst)
    }

    /// `outages: none`, or each one, and one still open at the end.
    pub fn line(&self) -> String {
        let state = lock(&self.state);
        let mut parts: Vec<String> = state
            .seen
            .iter()
            .map(|(began, lasted)| {
                format!(
                    "{:.2}s from t={:.1}s",
                    lasted.as_secs_f64(),
                    began.as_secs_f64()
                )
            })
            .collect();
        if let Some(since) = state.open_since {
            parts.push(format!(
                "still failing since t={:.1}s",
                since.saturating_duration_since(self.started).as_secs_f64()
            ));
        }
        if parts.is_empty() {
            "outages: none".into()
        } else {
            format!("outages: {}", parts.join("; "))
        }
    }
}

impl RetryObserver for Outages {
    fn retrying(&self, _failed_attempt: u32, _why: Transience, _error: &str) {
        self.retries.fetch_add(1, Ordering::SeqCst);
        self.failed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_runs_from_the_first_failure_to_the_next_success() {
        let outages = Outages::new(Instant::now());
        assert_eq!(outages.line(), "outages: none");
        outages.succeeded();
        outages.failed();
        std::thread::sleep(Duration::from_millis(20));
        outages.failed();
        outages.retrying(1, Transience::ConnectionLost, "x");
        outages.succeeded();
        let line = outages.line();
        assert!(
            line.starts_with("outages: 0.0") && line.contains("from t=0.0s"),
            "{line}"
        );
        assert_eq!(lock(&outages.state).seen.len(), 1);
        assert!(lock(&outages.state).seen[0].1 >= Duration::from_millis(20));
        assert_eq!(outages.retries(), 1);
        outages.failed();
        assert!(
            outages.line().contains("still failing since"),
            "{}",
            outages.line()
        );
    }

    #[test]
    fn a_report_holds_only_with_nothing_lost_or_unexplained() {
        let report = |lost, unexplained| WriteReport {
            acknowledged: 3,
            in_table: 3,
            outcome_unknown: 0,
            lost,
            unexplained,
        };
        assert!(report(0, 0).holds());
        assert!(!report(1, 0).holds());
        assert!(!report(0, 1).holds());
    }
}
