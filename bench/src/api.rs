//! The standard API against raw sqlx (and the cold start against dm-dbcore): hot path, checkout,
//! cold start, resolution, and concurrency at first use.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use domain::{CredentialChain, CredentialSource, Env, MapEnv, TargetIdentity};
use project_core::db::connections::laptop;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tests::bin::ConfigDir;

use crate::{header, median, ms, row};

pub(crate) const PASSWORD: &str = "api-bench-pw";

/// The process environment for the laptop module, counting password reads (= resolutions).
struct CountingEnv {
    inner: MapEnv,
    password_reads: AtomicUsize,
}

impl Env for CountingEnv {
    fn var(&self, name: &str) -> Option<String> {
        if name == "PROJECT_DB_PASSWORD" {
            self.password_reads.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.var(name)
    }
}

/// `laptop`'s settings pointed at the throwaway cluster, password from a pgpass file.
pub(crate) fn laptop_env(pg: &tests::pg::PgCluster, dir: &Path) -> Vec<(String, String)> {
    vec![
        ("PROJECT_DB_HOST".into(), "127.0.0.1".into()),
        ("PROJECT_DB_PORT".into(), pg.port().to_string()),
        ("PROJECT_DB_USER".into(), "api_bench".into()),
        ("PROJECT_DB_DATABASE".into(), "api_bench".into()),
        (
            "PROJECT_DB_PGPASS".into(),
            dir.join("pgpass").display().to_string(),
        ),
        ("PROJECT_DB_KEYRING_STORE".into(), "keyutils".into()),
        (
            "PROJECT_CACHE_DIR".into(),
            dir.join("cache").display().to_string(),
        ),
        ("HOME".into(), dir.display().to_string()),
    ]
}

async fn transactions_dbcore(tasks: usize, per_task: usize) -> Result<Duration> {
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                let id = ((t * per_task + i) % 10_000 + 1) as i32;
                laptop::session_scope(async |tx| {
                    let v: String = sqlx::query_scalar("select v from kv where id = $1")
                        .bind(id)
                        .fetch_one(&mut **tx)
                        .await
                        .map_err(|cause| project_core::DbError::Query {
                            target: String::new(),
                            cause,
                        })?;
                    Ok::<_, project_core::DbError>(v)
                })
                .await?;
            }
            Ok::<_, project_core::DbError>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(started.elapsed())
}

