//! Ingest: 1,000,000 CSV rows into PostgreSQL, `ingest` against `psql -c "\copy …"`.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tests::bin::ConfigDir;

use crate::{header, median, row};

pub async fn run(rows: usize, runs: usize) -> Result<()> {
    let pg = tests::pg::cluster().context("PostgreSQL could not be started")?;
    pg.create_role_and_database("ingest_bench", "bench-pw")
        .await;
    let config = ConfigDir::new();
    config.target(
        "bench",
        &format!("kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"ingest_bench\"\nuser = \"ingest_bench\"\nsources = [\"env\"]\nenv_prefix = \"B\"\n", pg.port()),
    );
    let csv = config.path().join("rows.csv");
    println!("writing {rows} CSV rows…");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&csv)?);
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
    }
    let psql = |sql: &str| -> Result<()> {
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
            .env("PGPASSWORD", "bench-pw")
            .output()?;
        if !out.status.success() {
            bail!("psql: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    };
    psql(
        "create table items (id int primary key, name text not null, amount numeric(12,2), created date, note text)",
    )?;
    let ingest = tests::bin::path("dbcore-ingest");
    let cache = config.path().join("cache");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        psql("truncate items")?;
        let started = Instant::now();
        let out = Command::new(&ingest)
            .args(["--config-dir", config.path_str(), "bench", "items"])
            .arg(&csv)
            .env("B_PASSWORD", "bench-pw")
            .env("PROJECT_CACHE_DIR", &cache)
            .output()?;
        ours.push(started.elapsed());
        if !out.status.success() {
            bail!("ingest failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        psql("truncate items")?;
        let started = Instant::now();
        psql(&format!(
            "\\copy items from '{}' with (format csv, header true)",
            csv.display()
        ))?;
        theirs.push(started.elapsed());
    }
    let (ours, theirs) = (median(&mut ours), median(&mut theirs));
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
    Ok(())
}
