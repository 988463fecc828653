//! `ingest TARGET TABLE FILE`: load CSV or JSON Lines into a table, through `session_scope`.
//!
//! Design decision: every row is checked against the table's metadata (column names, NOT NULL,
//! declared type) before it is written, so that a bad row is reported with its line, column and
//! reason, and in all-or-nothing mode nothing is written at all. PostgreSQL rows go through
//! `COPY … FROM STDIN`; MySQL and SQLite through batched multi-row inserts with bound values.
//! The app reaches the target through project_core's registry only: no URL, no secret.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on its terminal"
)]

mod values;

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, ValueEnum};
use project_core::db::{DatabaseConnection, Tx};
use project_core::metadata_model::{Column, Table};
use project_core::{Context, DbError, DbKind, registry};
use values::{Family, check};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Load CSV or JSON Lines into a table of a dbcore target",
    after_help = "Examples:\n  ingest laptop items items.csv\n  ingest local events events.jsonl --mode per-batch --batch-size 5000\n  ingest laptop items - --format csv < items.csv\n  ingest laptop items big.csv --max-errors 10   # bad rows go to big.rejects.csv\n  ingest laptop items items.csv --dry-run"
)]
struct Cli {
    /// Directory holding targets/<name>.toml (as for admin).
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// Target name, e.g. `laptop`.
    target: String,
    /// Table name, optionally schema-qualified (`sales.orders`).
    table: String,
    /// Input file, or `-` for standard input.
    file: String,
    /// Input format [default: from the file extension].
    #[arg(long, value_enum)]
    format: Option<InputFormat>,
    /// all-or-nothing: one transaction, nothing written if any row is bad; per-batch: each
    /// batch commits on its own (resume with --skip).
    #[arg(long, value_enum, default_value_t = Mode::AllOrNothing)]
    mode: Mode,
    #[arg(long, default_value_t = 10_000)]
    batch_size: usize,
    /// Skip this many data rows first (to resume a per-batch load).
    #[arg(long, default_value_t = 0)]
    skip: u64,
    /// Skip up to this many bad rows, writing them to a reject file next to the input.
    #[arg(long, default_value_t = 0)]
    max_errors: u64,
    /// Check every row and write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum InputFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    AllOrNothing,
    PerBatch,
}

/// A checked row: its input line and its values in the plan's column order.
struct Row {
    line: u64,
    values: Vec<Option<String>>,
}

/// Which table columns the input fills, and how to check them.
struct Plan {
    table: Table,
    qualified: String,
    columns: Vec<(Column, Family)>,
}