async fn transactions_raw(pool: &sqlx::PgPool, tasks: usize, per_task: usize) -> Result<Duration> {
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let pool = pool.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                let id = ((t * per_task + i) % 10_000 + 1) as i32;
                let mut tx = pool.begin().await?;
                let _v: String = sqlx::query_scalar("select v from kv where id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Ok::<_, sqlx::Error>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(started.elapsed())
}

pub async fn run(transactions: usize, cold_runs: usize) -> Result<()> {
    let pg = tests::pg::cluster().context("PostgreSQL could not be started")?;
    pg.create_role_and_database("api_bench", PASSWORD).await;
    let dir = ConfigDir::new();
    let pgpass = dir.secret_file(
        "pgpass",
        &format!("127.0.0.1:{}:api_bench:api_bench:{PASSWORD}\n", pg.port()),
    );
    let raw = raw_pool(pg).await?;
    let mut inner = MapEnv::new();
    for (k, v) in laptop_env(pg, dir.path()) {
        inner.set(k, v);
    }
    let env = Arc::new(CountingEnv {
        inner,
        password_reads: AtomicUsize::new(0),
    });
    project_core::configure(project_core::context_with(None, env.clone()));
    // The case numbers are the order of the report; first use must run before anything opens.
    let first = first_use(&env).await?;
    println!();
    println!("standard API against raw sqlx, PostgreSQL on 127.0.0.1, pool of 10 on both sides");
    header("raw sqlx");
    hot_path(&raw, transactions).await?;
    checkouts(&raw, transactions).await?;
    resolution(pg, &dir).await?;
    println!(
        "first use: 100 concurrent db() calls took {:.2} ms and made {} DatabaseConnection(s) and {} credential resolution(s); a later db() takes {:.4} ms",
        ms(first.took),
        first.connections,
        first.resolutions,
        ms(first.warm_call)
    );
    crate::cold::compare(pg, &dir, &pgpass, cold_runs)
}

/// The baseline's pool, and the table both sides read.
async fn raw_pool(pg: &tests::pg::PgCluster) -> Result<sqlx::PgPool> {
    let raw_options = PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(pg.port())
        .username("api_bench")
        .password(PASSWORD)
        .database("api_bench");
    let raw = PgPoolOptions::new()
        .max_connections(10)
        .connect_with(raw_options)
        .await?;
    sqlx::raw_sql("create table kv (id int primary key, v text not null); insert into kv select g, 'value ' || g from generate_series(1, 10000) g; analyze kv")
        .execute(&raw)
        .await?;
    Ok(raw)
}

/// What 100 concurrent first calls of `db()` did.
struct FirstUse {
    took: Duration,
    connections: usize,
    resolutions: usize,
    warm_call: Duration,
}

/// Case 5: Concurrency at first use: 100 tasks, one resolution, one pool.
async fn first_use(env: &CountingEnv) -> Result<FirstUse> {
    let started = Instant::now();
    let firsts: Vec<_> = (0..100).map(|_| tokio::spawn(laptop::db())).collect();
    let mut addresses = Vec::new();
    for f in firsts {
        addresses.push(f.await?? as *const _ as usize);
    }
    let took = started.elapsed();
    addresses.dedup();
    let resolutions = env.password_reads.load(Ordering::SeqCst);
    let single_started = Instant::now();
    let _ = laptop::db().await?;
    Ok(FirstUse {
        took,
        connections: addresses.len(),
        resolutions,
        warm_call: single_started.elapsed(),
    })
}

/// Case 1: Hot path, 1 and 8 tasks; alternating, medians of 3.
async fn hot_path(raw: &sqlx::PgPool, transactions: usize) -> Result<()> {
    for tasks in [1usize, 8] {
        let per_task = transactions / tasks;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        transactions_dbcore(tasks, per_task / 10).await?; // warm-up
        transactions_raw(raw, tasks, per_task / 10).await?;
        for _ in 0..3 {
            ours.push(transactions_dbcore(tasks, per_task).await?);
            theirs.push(transactions_raw(raw, tasks, per_task).await?);
        }
        let (o, t) = (median(&mut ours), median(&mut theirs));
        row(
            &format!("{} read transactions, {tasks} task(s)", per_task * tasks),
            o,
            t,
            "≥ 0.97x raw throughput",
        );
    }
    Ok(())
}

/// Case 2: session() against pool.acquire().
async fn checkouts(raw: &sqlx::PgPool, transactions: usize) -> Result<()> {
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let db = laptop::db().await?;
    for _ in 0..3 {
        let started = Instant::now();
        for _ in 0..transactions {
            drop(db.session::<sqlx::Postgres>().await?);
        }
        ours.push(started.elapsed());
        let started = Instant::now();
        for _ in 0..transactions {
            drop(raw.acquire().await?);
        }
        theirs.push(started.elapsed());
    }
    row(
        &format!("{transactions} session() / acquire() checkouts"),
        median(&mut ours),
        median(&mut theirs),
        "—",
    );
    Ok(())
}

/// Case 4: Resolution: a 10,000-line pgpass (match on the last line); a chain of env (miss),
/// keyring (mock, miss), pgpass (hit), against only reading the file.
async fn resolution(pg: &tests::pg::PgCluster, dir: &ConfigDir) -> Result<()> {
    let mut big = String::new();
    for i in 0..9_999 {
        big.push_str(&format!("host{i}:5432:db{i}:user{i}:pw{i}\n"));
    }
    big.push_str(&format!(
        "127.0.0.1:{}:api_bench:api_bench:{PASSWORD}\n",
        pg.port()
    ));
    let big_path = dir.secret_file("pgpass-10000", &big);
    let identity = TargetIdentity {
        name: "laptop".into(),
        kind: domain::DbKind::Postgres,
        host: Some("127.0.0.1".into()),
        port: Some(pg.port()),
        database: Some("api_bench".into()),
        user: Some("api_bench".into()),
    };
    let file_env: Arc<dyn Env> =
        Arc::new(MapEnv::new().with("PROJECT_DB_PGPASS", big_path.as_str()));
    let pgpass_source = adapters::credentials::PgpassSource::new("PROJECT_DB", file_env.clone());
    let chain = miss_miss_hit_chain(file_env)?;
    let (mut direct, mut chained, mut sqlx_side) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..200 {
        let t = Instant::now();
        let found = pgpass_source.lookup(&identity).await?;
        direct.push(t.elapsed());
        assert!(matches!(found, domain::Lookup::Found(_)));
        let t = Instant::now();
        let resolved = chain.resolve(&identity).await;
        chained.push(t.elapsed());
        assert!(resolved.credential.is_some());
        // The floor: only reading the file, no parsing.
        let t = Instant::now();
        let bytes = std::fs::read(&big_path)?;
        sqlx_side.push(t.elapsed());
        assert!(!bytes.is_empty());
    }
    row(
        "pgpass lookup, 10,000 lines, last matches",
        median(&mut direct),
        median(&mut sqlx_side),
        "vs only reading the file",
    );
    row(
        "chain env (miss), keyring (mock, miss), pgpass",
        median(&mut chained),
        median(&mut direct),
        "vs pgpass alone",
    );
    Ok(())
}

/// env (miss), keyring (an empty mock store, miss), pgpass (hit).
fn miss_miss_hit_chain(file_env: Arc<dyn Env>) -> Result<CredentialChain> {
    let mock_store = adapters::credentials::keyring::OpenedStore {
        store: keyring_core::mock::Store::new()?,
        name: "mock",
        why: "bench".into(),
    };
    Ok(CredentialChain::new(vec![
        Arc::new(adapters::credentials::EnvSource::new(
            "PROJECT_DB",
            file_env.clone(),
        )) as Arc<dyn CredentialSource>,
        Arc::new(adapters::credentials::KeyringSource::with_store(
            None,
            mock_store,
            file_env.clone(),
        )),
        Arc::new(adapters::credentials::PgpassSource::new(
            "PROJECT_DB",
            file_env,
        )),
    ]))
}
