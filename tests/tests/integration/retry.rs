//! The retrying scope against real PostgreSQL: conflicting serializable transactions all
//! commit exactly once; a restart under four tasks of reads fails none; under writes every
//! failure is retried to success or reported as commit-outcome-unknown, and the table agrees
//! with what was acknowledged.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use domain::MapEnv;
use project_core::db::{DatabaseConnection, RetryObserver, RetryPolicy, Transience};
use project_core::{DbError, context_with, registry};
use sqlx::Postgres;
use tests::bin::ConfigDir;
use tests::pg::{PgCluster, cluster, own_cluster};

async fn open(
    pg: &PgCluster,
    role: &str,
    password: &str,
    pool_size: u32,
) -> (ConfigDir, DatabaseConnection) {
    let config = ConfigDir::new();
    config.target(
        "r",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{role}\"\nuser = \"{role}\"\nsources = [\"env\"]\nenv_prefix = \"RT\"\nconnect_timeout = \"2s\"\n[pool]\nmax_connections = {pool_size}\nacquire_timeout = \"3s\"\n",
            pg.port()
        ),
    );
    let env = MapEnv::new().with("RT_PASSWORD", password);
    let context = context_with(Some(config.path()), Arc::new(env));
    let db = registry::open("r", &context).await.expect("opens");
    (config, db)
}

#[derive(Default)]
struct Counted(AtomicU64);

