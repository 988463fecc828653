//! `ingest TARGET TABLE FILE`: load CSV or JSON Lines into a table, through `session_scope`.
//!
//! Design decision: every row is checked against the table's metadata (column names, NOT NULL,
//! declared type and range) before it is written, so that a bad row is reported with its line,
//! column and reason, and in all-or-nothing mode nothing is written at all. PostgreSQL rows go
//! through `COPY … FROM STDIN`; MySQL and SQLite through batched multi-row inserts with bound
//! values. The app reaches the target through project_core's registry only: no URL, no secret.
//!
//! Files: `cli` (flags and the documented promises), `input` (reading rows as bytes), `plan`
//! (columns and row checks), `values` (type checks), `rejects` (the reject file), `load`
//! (modes and the resume hint), `write` (COPY and inserts), `progress`.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on its terminal"
)]

mod cli;
mod input;
mod load;
mod plan;
mod progress;
mod rejects;
mod values;
mod write;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use project_core::db::DatabaseConnection;
use project_core::metadata_model::{Schema, Table};
use project_core::{Context, Metadata, registry};

use cli::{Cli, InputFormat, Mode};
use input::Input;
use load::{Committed, Load, Shared};
use plan::Plan;
use progress::{Progress, Stats};
use rejects::{Rejects, reject_path};

async fn run(cli: Cli) -> Result<ExitCode> {
    let env: Arc<dyn project_core::context::EnvPort> = Arc::new(project_core::context::ProcessEnv);
    let context = Context::for_app(cli.config_dir.as_deref(), env)?;
    project_core::configure(context.clone());
    let format = cli.input_format()?;
    let per_batch = cli.mode == Mode::PerBatch && !cli.dry_run;
    let shared: Shared = Arc::new(tokio::sync::Mutex::new(Committed {
        per_batch,
        skip: cli.skip,
        ..Committed::default()
    }));
    watch_signals(shared.clone())?;
    let db: DatabaseConnection = registry::open(&cli.target, &context).await?;
    let mut load = prepare(&cli, &db, format, shared).await?;
    let skipped = skip_loaded(&mut load, cli.skip);
    let started = Instant::now();
    let outcome = match skipped {
        Err(e) => Err(e),
        Ok(()) if cli.dry_run => load.dry_run(),
        Ok(()) if cli.mode == Mode::AllOrNothing => load.all_or_nothing(&db).await,
        Ok(()) => load.per_batch(&db).await,
    };
    load.progress.finish();
    let kept = load.rejects.finish();
    db.close().await;
    let summary = summary(&load, started.elapsed().as_secs_f64(), kept, cli.dry_run);
    Ok(report(outcome, &summary, &cli))
}

/// The table named on the command line: `NAME` in any of the target's schemas, or
/// `SCHEMA.NAME`.
fn find_table<'m>(
    metadata: &'m Metadata,
    cli: &Cli,
    db: &DatabaseConnection,
) -> Result<(&'m Schema, &'m Table)> {
    let (schema_name, table_name) = match cli.table.split_once('.') {
        Some((s, t)) => (Some(s), t),
        None => (None, cli.table.as_str()),
    };
    metadata
        .schemas
        .iter()
        .filter(|s| schema_name.is_none_or(|n| s.name == n))
        .find_map(|s| {
            s.tables
                .iter()
                .find(|t| t.name == table_name)
                .map(|t| (s, t))
        })
        .with_context(|| {
            format!(
                "target `{}` has no table `{}` in schemas {}",
                cli.target,
                cli.table,
                db.settings().schemas().join(", ")
            )
        })
}

