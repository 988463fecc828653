//! `bench`: dbcore's performance cases, each run side by side with its baseline in one run.
//!
//! Design decision: targets live here, never as timed assertions in tests. Every case starts
//! its own throwaway server (the test harness's), measures both sides on the same data in the
//! same process run, and prints medians and the ratio. Run it with
//! `cargo run --release -p bench -- metadata`.
#![allow(clippy::print_stdout, reason = "a benchmark prints its results")]

mod api;
mod cold;
mod ingest;
mod metadata;
mod proxy;

use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(about = "dbcore benchmarks, each case against its baseline")]
struct Cli {
    #[command(subcommand)]
    case: Case,
}

#[derive(Subcommand, Debug)]
enum Case {
    /// Reflect a generated PostgreSQL schema and load it from a current cache, against
    /// dm-dbcore (SQLAlchemy reflection and its pickle cache) on the same database.
    Metadata {
        /// Number of tables to generate.
        #[arg(long, default_value_t = 1000)]
        tables: usize,
        /// Runs of each reflection (SQLAlchemy's takes seconds per run at 1,000 tables).
        #[arg(long, default_value_t = 3)]
        reflect_runs: usize,
        /// Runs of each cache hit.
        #[arg(long, default_value_t = 20)]
        hit_runs: usize,
    },
    /// The standard API against raw sqlx: hot path, checkout, cold start (also against
    /// dm-dbcore), resolution, concurrency at first use.
    Api {
        #[arg(long, default_value_t = 20_000)]
        transactions: usize,
        #[arg(long, default_value_t = 15)]
        cold_runs: usize,
    },
    /// pgbench direct, through `dbcore proxy` and through pgbouncer (session mode): -S
    /// throughput and p99, and the -C connection rate.
    Proxy {
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long, default_value_t = 8)]
        clients: u32,
    },
    #[command(hide = true)]
    ColdDbcore,
    #[command(hide = true)]
    ColdSqlx,
    /// Load a generated CSV into PostgreSQL with `ingest`, against `psql -c "\copy …"`.
    Ingest {
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.case {
        Case::Metadata {
            tables,
            reflect_runs,
            hit_runs,
        } => runtime.block_on(metadata::run(tables, reflect_runs, hit_runs)),
        Case::Api {
            transactions,
            cold_runs,
        } => runtime.block_on(api::run(transactions, cold_runs.max(1))),
        Case::Proxy { seconds, clients } => {
            runtime.block_on(proxy::run(seconds.max(1), clients.max(1)))
        }
        Case::ColdDbcore => runtime.block_on(cold::cold_dbcore()),
        Case::ColdSqlx => runtime.block_on(cold::cold_sqlx()),
        Case::Ingest { rows, runs } => runtime.block_on(ingest::run(rows, runs.max(1))),
    }
}

/// The median of some durations.
pub fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One line of a side-by-side table: case, ours, baseline, ratio and the target.
pub fn row(case: &str, ours: Duration, baseline: Duration, target: &str) {
    println!(
        "| {case:<44} | {:>10.2} ms | {:>10.2} ms | {:>8.2}x | {target} |",
        ms(ours),
        ms(baseline),
        baseline.as_secs_f64() / ours.as_secs_f64().max(1e-9)
    );
}

pub fn header(baseline: &str) {
    println!(
        "| {:<44} | {:>13} | {:>13} | {:>9} | target |",
        "case", "dbcore", baseline, "speed-up"
    );
    println!(
        "|{}|{}|{}|{}|--------|",
        "-".repeat(46),
        "-".repeat(15),
        "-".repeat(15),
        "-".repeat(11)
    );
}