/// A row that cannot be written: where and why, and its text for the reject file.
struct Bad {
    line: u64,
    column: Option<String>,
    reason: String,
    raw: Vec<String>,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "line {}, column {c}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

enum Input {
    Csv {
        reader: csv::Reader<Box<dyn Read>>,
        positions: Vec<usize>,
        header: csv::StringRecord,
    },
    Jsonl {
        lines: std::io::Lines<BufReader<Box<dyn Read>>>,
        line: u64,
    },
}

fn quote(kind: DbKind, name: &str) -> String {
    match kind {
        DbKind::MySql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

impl Plan {
    fn check_row(
        &self,
        line: u64,
        values: Vec<Option<String>>,
        raw: Vec<String>,
    ) -> Result<Row, Bad> {
        for ((column, family), value) in self.columns.iter().zip(&values) {
            let bad = |reason: String| Bad {
                line,
                column: Some(column.name.clone()),
                reason,
                raw: raw.clone(),
            };
            match value {
                None if !column.nullable => {
                    return Err(bad(format!(
                        "empty, but the column is NOT NULL ({})",
                        column.data_type
                    )));
                }
                None => {}
                Some(v) => check(*family, v)
                    .map_err(|r| bad(format!("{r} (column type {})", column.data_type)))?,
            }
        }
        Ok(Row { line, values })
    }
}

fn open_input(cli: &Cli, plan_columns: &mut Plan, kind: DbKind) -> Result<(Input, InputFormat)> {
    let format = match cli.format {
        Some(f) => f,
        None if cli.file.ends_with(".csv") => InputFormat::Csv,
        None if cli.file.ends_with(".jsonl") || cli.file.ends_with(".ndjson") => InputFormat::Jsonl,
        None => bail!(
            "cannot tell the format of {}; give --format csv or --format jsonl",
            cli.file
        ),
    };
    let source: Box<dyn Read> = if cli.file == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(&cli.file).with_context(|| format!("cannot open {}", cli.file))?)
    };
    let table = plan_columns.table.clone();
    let find = |name: &str| table.columns.iter().find(|c| c.name == name).cloned();
    match format {
        InputFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(source);
            let header = reader
                .headers()
                .context("cannot read the CSV header (line 1)")?
                .clone();
            let mut positions = Vec::new();
            for (i, name) in header.iter().enumerate() {
                let column = find(name).with_context(|| {
                    format!(
                        "line 1: column `{name}` is not in table {}; its columns are {}",
                        plan_columns.qualified,
                        table
                            .columns
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
                let family = Family::of(&column.data_type);
                plan_columns.columns.push((column, family));
                positions.push(i);
            }
            require_not_null(plan_columns, kind)?;
            Ok((
                Input::Csv {
                    reader,
                    positions,
                    header,
                },
                format,
            ))
        }
        InputFormat::Jsonl => {
            // The columns are the table's columns the first record names.
            let mut lines = BufReader::new(source).lines();
            let first = lines.next().transpose()?.unwrap_or_default();
            let object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&first).with_context(|| "line 1 is not a JSON object")?;
            for key in object.keys() {
                let column = find(key).with_context(|| {
                    format!(
                        "line 1: key `{key}` is not a column of table {}",
                        plan_columns.qualified
                    )
                })?;
                let family = Family::of(&column.data_type);
                plan_columns.columns.push((column, family));
            }
            require_not_null(plan_columns, kind)?;
            // Put the first line back in front.
            let rest: Box<dyn Read> =
                Box::new(std::io::Cursor::new(format!("{first}\n")).chain(LinesReader(lines)));
            Ok((
                Input::Jsonl {
                    lines: BufReader::new(rest).lines(),
                    line: 0,
                },
                format,
            ))
        }
    }
}

/// Turns the remaining `Lines` back into a byte stream.
struct LinesReader(std::io::Lines<BufReader<Box<dyn Read>>>);

impl Read for LinesReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.next() {
            None => Ok(0),
            Some(line) => {
                let line = format!("{}\n", line?);
                // Lines are short compared with the buffer std gives; split if not.
                let n = line.len().min(buf.len());
                buf[..n].copy_from_slice(&line.as_bytes()[..n]);
                if n < line.len() {
                    return Err(std::io::Error::other(
                        "a JSON line longer than the read buffer",
                    ));
                }
                Ok(n)
            }
        }
    }
}

fn require_not_null(plan: &Plan, _kind: DbKind) -> Result<()> {
    for column in &plan.table.columns {
        let given = plan.columns.iter().any(|(c, _)| c.name == column.name);
        if !given && !column.nullable && column.default.is_none() {
            bail!(
                "line 1: column `{}` of table {} is NOT NULL and has no default, but the input does not give it",
                column.name,
                plan.qualified
            );
        }
    }
    Ok(())
}

