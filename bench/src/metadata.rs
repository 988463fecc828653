//! Metadata: reflection and cache hits, dbcore against dm-dbcore (SQLAlchemy + pickle).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use domain::MapEnv;
use project_core::db::DatabaseConnection;
use project_core::metadata::CacheStatus;
use project_core::{Context, context_with, registry};
use tests::bin::ConfigDir;

use crate::{header, median, ms, row};

const PASSWORD: &str = "bench-pw";

/// The virtualenv with dm-dbcore, created on first use.
pub fn python() -> Result<PathBuf> {
    let venv = std::env::temp_dir().join("dbcore-bench-venv");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import dm_dbcore, sqlalchemy, psycopg"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        println!(
            "creating {} with dm-dbcore and psycopg (pip)…",
            venv.display()
        );
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()?
            .success()
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "dm-dbcore", "psycopg[binary]"])
                .status()?
                .success();
        if !ok {
            bail!("could not create the Python virtualenv for dm-dbcore");
        }
    }
    Ok(python)
}

fn generated_schema(tables: usize) -> String {
    let mut ddl = String::new();
    for i in 0..tables {
        let reference = if i == 0 {
            String::new()
        } else {
            format!(", parent_id int references t{:04}(id)", i / 2)
        };
        ddl.push_str(&format!(
            "create table t{i:04} (id serial primary key, name varchar(80) not null, \
             amount numeric(12,2) default 0, created timestamptz not null default now(), \
             note text, flags int[]{reference}, unique (name, created));\n\
             create index t{i:04}_amount on t{i:04} (amount);\n"
        ));
    }
    ddl
}

/// The `bench` target on the throwaway cluster, its password from the environment and its
/// metadata cache in the config directory.
fn bench_target(pg: &tests::pg::PgCluster) -> Result<(ConfigDir, Context)> {
    let config = ConfigDir::new();
    config.target(
        "bench",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"bench\"\nuser = \"bench\"\nsources = [\"env\"]\nenv_prefix = \"BENCH\"\n",
            pg.port()
        ),
    );
    let cache_dir = config.path().join("cache");
    let env = MapEnv::new().with("BENCH_PASSWORD", PASSWORD).with(
        "PROJECT_CACHE_DIR",
        cache_dir.to_str().context("utf-8 path")?,
    );
    let context = context_with(Some(config.path()), Arc::new(env));
    Ok((config, context))
}

/// dbcore's reflection alone (the adapter's catalog queries), at least 3 runs.
async fn dbcore_reflect(
    db: &DatabaseConnection,
    tables: usize,
    runs: usize,
) -> Result<Vec<Duration>> {
    let schemas = vec!["public".to_owned()];
    let mut reflect = Vec::new();
    for _ in 0..runs.max(3) {
        let started = Instant::now();
        let model = adapters::database::reflect::reflect(db.any_pool(), &schemas).await?;
        reflect.push(started.elapsed());
        if model.table_count() != tables {
            bail!(
                "reflected {} tables, expected {tables}",
                model.table_count()
            );
        }
    }
    Ok(reflect)
}

/// Times per step of the cache hit, by step name.
type Steps = BTreeMap<&'static str, Vec<Duration>>;

/// dbcore's full cache hit of `metadata()` on a fresh connection each run: the commit
/// horizon, then (when something committed since the cache was written: `after_a_commit`
/// commits a transaction before each run) the fingerprint query, and the cache file read.
async fn dbcore_hits(
    context: &Context,
    tables: usize,
    runs: usize,
    after_a_commit: bool,
) -> Result<(Vec<Duration>, Steps)> {
    let mut hits = Vec::new();
    let mut steps = Steps::default();
    let mut skipped = 0;
    while hits.len() < runs {
        let fresh = registry::open("bench", context).await?;
        fresh.ping().await?; // a warm pool connection, as in the Python side
        if after_a_commit {
            // A transaction with an id that commits: the server's snapshot moves on, as it
            // does on any database something writes to.
            sqlx::query("select txid_current()")
                .execute(fresh.pool::<sqlx::Postgres>()?)
                .await?;
        }
        let started = Instant::now();
        let (model, report) = fresh.metadata_with_report(false).await?;
        let took = started.elapsed();
        if report.status != CacheStatus::Used || model.table_count() != tables {
            bail!("expected a cache hit, got {:?}", report.status);
        }
        let fingerprinted = report.steps.iter().any(|(step, _)| *step == "fingerprint");
        if after_a_commit && !fingerprinted {
            bail!("expected the fingerprint computed: {:?}", report.steps);
        }
        if !after_a_commit && fingerprinted {
            // Something committed meanwhile (autovacuum analyzing the catalogs the 1,000
            // tables grew): that run measured the other case.
            skipped += 1;
            if skipped > runs * 4 {
                bail!("the database never stayed quiet for a run");
            }
            continue;
        }
        hits.push(took);
        for (step, took) in &report.steps {
            steps.entry(step).or_default().push(*took);
        }
    }
    Ok((hits, steps))
}

