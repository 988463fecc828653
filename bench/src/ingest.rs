//! Ingest: 1,000,000 CSV rows into PostgreSQL, `ingest` against `psql -c "\copy …"`.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tests::bin::ConfigDir;

use crate::{header, median, row};

const PASSWORD: &str = "bench-pw";

/// `rows` generated CSV rows (5 columns, a header, a quoted field with a comma in each row).
fn write_csv(path: &Path, rows: usize) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "id,name,amount,created,note")?;
    for i in 0..rows {
        writeln!(
            out,
            "{i},name {i},{}.{:02},2026-{:02}-{:02},\"a note, with a comma\"",
            i % 10_000,
            i % 100,
            i % 12 + 1,
            i % 28 + 1
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Runs one `psql -c SQL` as the benchmark's role.
fn psql(pg: &tests::pg::PgCluster, sql: &str) -> Result<()> {
    let out = Command::new(pg.bin("psql"))
        .args([
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port().to_string(),
            "-U",
            "ingest_bench",
            "-d",
            "ingest_bench",
            "-c",
            sql,
        ])
        .env("PGPASSWORD", PASSWORD)
        .output()?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// One whole `dbcore-ingest` process loading `csv` into `items`.
fn ingest_once(config: &ConfigDir, csv: &Path) -> Result<Duration> {
    let ingest = tests::bin::path("dbcore-ingest");
    let cache = config.path().join("cache");
    let started = Instant::now();
    let out = Command::new(&ingest)
        .args(["--config-dir", config.path_str(), "bench", "items"])
        .arg(csv)
        .env("B_PASSWORD", PASSWORD)
        .env("PROJECT_CACHE_DIR", &cache)
        .output()?;
    let took = started.elapsed();
    if !out.status.success() {
        bail!("ingest failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(took)
}

/// One `psql -c "\copy items from 'csv' …"` process.
fn copy_once(pg: &tests::pg::PgCluster, csv: &Path) -> Result<Duration> {
    let started = Instant::now();
    psql(
        pg,
        &format!(
            "\\copy items from '{}' with (format csv, header true)",
            csv.display()
        ),
    )?;
    Ok(started.elapsed())
}

fn report(rows: usize, runs: usize, ours: Duration, theirs: Duration) {
    let rate = |d: Duration| rows as f64 / d.as_secs_f64();
    println!();
    println!(
        "ingest, {rows} CSV rows into PostgreSQL on 127.0.0.1 (whole process, median of {runs})"
    );
    header("psql \\copy");
    row("load the file", ours, theirs, "≥ 0.7x psql's rows/s");
    println!(
        "rows/s: ingest {:.0}, psql \\copy {:.0}; ingest reaches {:.2}x psql's rate",
        rate(ours),
        rate(theirs),
        rate(ours) / rate(theirs)
    );
}

pub async fn run(rows: usize, runs: usize) -> Result<()> {
    let pg = tests::pg::cluster().context("PostgreSQL could not be started")?;
    pg.create_role_and_database("ingest_bench", PASSWORD).await;
    let config = ConfigDir::new();
    config.target(
        "bench",
        &format!("kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"ingest_bench\"\nuser = \"ingest_bench\"\nsources = [\"env\"]\nenv_prefix = \"B\"\n", pg.port()),
    );
    let csv = config.path().join("rows.csv");
    println!("writing {rows} CSV rows…");
    write_csv(&csv, rows)?;
    psql(
        pg,
        "create table items (id int primary key, name text not null, amount numeric(12,2), created date, note text)",
    )?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        psql(pg, "truncate items")?;
        ours.push(ingest_once(&config, &csv)?);
        psql(pg, "truncate items")?;
        theirs.push(copy_once(pg, &csv)?);
    }
    report(rows, runs, median(&mut ours), median(&mut theirs));
    Ok(())
}
