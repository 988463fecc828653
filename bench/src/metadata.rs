//! Metadata: reflection and cache hits, dbcore against dm-dbcore (SQLAlchemy + pickle).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use domain::MapEnv;
use project_core::metadata::CacheStatus;
use project_core::{context_with, registry};
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

pub async fn run(tables: usize, reflect_runs: usize, hit_runs: usize) -> Result<()> {
    let pg = tests::pg::cluster().context("PostgreSQL could not be started")?;
    pg.create_role_and_database("bench", PASSWORD).await;
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

    let db = registry::open("bench", &context).await?;
    let pool = db.pool::<sqlx::Postgres>()?;
    println!("generating {tables} tables…");
    sqlx::raw_sql(sqlx::AssertSqlSafe(generated_schema(tables)))
        .execute(pool)
        .await?;

    // dbcore: reflection alone (the adapter's catalog queries), then the full cache hit of
    // `metadata()` on a fresh connection: fingerprint query + cache file read.
    let schemas = vec!["public".to_owned()];
    let mut reflect = Vec::new();
    for _ in 0..reflect_runs.max(3) {
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
    db.refresh_metadata().await?;
    drop(db);
    let mut hits = Vec::new();
    let mut steps: std::collections::BTreeMap<&'static str, Vec<Duration>> = Default::default();
    for _ in 0..hit_runs {
        let fresh = registry::open("bench", &context).await?;
        fresh.ping().await?; // a warm pool connection, as in the Python side
        let started = Instant::now();
        let (model, report) = fresh.metadata_with_report(false).await?;
        hits.push(started.elapsed());
        for (step, took) in &report.steps {
            steps.entry(step).or_default().push(*took);
        }
        if report.status != CacheStatus::Used || model.table_count() != tables {
            bail!("expected a cache hit, got {:?}", report.status);
        }
    }

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
    let (ours_reflect, ours_hit) = (median(&mut reflect), median(&mut hits));
    let (py_reflect, py_hit) = (
        median(&mut seconds("reflect")),
        median(&mut seconds("cache_hit")),
    );

    println!();
    println!(
        "metadata, {tables} tables, PostgreSQL on 127.0.0.1; medians of {} reflections and {hit_runs} cache hits",
        reflect_runs.max(3)
    );
    header("dm-dbcore");
    row("reflect the schema", ours_reflect, py_reflect, "≥ 10x");
    row(
        "cache hit (fingerprint + load)",
        ours_hit,
        py_hit,
        "dbcore < 15 ms",
    );
    let profile: Vec<String> = steps
        .iter_mut()
        .map(|(step, times)| format!("{step} {:.2} ms", ms(median(times))))
        .collect();
    println!("dbcore cache hit, median per step: {}", profile.join(", "));
    println!();
    let reflect_ok = py_reflect.as_secs_f64() / ours_reflect.as_secs_f64() >= 10.0;
    let hit_ok = ms(ours_hit) < 15.0;
    println!(
        "targets: reflection ≥ 10x faster: {}; cache hit under 15 ms: {} ({:.2} ms)",
        if reflect_ok { "met" } else { "MISSED" },
        if hit_ok { "met" } else { "MISSED" },
        ms(ours_hit)
    );
    Ok(())
}