/// dm-dbcore's reflection and cache hit (SQLAlchemy + pickle) on the same database: the
/// medians of each.
fn python_side(
    pg: &tests::pg::PgCluster,
    config: &ConfigDir,
    tables: usize,
    reflect_runs: usize,
    hit_runs: usize,
) -> Result<(Duration, Duration)> {
    let python = python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/dm_dbcore_metadata.py");
    let pickle = config.path().join("metadata.pickle");
    let url = format!(
        "postgresql+psycopg://bench:{PASSWORD}@127.0.0.1:{}/bench",
        pg.port()
    );
    println!("running dm-dbcore's path (SQLAlchemy reflection takes a while)…");
    let output = Command::new(python)
        .arg(script)
        .arg(&url)
        .arg(reflect_runs.to_string())
        .arg(hit_runs.to_string())
        .arg(&pickle)
        .output()?;
    if !output.status.success() {
        bail!(
            "the Python side failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let result: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let seconds = |key: &str| -> Vec<Duration> {
        result[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_f64())
                    .map(Duration::from_secs_f64)
                    .collect()
            })
            .unwrap_or_default()
    };
    if result["tables"].as_u64() != Some(tables as u64) {
        bail!(
            "SQLAlchemy reflected {} tables, expected {tables}",
            result["tables"]
        );
    }
    Ok((
        median(&mut seconds("reflect")),
        median(&mut seconds("cache_hit")),
    ))
}

/// The two sides' medians, as `run` prints them.
struct Medians {
    ours_reflect: Duration,
    /// Nothing committed since the cache was written: the commit horizon proves it.
    ours_hit: Duration,
    /// Something committed: the fingerprint decides.
    ours_busy_hit: Duration,
    py_reflect: Duration,
    py_hit: Duration,
}

fn report(
    tables: usize,
    reflect_runs: usize,
    hit_runs: usize,
    m: &Medians,
    steps: &mut Steps,
    busy_steps: &mut Steps,
) {
    println!();
    println!(
        "metadata, {tables} tables, PostgreSQL on 127.0.0.1; medians of {} reflections and {hit_runs} cache hits",
        reflect_runs.max(3)
    );
    header("dm-dbcore");
    row("reflect the schema", m.ours_reflect, m.py_reflect, "≥ 10x");
    row(
        "cache hit, nothing committed since (horizon + load)",
        m.ours_hit,
        m.py_hit,
        "dbcore ≤ 5 ms",
    );
    row(
        "cache hit after a commit (horizon + fingerprint + load)",
        m.ours_busy_hit,
        m.py_hit,
        "dbcore ≤ 5 ms",
    );
    for (what, steps) in [("quiet", steps), ("after a commit", busy_steps)] {
        let profile: Vec<String> = steps
            .iter_mut()
            .map(|(step, times)| format!("{step} {:.2} ms", ms(median(times))))
            .collect();
        println!(
            "dbcore cache hit ({what}), median time at the end of each step: {}",
            profile.join(", ")
        );
    }
    println!();
    let reflect_ok = m.py_reflect.as_secs_f64() / m.ours_reflect.as_secs_f64() >= 10.0;
    let verdict = |hit: Duration| if ms(hit) <= 5.0 { "met" } else { "MISSED" };
    println!(
        "targets: reflection ≥ 10x faster: {}; cache hit ≤ 5 ms: quiet {} ({:.2} ms), after a commit {} ({:.2} ms)",
        if reflect_ok { "met" } else { "MISSED" },
        verdict(m.ours_hit),
        ms(m.ours_hit),
        verdict(m.ours_busy_hit),
        ms(m.ours_busy_hit)
    );
}

pub async fn run(tables: usize, reflect_runs: usize, hit_runs: usize) -> Result<()> {
    let pg = tests::pg::cluster().context("PostgreSQL could not be started")?;
    pg.create_role_and_database("bench", PASSWORD).await;
    let (config, context) = bench_target(pg)?;

    let db = registry::open("bench", &context).await?;
    let pool = db.pool::<sqlx::Postgres>()?;
    println!("generating {tables} tables…");
    sqlx::raw_sql(sqlx::AssertSqlSafe(generated_schema(tables)))
        .execute(pool)
        .await?;

    let mut reflect = dbcore_reflect(&db, tables, reflect_runs).await?;
    db.refresh_metadata().await?;
    drop(db);
    let (mut hits, mut steps) = dbcore_hits(&context, tables, hit_runs, false).await?;
    let (mut busy_hits, mut busy_steps) = dbcore_hits(&context, tables, hit_runs, true).await?;

    let (py_reflect, py_hit) = python_side(pg, &config, tables, reflect_runs, hit_runs)?;
    let medians = Medians {
        ours_reflect: median(&mut reflect),
        ours_hit: median(&mut hits),
        ours_busy_hit: median(&mut busy_hits),
        py_reflect,
        py_hit,
    };
    report(
        tables,
        reflect_runs,
        hit_runs,
        &medians,
        &mut steps,
        &mut busy_steps,
    );
    Ok(())
}