impl Input {
    /// The next row (checked), a bad row, or the end.
    fn next(&mut self, plan: &Plan) -> Result<Option<Result<Row, Bad>>> {
        match self {
            Input::Csv {
                reader, positions, ..
            } => {
                let mut record = csv::StringRecord::new();
                if !reader
                    .read_record(&mut record)
                    .context("cannot read the CSV input")?
                {
                    return Ok(None);
                }
                let line = record.position().map_or(0, |p| p.line());
                let raw: Vec<String> = record.iter().map(str::to_owned).collect();
                if record.len() != positions.len() {
                    return Ok(Some(Err(Bad {
                        line,
                        column: None,
                        reason: format!(
                            "{} fields, the header has {}",
                            record.len(),
                            positions.len()
                        ),
                        raw,
                    })));
                }
                let values = positions
                    .iter()
                    .map(|&i| record.get(i).filter(|v| !v.is_empty()).map(str::to_owned))
                    .collect();
                Ok(Some(plan.check_row(line, values, raw)))
            }
            Input::Jsonl { lines, line } => loop {
                let Some(text) = lines.next().transpose()? else {
                    return Ok(None);
                };
                *line += 1;
                if text.trim().is_empty() {
                    continue;
                }
                let raw = vec![text.clone()];
                let object: serde_json::Map<String, serde_json::Value> =
                    match serde_json::from_str(&text) {
                        Ok(o) => o,
                        Err(e) => {
                            return Ok(Some(Err(Bad {
                                line: *line,
                                column: None,
                                reason: format!("not a JSON object: {e}"),
                                raw,
                            })));
                        }
                    };
                if let Some(key) = object
                    .keys()
                    .find(|k| !plan.columns.iter().any(|(c, _)| &c.name == *k))
                {
                    return Ok(Some(Err(Bad {
                        line: *line,
                        column: Some(key.clone()),
                        reason: "not a column of the table (or absent from the first line)".into(),
                        raw,
                    })));
                }
                let values = plan
                    .columns
                    .iter()
                    .map(|(c, _)| match object.get(&c.name) {
                        None | Some(serde_json::Value::Null) => None,
                        Some(serde_json::Value::String(s)) => Some(s.clone()),
                        Some(other) => Some(other.to_string()),
                    })
                    .collect();
                return Ok(Some(plan.check_row(*line, values, raw)));
            },
        }
    }

    fn bytes_read(&self) -> Option<u64> {
        match self {
            Input::Csv { reader, .. } => Some(reader.position().byte()),
            Input::Jsonl { .. } => None,
        }
    }
}