/// Everything a load reads with: the plan for the table, the open input, the reject file and
/// the progress bar.
async fn prepare(
    cli: &Cli,
    db: &DatabaseConnection,
    format: InputFormat,
    shared: Shared,
) -> Result<Load> {
    let per_batch = cli.mode == Mode::PerBatch && !cli.dry_run;
    let metadata = db.metadata().await?;
    let (schema, table) = find_table(&metadata, cli, db)?;
    let mut plan = Plan::new(db.kind(), &schema.name, table.clone());
    let input = Input::open(&cli.file, format, &mut plan)?;
    // Held while the temporary reject file is created, so that a signal removes it.
    let mut state = shared.lock().await;
    let rejects = if cli.dry_run || cli.max_errors == 0 {
        Rejects::none(format)
    } else {
        Rejects::create(
            reject_path(&cli.file, format),
            format,
            input.header(),
            !per_batch,
        )?
    };
    state.reject_path = rejects.path().to_owned();
    state.discard = rejects.staged();
    drop(state);
    // Only CSV progress is shown against the file's size.
    let size = (cli.file != "-" && format == InputFormat::Csv)
        .then(|| std::fs::metadata(&cli.file).map(|m| m.len()).ok())
        .flatten();
    Ok(Load {
        input,
        plan,
        stats: Stats::default(),
        rejects,
        progress: Progress::new(size),
        max_errors: cli.max_errors,
        batch_size: usize::try_from(cli.batch_size).unwrap_or(usize::MAX),
        dry_run: cli.dry_run,
        committed_through: 0,
        per_batch,
        skip: cli.skip,
        shared,
    })
}

/// --skip: passes over the rows an earlier per-batch run already loaded.
fn skip_loaded(load: &mut Load, skip: u64) -> Result<()> {
    while load.stats.skipped < skip {
        if !load.input.skip()? {
            bail!(
                "--skip {skip} skips past the end of the input, which has {} data rows",
                load.stats.skipped
            );
        }
        load.stats.skipped += 1;
    }
    Ok(())
}

/// `N rows read, N written, …`: the last line of every run, good or bad.
fn summary(load: &Load, took: f64, kept: bool, dry_run: bool) -> String {
    format!(
        "{} rows read, {} written, {} rejected{}, {} skipped, in {took:.2}s ({:.0} rows/s){}",
        load.stats.read,
        load.stats.written,
        load.stats.rejected,
        if kept {
            format!(" (see {})", load.rejects.path().display())
        } else {
            String::new()
        },
        load.stats.skipped,
        load.stats.read as f64 / took.max(1e-6),
        if dry_run {
            "; dry run, nothing written"
        } else {
            ""
        }
    )
}

/// The summary on stdout after a load that ended well; on stderr after the error otherwise.
fn report(outcome: Result<()>, summary: &str, cli: &Cli) -> ExitCode {
    match outcome {
        Ok(()) => {
            println!("dbcore-ingest: {summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            let nothing = if cli.mode == Mode::AllOrNothing && !cli.dry_run {
                "; nothing was written"
            } else {
                ""
            };
            eprintln!(
                "dbcore-ingest: error: {}{nothing}",
                project_core::one_line(error.as_ref())
            );
            eprintln!("dbcore-ingest: {summary}");
            ExitCode::FAILURE
        }
    }
}

/// On SIGTERM or SIGINT: waits for a commit under way, removes an uncommitted temporary reject
/// file, prints what was committed (per-batch: the exact resume hint) and exits with 128 + the
/// signal's number, as shells expect. An open transaction is rolled back by the exit. A second
/// signal while a commit is under way exits at once, saying that the hint is unknown.
fn watch_signals(shared: Shared) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    tokio::spawn(async move {
        let (name, code) = tokio::select! {
            _ = term.recv() => ("SIGTERM", 143),
            _ = int.recv() => ("SIGINT", 130),
        };
        // A second signal does not wait for a commit that hangs, and says so.
        let state = tokio::select! {
            state = shared.lock() => state,
            _ = term.recv() => at_once(name, code),
            _ = int.recv() => at_once(name, code),
        };
        if let Some(temp) = &state.discard {
            let _ = std::fs::remove_file(temp);
        }
        eprintln!("dbcore-ingest: stopped by {name}; {}", state.hint());
        std::process::exit(code);
    });
    Ok(())
}

/// The second signal, while a commit is under way: exit without waiting for it.
fn at_once(name: &str, code: i32) -> ! {
    eprintln!(
        "dbcore-ingest: stopped by a second signal after {name} while a batch was being committed: it may or may not have committed; count the table's rows before resuming"
    );
    std::process::exit(code)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    app_main::main("dbcore-ingest", run(cli))
}