impl RetryObserver for Counted {
    fn retrying(&self, _: u32, _: Transience, _: &str) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn conflicting_serializable_transactions_all_commit_exactly_once() {
    let Some(pg) = cluster() else { return };
    pg.create_role_and_database("rt_serial", "pw-serial").await;
    let (_config, db) = open(pg, "rt_serial", "pw-serial", 8).await;
    let db = Arc::new(db);
    let pool = db.pool::<Postgres>().unwrap();
    sqlx::query("create table counter (id int primary key, n int not null)")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("insert into counter values (1, 0)")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("create table done (task int primary key)")
        .execute(pool)
        .await
        .unwrap();
    let retries = Arc::new(Counted::default());
    let policy = RetryPolicy {
        max_attempts: 50,
        first_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(100),
        idempotent: false,
        observer: Some(retries.clone()),
    };
    let tasks: Vec<_> = (0..8)
        .map(|task: i32| {
            let db = db.clone();
            let policy = policy.clone();
            tokio::spawn(async move {
                db.session_scope_retry::<Postgres, (), DbError, _>(&policy, |tx| {
                    Box::pin(async move {
                        sqlx::query("set transaction isolation level serializable")
                            .execute(&mut **tx)
                            .await
                            .map_err(|e| tx.query_error(e))?;
                        let n: i32 = sqlx::query_scalar("select n from counter where id = 1")
                            .fetch_one(&mut **tx)
                            .await
                            .map_err(|e| tx.query_error(e))?;
                        // Every transaction reads before any writes: they overlap and conflict.
                        sqlx::query("select pg_sleep(0.05)")
                            .execute(&mut **tx)
                            .await
                            .map_err(|e| tx.query_error(e))?;
                        sqlx::query("update counter set n = $1 where id = 1")
                            .bind(n + 1)
                            .execute(&mut **tx)
                            .await
                            .map_err(|e| tx.query_error(e))?;
                        sqlx::query("insert into done values ($1)")
                            .bind(task)
                            .execute(&mut **tx)
                            .await
                            .map_err(|e| tx.query_error(e))?;
                        Ok(())
                    })
                })
                .await
            })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap()
            .expect("every transaction ends committed");
    }
    let n: i32 = sqlx::query_scalar("select n from counter")
        .fetch_one(pool)
        .await
        .unwrap();
    let done: i64 = sqlx::query_scalar("select count(*) from done")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!((n, done), (8, 8), "each exactly once");
    assert!(
        retries.0.load(Ordering::SeqCst) > 0,
        "the transactions did conflict"
    );
    db.close().await;
}

#[tokio::test]
async fn a_restart_under_four_tasks_fails_no_read_and_every_write_is_accounted_for() {
    let Some(pg) = own_cluster() else { return };
    pg.create_role_and_database("rt_restart", "pw-restart")
        .await;
    // Four tasks and a fifth that is certainly inside a transaction when the server restarts.
    let (_config, db) = open(&pg, "rt_restart", "pw-restart", 5).await;
    let db = Arc::new(db);
    sqlx::query("create table w (id bigint primary key)")
        .execute(db.pool::<Postgres>().unwrap())
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let next_id = Arc::new(AtomicU64::new(1));
    let retries = Arc::new(Counted::default());
    let policy = RetryPolicy {
        observer: Some(retries.clone()),
        ..RetryPolicy::default()
    };
    // The reads may be run again whatever became of their COMMIT (a restart can answer one
    // with 57P01, and then nobody knows whether it "committed"): idempotent.
    let reads = RetryPolicy {
        idempotent: true,
        ..policy.clone()
    };
    // Whether one of the four is inside a transaction at the moment of the restart is
    // chance (between transactions, the pool's ping replaces a dead connection unseen); the
    // fifth's first attempt sleeps in the server until the restart ends it (57P01), so a
    // retry is certain, and its second attempt must then succeed.
    let sleeper_attempts = Arc::new(AtomicU64::new(0));
    let sleeper = {
        let (db, reads, attempts) = (db.clone(), reads.clone(), sleeper_attempts.clone());
        tokio::spawn(async move {
            db.session_scope_retry::<Postgres, (), DbError, _>(&reads, move |tx| {
                let first = attempts.fetch_add(1, Ordering::SeqCst) == 0;
                Box::pin(async move {
                    let sql = if first {
                        "select pg_sleep(60)"
                    } else {
                        "select 1"
                    };
                    sqlx::query(sql)
                        .execute(&mut **tx)
                        .await
                        .map(|_| ())
                        .map_err(|e| tx.query_error(e))
                })
            })
            .await
        })
    };
    // Two tasks read, two write; each counts what happened to it.
    let tasks: Vec<_> = (0..4)
        .map(|task| {
            let (db, stop, next_id, policy, reads) = (
                db.clone(),
                stop.clone(),
                next_id.clone(),
                policy.clone(),
                reads.clone(),
            );
            tokio::spawn(async move {
                let (mut ok, mut failed, mut acked, mut unknown) =
                    (0u64, Vec::new(), Vec::new(), Vec::new());
                while !stop.load(Ordering::SeqCst) {
                    let outcome = if task < 2 {
                        db.session_scope_retry::<Postgres, (), DbError, _>(&reads, |tx| {
                            Box::pin(async move {
                                sqlx::query("select 1")
                                    .execute(&mut **tx)
                                    .await
                                    .map(|_| ())
                                    .map_err(|e| tx.query_error(e))
                            })
                        })
                        .await
                        .map(|()| None)
                    } else {
                        let id = i64::try_from(next_id.fetch_add(1, Ordering::SeqCst)).unwrap();
                        let written = db
                            .session_scope_retry::<Postgres, (), DbError, _>(&policy, |tx| {
                                Box::pin(async move {
                                    sqlx::query("insert into w values ($1)")
                                        .bind(id)
                                        .execute(&mut **tx)
                                        .await
                                        .map(|_| ())
                                        .map_err(|e| tx.query_error(e))
                                })
                            })
                            .await;
                        if let Err(DbError::CommitOutcomeUnknown { .. }) = &written {
                            unknown.push(id);
                        }
                        written.map(|()| Some(id))
                    };
                    match outcome {
                        Ok(Some(id)) => acked.push(id),
                        Ok(None) => ok += 1,
                        Err(DbError::CommitOutcomeUnknown { .. }) => {}
                        Err(error) => failed.push(error.to_string()),
                    }
                }
                (task, ok, failed, acked, unknown)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restarted = Instant::now();
    // pg_ctl waits for the restart; on its own thread, so that the four tasks go on running
    // against the server while it is down (blocking this runtime would freeze them at whatever
    // point they had reached, and the pool's ping before handing out a connection could then
    // replace every dead one unseen).
    // (Kept to the end: dropping the cluster stops its server.)
    let _pg = tokio::task::spawn_blocking(move || {
        pg.restart();
        pg
    })
    .await
    .unwrap();
    let restart_took = restarted.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    let (mut acked, mut unknown) = (BTreeSet::new(), BTreeSet::new());
    for task in tasks {
        let (task, ok, failed, task_acked, task_unknown) = task.await.unwrap();
        assert!(
            failed.is_empty(),
            "task {task}: failed transactions after a {restart_took:?} restart: {failed:?}"
        );
        if task < 2 {
            assert!(ok > 0, "task {task} read");
        }
        acked.extend(task_acked);
        unknown.extend(task_unknown);
    }
    let rows: Vec<i64> = sqlx::query_scalar("select id from w")
        .fetch_all(db.pool::<Postgres>().unwrap())
        .await
        .unwrap();
    let rows: BTreeSet<i64> = rows.into_iter().collect();
    assert!(
        acked.is_subset(&rows),
        "every acknowledged write is in the table"
    );
    let extra: BTreeSet<i64> = rows.difference(&acked).copied().collect();
    assert!(
        extra.is_subset(&unknown),
        "a row nobody acknowledged had an unknown outcome: {extra:?} vs {unknown:?}"
    );
    assert!(!acked.is_empty());
    assert!(
        retries.0.load(Ordering::SeqCst) > 0,
        "the restart was felt, and retried"
    );
    sleeper
        .await
        .unwrap()
        .expect("the transaction the restart ended was run again");
    assert_eq!(sleeper_attempts.load(Ordering::SeqCst), 2);
    db.close().await;
}