/// Progress on a terminal (a bar), or plain lines every few seconds otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    fn new(size: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match size {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let template = if size.is_some() {
                "{bar:40} {bytes}/{total_bytes} {msg} eta {eta}"
            } else {
                "{spinner} {msg}"
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    fn update(&mut self, stats: &Stats, bytes: Option<u64>) {
        let rate = stats.read as f64 / self.started.elapsed().as_secs_f64().max(1e-6);
        let msg = format!(
            "{} rows read, {} written, {} rejected, {:.0} rows/s",
            stats.read, stats.written, stats.rejected, rate
        );
        match &self.bar {
            Some(bar) => {
                if let Some(b) = bytes {
                    bar.set_position(b);
                }
                bar.set_message(msg);
            }
            None if self.last_line.elapsed() >= Duration::from_secs(2) => {
                eprintln!("ingest: {msg}");
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[derive(Default, Debug)]
struct Stats {
    read: u64,
    written: u64,
    rejected: u64,
    skipped: u64,
}

/// Bad rows past --max-errors end the load; the rest go to the reject file.
struct Rejects {
    path: PathBuf,
    writer: Option<Box<dyn Write>>,
    format: InputFormat,
    header: Option<csv::StringRecord>,
}

impl Rejects {
    fn record(&mut self, bad: &Bad) -> Result<()> {
        if self.writer.is_none() {
            let file = File::create(&self.path)
                .with_context(|| format!("cannot create {}", self.path.display()))?;
            let mut writer: Box<dyn Write> = Box::new(std::io::BufWriter::new(file));
            if let (InputFormat::Csv, Some(h)) = (self.format, &self.header) {
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record(h)?;
                writer.write_all(&w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
            }
            self.writer = Some(writer);
        }
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        match self.format {
            InputFormat::Csv => {
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record(&bad.raw)?;
                writer.write_all(&w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
            }
            InputFormat::Jsonl => writeln!(writer, "{}", bad.raw.join(""))?,
        }
        Ok(())
    }
}

fn reject_path(file: &str, format: InputFormat) -> PathBuf {
    let ext = match format {
        InputFormat::Csv => "csv",
        InputFormat::Jsonl => "jsonl",
    };
    if file == "-" {
        return PathBuf::from(format!("stdin.rejects.{ext}"));
    }
    let path = Path::new(file);
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("input");
    path.with_file_name(format!("{stem}.rejects.{ext}"))
}

/// The reading side of a load: the input, what it has counted, and where bad rows go.
struct Load {
    input: Input,
    plan: Plan,
    stats: Stats,
    rejects: Rejects,
    progress: Progress,
    max_errors: u64,
    batch_size: usize,
}

impl Load {
    /// Reads up to a batch of good rows, counting and setting aside bad ones; a bad row past
    /// --max-errors ends the load.
    fn next_batch(&mut self) -> Result<Vec<Row>> {
        let mut rows = Vec::with_capacity(self.batch_size.min(100_000));
        while rows.len() < self.batch_size {
            let Some(next) = self.input.next(&self.plan)? else {
                break;
            };
            self.stats.read += 1;
            match next {
                Ok(row) => rows.push(row),
                Err(bad) => {
                    self.stats.rejected += 1;
                    if self.stats.rejected > self.max_errors {
                        bail!("{bad}");
                    }
                    eprintln!("ingest: skipped {bad}");
                    self.rejects.record(&bad)?;
                }
            }
            if self.stats.read.is_multiple_of(1024) {
                self.progress.update(&self.stats, self.input.bytes_read());
            }
        }
        Ok(rows)
    }
}

/// The server's COPY error, with the input line it names ("COPY items, line 3" counts the rows
/// sent, which are mapped back to the file's lines).
fn refused_copy(error: &sqlx::Error, sent_lines: &[u64]) -> anyhow::Error {
    let context = match error {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .and_then(|pg| pg.r#where().map(str::to_owned)),
        _ => None,
    };
    let copy_line = context.as_deref().and_then(|w| {
        let rest = w.split(", line ").nth(1)?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse::<usize>()
            .ok()
    });
    match copy_line.and_then(|n| sent_lines.get(n.checked_sub(1)?)) {
        Some(line) => anyhow::anyhow!("the server refused line {line}: {error}"),
        None => anyhow::anyhow!("the server refused the rows: {error}"),
    }
}

fn copy_payload(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 64);
    for row in rows {
        for (i, value) in row.values.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if let Some(v) = value {
                out.push(b'"');
                out.extend_from_slice(v.replace('"', "\"\"").as_bytes());
                out.push(b'"');
            }
        }
        out.push(b'\n');
    }
    out
}

/// `COPY table (columns) FROM STDIN` for the plan's columns, in CSV as `copy_payload` writes it.
fn copy_statement(plan: &Plan) -> String {
    let columns: Vec<String> = plan
        .columns
        .iter()
        .map(|(c, _)| quote(DbKind::Postgres, &c.name))
        .collect();
    format!(
        "COPY {} ({}) FROM STDIN WITH (FORMAT csv)",
        plan.qualified,
        columns.join(", ")
    )
}

async fn write_pg(tx: &mut Tx<sqlx::Postgres>, plan: &Plan, rows: &[Row]) -> Result<u64, DbError> {
    let statement = copy_statement(plan);
    let err = |cause| DbError::Query {
        target: String::new(),
        cause,
    };
    let mut copy = tx.copy_in_raw(&statement).await.map_err(err)?;
    let payload = copy_payload(rows);
    for chunk in payload.chunks(1 << 20) {
        copy.send(chunk).await.map_err(err)?;
    }
    copy.finish().await.map_err(err)
}

macro_rules! insert_batches {
    ($name:ident, $db:ty, $kind:expr, $max_params:expr) => {
        async fn $name(tx: &mut Tx<$db>, plan: &Plan, rows: &[Row]) -> Result<u64, DbError> {
            let columns: Vec<String> = plan
                .columns
                .iter()
                .map(|(c, _)| quote($kind, &c.name))
                .collect();
            let per_statement = ($max_params / plan.columns.len().max(1)).max(1);
            let mut written = 0;
            for chunk in rows.chunks(per_statement) {
                let mut builder = sqlx::QueryBuilder::<$db>::new(format!(
                    "INSERT INTO {} ({}) ",
                    plan.qualified,
                    columns.join(", ")
                ));
                builder.push_values(chunk, |mut b, row| {
                    for value in &row.values {
                        b.push_bind(value.clone());
                    }
                });
                let done =
                    builder
                        .build()
                        .execute(&mut **tx)
                        .await
                        .map_err(|cause| DbError::Query {
                            target: String::new(),
                            cause,
                        })?;
                written += done.rows_affected();
            }
            Ok(written)
        }
    };
}

insert_batches!(write_mysql, sqlx::MySql, DbKind::MySql, 60_000);
insert_batches!(write_sqlite, sqlx::Sqlite, DbKind::Sqlite, 30_000);

/// Writes one batch inside a transaction of its own or of the caller's.
macro_rules! in_scope {
    ($db:expr, $kind:expr, |$tx:ident| $body:expr) => {
        match $kind {
            DbKind::Postgres => {
                $db.session_scope::<sqlx::Postgres, _, anyhow::Error, _>(async |$tx| {
                    let $tx = Pg($tx);
                    $body
                })
                .await
            }
            DbKind::MySql => {
                $db.session_scope::<sqlx::MySql, _, anyhow::Error, _>(async |$tx| {
                    let $tx = My($tx);
                    $body
                })
                .await
            }
            DbKind::Sqlite => {
                $db.session_scope::<sqlx::Sqlite, _, anyhow::Error, _>(async |$tx| {
                    let $tx = Lite($tx);
                    $body
                })
                .await
            }
        }
    };
}

/// A transaction of any kind, for the load loop.
enum AnyTx<'t> {
    Pg(&'t mut Tx<sqlx::Postgres>),
    My(&'t mut Tx<sqlx::MySql>),
    Lite(&'t mut Tx<sqlx::Sqlite>),
}
use AnyTx::{Lite, My, Pg};

impl AnyTx<'_> {
    async fn write(&mut self, plan: &Plan, rows: &[Row]) -> Result<u64> {
        let first_line = rows.first().map_or(0, |r| r.line);
        let last_line = rows.last().map_or(0, |r| r.line);
        match self {
            Pg(tx) => write_pg(tx, plan, rows).await,
            My(tx) => write_mysql(tx, plan, rows).await,
            Lite(tx) => write_sqlite(tx, plan, rows).await,
        }
        .map_err(|e| {
            anyhow::anyhow!("the server refused the rows of lines {first_line}–{last_line}: {e}")
        })
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let env: Arc<dyn project_core::context::EnvPort> = Arc::new(project_core::context::ProcessEnv);
    let context = Context::new(cli.config_dir.as_deref(), env);
    project_core::configure(context.clone());
    let db: DatabaseConnection = registry::open(&cli.target, &context).await?;
    let kind = db.kind();
    let metadata = db.metadata().await?;
    let (schema_name, table_name) = match cli.table.split_once('.') {
        Some((s, t)) => (Some(s), t),
        None => (None, cli.table.as_str()),
    };
    let (schema, table) = metadata
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
        })?;
    let qualified = format!("{}.{}", quote(kind, &schema.name), quote(kind, &table.name));
    let mut plan = Plan {
        table: table.clone(),
        qualified,
        columns: Vec::new(),
    };
    let (mut input, format) = open_input(&cli, &mut plan, kind)?;
    let size = (cli.file != "-")
        .then(|| std::fs::metadata(&cli.file).map(|m| m.len()).ok())
        .flatten();
    let progress = Progress::new(if matches!(format, InputFormat::Csv) {
        size
    } else {
        None
    });
    let header = match &input {
        Input::Csv { header, .. } => Some(header.clone()),
        Input::Jsonl { .. } => None,
    };
    let rejects = Rejects {
        path: reject_path(&cli.file, format),
        writer: None,
        format,
        header,
    };
    let mut stats = Stats::default();
    // --skip: rows already loaded by an earlier per-batch run.
    while stats.skipped < cli.skip {
        match input.next(&plan)? {
            Some(_) => stats.skipped += 1,
            None => break,
        }
    }
    let started = Instant::now();
    let mut load = Load {
        input,
        plan,
        stats,
        rejects,
        progress,
        max_errors: cli.max_errors,
        batch_size: cli.batch_size,
    };

    let outcome: Result<()> = if cli.dry_run {
        loop {
            match load.next_batch() {
                Ok(rows) if rows.is_empty() => break Ok(()),
                Ok(_) => {}
                Err(e) => break Err(e),
            }
        }
    } else if cli.mode == Mode::AllOrNothing && kind == DbKind::Postgres {
        // One COPY for the whole file: the server works on what was sent while the next rows
        // are read and checked (a COPY per batch would wait for the server at every batch).
        let result = db
            .session_scope::<sqlx::Postgres, u64, anyhow::Error, _>(async |tx| {
                let statement = copy_statement(&load.plan);
                let mut copy = tx.copy_in_raw(&statement).await?;
                // Input line of each row sent, to name the line the server refuses.
                let mut sent_lines: Vec<u64> = Vec::new();
                loop {
                    let rows = match load.next_batch() {
                        Ok(rows) => rows,
                        Err(e) => {
                            let _ = copy.abort("a bad row").await;
                            return Err(e);
                        }
                    };
                    if rows.is_empty() {
                        break;
                    }
                    sent_lines.extend(rows.iter().map(|r| r.line));
                    copy.send(copy_payload(&rows)).await.map_err(|e| {
                        anyhow::anyhow!(
                            "the server refused the rows of lines {}–{}: {e}",
                            rows[0].line,
                            rows[rows.len() - 1].line
                        )
                    })?;
                }
                copy.finish()
                    .await
                    .map_err(|e| refused_copy(&e, &sent_lines))
            })
            .await;
        result.map(|n| load.stats.written = n)
    } else if cli.mode == Mode::AllOrNothing {
        let mut written = 0;
        let result = in_scope!(db, kind, |tx| {
            let mut tx = tx;
            loop {
                let rows = load.next_batch()?;
                if rows.is_empty() {
                    break Ok::<_, anyhow::Error>(());
                }
                written += tx.write(&load.plan, &rows).await?;
            }
        });
        if result.is_ok() {
            load.stats.written = written;
        }
        result
    } else {
        let resume = |stats: &Stats| {
            format!(
                "{} rows were committed in earlier batches; resume with --skip {}",
                stats.written,
                cli.skip + stats.written + stats.rejected
            )
        };
        loop {
            let rows = match load.next_batch() {
                Ok(rows) => rows,
                Err(e) => {
                    // The bad row itself is not committed: resume after the rows before it.
                    load.stats.rejected -= 1;
                    let hint = resume(&load.stats);
                    load.stats.rejected += 1;
                    break Err(e.context(hint));
                }
            };
            if rows.is_empty() {
                break Ok(());
            }
            let rows_ref = &rows;
            let written = in_scope!(db, kind, |tx| {
                let mut tx = tx;
                tx.write(&load.plan, rows_ref).await
            });
            match written {
                Ok(n) => load.stats.written += n,
                Err(e) => break Err(e.context(resume(&load.stats))),
            }
            load.progress.update(&load.stats, load.input.bytes_read());
        }
    };
    load.progress.finish();
    if let Some(writer) = load.rejects.writer.as_mut() {
        writer.flush()?;
    }
    db.close().await;
    let took = started.elapsed().as_secs_f64();
    let summary = format!(
        "{} rows read, {} written, {} rejected{}, {} skipped, in {took:.2}s ({:.0} rows/s){}",
        load.stats.read,
        load.stats.written,
        load.stats.rejected,
        if load.rejects.writer.is_some() {
            format!(" (see {})", load.rejects.path.display())
        } else {
            String::new()
        },
        load.stats.skipped,
        load.stats.read as f64 / took.max(1e-6),
        if cli.dry_run {
            "; dry run, nothing written"
        } else {
            ""
        }
    );
    match outcome {
        Ok(()) => {
            println!("ingest: {summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            let nothing = if cli.mode == Mode::AllOrNothing && !cli.dry_run {
                "; nothing was written"
            } else {
                ""
            };
            eprintln!("ingest: error: {error:#}{nothing}");
            eprintln!("ingest: {summary}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ingest: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ingest: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
