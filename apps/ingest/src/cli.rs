//! The command line: flags, their bounds, and the help that documents what a load promises.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The largest `--batch-size`: a batch is held in memory whole before it is written.
pub const MAX_BATCH: u64 = 1_000_000;
/// The largest `--skip` and `--max-errors`: a trillion rows, more than any file holds; a
/// larger number is a typo, not a plan.
pub const MAX_ROWS: u64 = 1_000_000_000_000;

const AFTER_HELP: &str = "\
Modes:
  all-or-nothing (default): one transaction. After any error (a bad row past --max-errors, a
    read error, a row the server refuses) nothing is written and no reject file is left.
  per-batch: each batch of --batch-size good rows commits on its own. After an error, the
    batches before it stay written and the message says `resume with --skip N`: N counts the
    data rows (good and rejected) of the committed batches exactly, so running again with
    --skip N neither loses nor repeats a row.

SIGTERM and SIGINT (Ctrl-C) stop a load between batches: a commit under way finishes, the
batch being read is abandoned (its transaction, if open, rolls back), the message says what
was written (per-batch: the exact `resume with --skip N`), and ingest exits with 143 or 130.
A second signal while a commit hangs exits at once, without a hint.

Bad rows (a value that does not fit its column's type or range, an empty NOT NULL value, a
ragged CSV row, bytes that are not UTF-8, a line that is not a JSON object) are reported with
their line. Up to --max-errors of them are skipped and written to a reject file next to the
input (FILE.rejects.csv or FILE.rejects.jsonl, mode 0600). That file must not exist: ingest
never overwrites or follows a link; move an earlier one away first. Each rejected CSV row is
written as read followed by a `_reject_reason` field (the header gets that column too; short
rows are padded); each rejected JSON line becomes {\"line\": N, \"reason\": \"...\", \"row\": the
line as read}. Fix the rows, drop the reason, and load the file again. In per-batch mode the
reject file holds exactly the rows rejected before the resume point. It only ever holds rows
of committed work, even after kill -9: a batch's rejected rows are kept in memory and appended
(and fsynced) once the batch commits; in all-or-nothing mode they go to a hidden temporary
file (.FILE.rejects.csv.PID.partial) that takes the reject file's name only after the commit.
The one window left: a crash between a commit and the write of its rejected rows loses those
reject lines (never a table row), and may leave the hidden temporary file behind.

--dry-run reads and checks every row, reports every bad row, writes nothing (no reject file
either) and exits 1 if any row is bad. It checks column names, NOT NULL, and the values of
integer, decimal, float, boolean, date, timestamp, JSON and UUID columns, including ranges,
precision and the calendar, as the server would; other types (intervals, geometry, ranges,
arrays, text lengths) and constraints are checked by the server during the load.

Examples:
  dbcore-ingest laptop items items.csv
  dbcore-ingest local events events.jsonl --mode per-batch --batch-size 5000
  dbcore-ingest laptop items - --format csv < items.csv
  dbcore-ingest laptop items big.csv --max-errors 10   # bad rows go to big.rejects.csv
  dbcore-ingest laptop items items.csv --dry-run";

#[derive(Parser, Debug)]
#[command(
    name = "dbcore-ingest",
    version,
    about = "Load CSV or JSON Lines into a table of a dbcore target",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Directory holding targets/<name>.toml (as for dbcore).
    #[arg(long, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Target name, e.g. `laptop`.
    pub target: String,
    /// Table name, optionally schema-qualified (`sales.orders`).
    pub table: String,
    /// Input file, or `-` for standard input.
    pub file: String,
    /// Input format [default: from the file extension].
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,
    /// all-or-nothing: one transaction, nothing written after any error; per-batch: each
    /// batch commits on its own (resume with --skip).
    #[arg(long, value_enum, default_value_t = Mode::AllOrNothing)]
    pub mode: Mode,
    /// Good rows per batch (1 to 1000000).
    #[arg(long, value_name = "ROWS", default_value_t = 10_000, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(1..=MAX_BATCH))]
    pub batch_size: u64,
    /// Skip this many data rows first, good or bad (to resume a per-batch load; at most 10^12).
    #[arg(long, value_name = "ROWS", default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(0..=MAX_ROWS))]
    pub skip: u64,
    /// Skip up to this many bad rows, writing them to a new reject file next to the input
    /// (at most 10^12).
    #[arg(long, value_name = "ROWS", default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(0..=MAX_ROWS))]
    pub max_errors: u64,
    /// Check every row, report every bad one, write nothing; exit 1 if any row is bad.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    AllOrNothing,
    PerBatch,
}

impl Cli {
    /// The input format, from --format or the file's extension.
    pub fn input_format(&self) -> anyhow::Result<InputFormat> {
        match self.format {
            Some(f) => Ok(f),
            None if self.file.ends_with(".csv") => Ok(InputFormat::Csv),
            None if self.file.ends_with(".jsonl") || self.file.ends_with(".ndjson") => {
                Ok(InputFormat::Jsonl)
            }
            None => anyhow::bail!(
                "cannot tell the format of {}; give --format csv or --format jsonl",
                self.file
            ),
        }
    }
}
