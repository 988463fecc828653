//! Cold start: whole processes. dbcore (laptop module: pgpass, connect, metadata from a
//! current cache, one query) against bare sqlx (pgpass by sqlx, connect, one query) and
//! against dm-dbcore's pattern in Python; and the two child processes themselves.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use project_core::db::connections::laptop;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tests::bin::ConfigDir;

use crate::api::laptop_env;
use crate::{median, ms, row};

/// Case 3: The cold start of each side, `runs` times, alternating, after one run each that writes
/// its cache.
pub fn compare(
    pg: &tests::pg::PgCluster,
    dir: &ConfigDir,
    pgpass: &str,
    cold_runs: usize,
) -> Result<()> {
    let me = std::env::current_exe()?;
    let env_pairs = laptop_env(pg, dir.path());
    let cold = |which: &str| {
        let mut c = clean_command(&me, which, &env_pairs);
        // Bare sqlx finds the password itself, from PGPASSFILE and the PG* variables.
        c.env("PGPASSFILE", pgpass)
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
    let py = || clean_command(&python, &script, &env_pairs);
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
    print_medians(o, b, p);
    Ok(())
}

/// `program arg` with only `PATH` and the laptop module's settings in its environment.
fn clean_command(
    program: impl AsRef<std::ffi::OsStr>,
    arg: impl AsRef<std::ffi::OsStr>,
    env_pairs: &[(String, String)],
) -> Command {
    let mut c = Command::new(program);
    c.arg(arg)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in env_pairs {
        c.env(k, v);
    }
    c
}

/// The two rows and the summary line: dbcore `o`, bare sqlx `b`, dm-dbcore `p`.
fn print_medians(o: Duration, b: Duration, p: Duration) {
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
