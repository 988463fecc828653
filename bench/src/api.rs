//! The standard API against raw sqlx (and the cold start against dm-dbcore): hot path, checkout,
//! cold start, resolution, and concurrency at first use.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use domain::{CredentialChain, CredentialSource, Env, MapEnv, TargetIdentity};
use project_core::db::connections::laptop;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tests::bin::ConfigDir;

use crate::{header, median, ms, row};

const PASSWORD: &str = "api-bench-pw";

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
fn laptop_env(pg: &tests::pg::PgCluster, dir: &Path) -> Vec<(String, String)> {
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

fn time_process(mut command: Command) -> Result<Duration> {
    let started = Instant::now();
    let out = command.output()?;
    let took = started.elapsed();
    if !out.status.success() {
        bail!(
            "{:?} failed: {}",
            command.get_program(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

pub async fn run(transactions: usize, cold_runs: usize) -> Result<()> {
    let pg = tests::pg::cluster().context("PostgreSQL could not be started")?;
    pg.create_role_and_database("api_bench", PASSWORD).await;
    let dir = ConfigDir::new();
    let pgpass = dir.secret_file(
        "pgpass",
        &format!("127.0.0.1:{}:api_bench:api_bench:{PASSWORD}\n", pg.port()),
    );
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

    let mut inner = MapEnv::new();
    for (k, v) in laptop_env(pg, dir.path()) {
        inner.set(k, v);
    }
    let env = Arc::new(CountingEnv {
        inner,
        password_reads: AtomicUsize::new(0),
    });
    project_core::configure(project_core::context_with(None, env.clone()));

    // 5. Concurrency at first use: 100 tasks, one resolution, one pool.
    let started = Instant::now();
    let firsts: Vec<_> = (0..100).map(|_| tokio::spawn(laptop::db())).collect();
    let mut addresses = Vec::new();
    for f in firsts {
        addresses.push(f.await?? as *const _ as usize);
    }
    let first_use = started.elapsed();
    addresses.dedup();
    let resolutions = env.password_reads.load(Ordering::SeqCst);
    let single_started = Instant::now();
    let _ = laptop::db().await?;
    let warm_call = single_started.elapsed();

    // 1. Hot path, 1 and 8 tasks; alternating, medians of 3.
    println!();
    println!("standard API against raw sqlx, PostgreSQL on 127.0.0.1, pool of 10 on both sides");
    header("raw sqlx");
    for tasks in [1usize, 8] {
        let per_task = transactions / tasks;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        transactions_dbcore(tasks, per_task / 10).await?; // warm-up
        transactions_raw(&raw, tasks, per_task / 10).await?;
        for _ in 0..3 {
            ours.push(transactions_dbcore(tasks, per_task).await?);
            theirs.push(transactions_raw(&raw, tasks, per_task).await?);
        }
        let (o, t) = (median(&mut ours), median(&mut theirs));
        row(
            &format!("{} read transactions, {tasks} task(s)", per_task * tasks),
            o,
            t,
            "≥ 0.97x raw throughput",
        );
    }

    // 2. session() against pool.acquire().
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

    // 4. Resolution: a 10,000-line pgpass (match on the last line); a chain of env (miss),
    // keyring (mock, miss), pgpass (hit), against sqlx's own pgpass lookup.
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
    let mock_store = adapters::credentials::keyring::OpenedStore {
        store: keyring_core::mock::Store::new()?,
        name: "mock",
        why: "bench".into(),
    };
    let chain = CredentialChain::new(vec![
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
            file_env.clone(),
        )),
    ]);
    let rounds = 200;
    let (mut direct, mut chained, mut sqlx_side) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
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
    println!(
        "first use: 100 concurrent db() calls took {:.2} ms and made {} DatabaseConnection(s) and {resolutions} credential resolution(s); a later db() takes {:.4} ms",
        ms(first_use),
        addresses.len(),
        ms(warm_call)
    );

    // 3. Cold start: whole processes. dbcore (laptop module: pgpass, connect, metadata from a
    // current cache, one query) against bare sqlx (pgpass by sqlx, connect, one query) and
    // against dm-dbcore's pattern in Python.
    let me = std::env::current_exe()?;
    let env_pairs = laptop_env(pg, dir.path());
    let cold = |which: &str| {
        let mut c = Command::new(&me);
        c.arg(which)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        for (k, v) in &env_pairs {
            c.env(k, v);
        }
        // Bare sqlx finds the password itself, from PGPASSFILE and the PG* variables.
        c.env("PGPASSFILE", &pgpass)
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", pg.port().to_string())
            .env("PGUSER", "api_bench")
            .env("PGDATABASE", "api_bench");
        c
    };
    time_process(cold("cold-dbcore"))?; // writes the metadata cache
    time_process(cold("cold-sqlx"))?;
    let python = crate::metadata::python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/dm_dbcore_coldstart.py");
    let py = || {
        let mut c = Command::new(&python);
        c.arg(&script)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        for (k, v) in &env_pairs {
            c.env(k, v);
        }
        c
    };
    time_process(py())?; // writes dm-dbcore's pickle cache
    let (mut ours, mut bare, mut original) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..cold_runs {
        ours.push(time_process(cold("cold-dbcore"))?);
        bare.push(time_process(cold("cold-sqlx"))?);
        original.push(time_process(py())?);
    }
    let (o, b, p) = (median(&mut ours), median(&mut bare), median(&mut original));
    // Where dbcore's cold start goes, from inside one run.
    let mut profiled = cold("cold-dbcore");
    profiled.env("DBCORE_BENCH_PROFILE", "1");
    let out = profiled.output()?;
    print!("{}", String::from_utf8_lossy(&out.stderr));
    row(
        "cold start process (pgpass, connect, query)",
        o,
        b,
        "≤ 2x bare sqlx",
    );
    row(
        "cold start process, against dm-dbcore",
        o,
        p,
        "≥ 25x faster",
    );
    println!(
        "cold start: dbcore {:.1} ms, bare sqlx {:.1} ms ({:.2}x), dm-dbcore {:.1} ms ({:.1}x slower than dbcore)",
        ms(o),
        ms(b),
        o.as_secs_f64() / b.as_secs_f64(),
        ms(p),
        p.as_secs_f64() / o.as_secs_f64()
    );
    Ok(())
}

/// `bench cold-dbcore`: the whole cold start through the laptop connection module.
pub async fn cold_dbcore() -> Result<()> {
    let profile = std::env::var_os("DBCORE_BENCH_PROFILE").is_some();
    let started = Instant::now();
    laptop::db().await?;
    let opened = started.elapsed();
    laptop::metadata().await?;
    let with_metadata = started.elapsed();
    let value: String = laptop::session_scope(async |tx| {
        sqlx::query_scalar("select v from kv where id = 1")
            .fetch_one(&mut **tx)
            .await
            .map_err(|cause| {
                anyhow::Error::from(project_core::DbError::Query {
                    target: String::new(),
                    cause,
                })
            })
    })
    .await?;
    if value != "value 1" {
        bail!("unexpected value {value}");
    }
    if profile {
        #[allow(clippy::print_stderr, reason = "a profile asked for")]
        {
            eprintln!(
                "cold-dbcore: db() {:.2} ms, metadata {:.2} ms, query {:.2} ms",
                ms(opened),
                ms(with_metadata - opened),
                ms(started.elapsed() - with_metadata)
            );
        }
    }
    Ok(())
}

/// `bench cold-sqlx`: the same with a bare sqlx pool (sqlx reads PGPASSFILE itself).
pub async fn cold_sqlx() -> Result<()> {
    // PGHOST, PGPORT, PGUSER, PGDATABASE and PGPASSFILE are set by `bench api`.
    let options = PgConnectOptions::new();
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect_with(options)
        .await?;
    let mut tx = pool.begin().await?;
    let value: String = sqlx::query_scalar("select v from kv where id = 1")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    if value != "value 1" {
        bail!("unexpected value {value}");
    }
    Ok(())
}
