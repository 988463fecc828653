//! The reject file: bad rows skipped under `--max-errors`, each with its reason.
//!
//! Design decision: the reject file only ever holds rows of committed work, even after
//! `kill -9`. Rows rejected in the batch being read are kept in memory (at most --max-errors
//! of them) and, in per-batch mode, appended to the file and fsynced only after their batch
//! commits; a batch that is rolled back or abandoned just drops them. In all-or-nothing mode
//! they go to a hidden temporary file in the same directory (`.FILE.rejects.csv.PID.partial`),
//! which is fsynced and hard-linked to its name only after the commit (a link never replaces
//! an existing file) and is removed on any failure or interruption. The file itself is created
//! new (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600), so an earlier run's file, or a link planted
//! where it goes, is never overwritten or followed; ingest refuses to start when it exists, and
//! a dry run never creates it.
//!
//! The window left: a crash (`kill -9`, power loss) between a commit and the write of that
//! commit's rejects loses those reject lines (never table rows), and in all-or-nothing mode it
//! may leave the hidden `.partial` file behind.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};

use crate::cli::InputFormat;
use crate::plan::{Bad, Raw};

/// Where rejected rows go until they belong to committed work.
enum Sink {
    /// No reject file (a dry run, or no --max-errors).
    None,
    /// Per-batch: the file, created at the first commit that rejected a row.
    Append(Option<File>),
    /// All-or-nothing: the temporary file, linked to `path` at the commit.
    Staged {
        temp: PathBuf,
        out: Option<BufWriter<File>>,
    },
}

pub struct Rejects {
    path: PathBuf,
    sink: Sink,
    format: InputFormat,
    /// Fields per CSV row, to pad short rows so the reason lands in its column.
    width: usize,
    /// The CSV header line, written first.
    header: Vec<u8>,
    /// Rejected rows of the batch being read (per-batch mode).
    pending: Vec<u8>,
    rows: u64,
    committed_rows: u64,
}

/// `FILE.rejects.csv` next to the input (`stdin.rejects.csv` for standard input).
pub fn reject_path(file: &str, format: InputFormat) -> PathBuf {
    let ext = match format {
        InputFormat::Csv => "csv",
        InputFormat::Jsonl => "jsonl",
    };
    if file == "-" {
        return PathBuf::from(format!("stdin.rejects.{ext}"));
    }
    let path = Path::new(file);
    let stem = path
        .file_stem()
        .map_or_else(|| "input".to_owned(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}.rejects.{ext}"))
}

fn csv_line(fields: &[&[u8]]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields)?;
    w.into_inner().map_err(|e| anyhow!("{e}"))
}

/// Creates `path` new: never an existing file, never through a link.
fn create_new(path: &Path, what: &str) -> Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists(path),
            _ => anyhow!("cannot create the {what} {}: {e}", path.display()),
        })
}

fn exists(path: &Path) -> anyhow::Error {
    anyhow!(
        "the reject file {} exists already (from an earlier run?); ingest never overwrites it: move it away or remove it, then run again",
        path.display()
    )
}

/// Makes a new name in `path`'s directory durable.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

impl Rejects {
    /// No reject file (a dry run, or no --max-errors).
    pub fn none(format: InputFormat) -> Self {
        Self {
            path: PathBuf::new(),
            sink: Sink::None,
            format,
            width: 0,
            header: Vec::new(),
            pending: Vec::new(),
            rows: 0,
            committed_rows: 0,
        }
    }

    /// Prepares the reject file at `path` (staged in a temporary file when `staged`, for an
    /// all-or-nothing load); an existing file or link at `path` is an error.
    pub fn create(
        path: PathBuf,
        format: InputFormat,
        header: Option<&csv::ByteRecord>,
        staged: bool,
    ) -> Result<Self> {
        if path.symlink_metadata().is_ok() {
            return Err(exists(&path));
        }
        let mut rejects = Self::none(format);
        if let Some(header) = header {
            let mut fields: Vec<&[u8]> = header.iter().collect();
            rejects.width = fields.len();
            fields.push(b"_reject_reason");
            rejects.header = csv_line(&fields)?;
        }
        rejects.sink = if staged {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let temp = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
            let mut out = BufWriter::new(create_new(&temp, "temporary reject file")?);
            out.write_all(&rejects.header)
                .with_context(|| format!("cannot write {}", temp.display()))?;
            Sink::Staged {
                temp,
                out: Some(out),
            }
        } else {
            Sink::Append(None)
        };
        rejects.path = path;
        Ok(rejects)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary file to remove if the load is interrupted before its commit.
    pub fn staged(&self) -> Option<PathBuf> {
        match &self.sink {
            Sink::Staged { temp, out: Some(_) } => Some(temp.clone()),
            _ => None,
        }
    }

    pub fn record(&mut self, bad: &Bad) -> Result<()> {
        if matches!(self.sink, Sink::None) {
            return Ok(());
        }
        let reason = bad.to_string();
        let bytes = match (&bad.raw, self.format) {
            (Raw::Fields(fields), _) => {
                let mut all: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
                while all.len() < self.width {
                    all.push(b"");
                }
                all.push(reason.as_bytes());
                csv_line(&all)?
            }
            (Raw::Line(line), _) => {
                let row = serde_json::from_slice::<serde_json::Value>(line).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(line).into_owned())
                });
                let mut out = serde_json::to_vec(&serde_json::json!({
                    "line": bad.line,
                    "reason": reason,
                    "row": row,
                }))?;
                out.push(b'\n');
                out
            }
        };
        self.rows += 1;
        match &mut self.sink {
            Sink::Staged {
                temp,
                out: Some(out),
            } => out
                .write_all(&bytes)
                .with_context(|| format!("cannot write {}", temp.display())),
            _ => {
                self.pending.extend_from_slice(&bytes);
                Ok(())
            }
        }
    }

    /// The rows recorded so far belong to committed work: per-batch, they are appended to
    /// the file and fsynced; all-or-nothing, the temporary file takes the reject file's name
    /// (or is removed when it holds no row).
    pub fn commit(&mut self) -> Result<()> {
        let path = self.path.clone();
        let fresh = self.rows > self.committed_rows;
        match &mut self.sink {
            Sink::None => {}
            Sink::Append(file) => {
                if fresh {
                    let file = match file {
                        Some(f) => f,
                        None => {
                            let mut f = create_new(&path, "reject file")?;
                            f.write_all(&self.header)
                                .with_context(|| format!("cannot write {}", path.display()))?;
                            sync_dir(&path);
                            file.insert(f)
                        }
                    };
                    file.write_all(&self.pending)
                        .and_then(|()| file.sync_data())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                }
            }
            Sink::Staged { temp, out } => {
                if let Some(mut out) = out.take() {
                    let linked = if fresh {
                        out.flush()
                            .and_then(|()| out.get_ref().sync_all())
                            .with_context(|| format!("cannot write {}", temp.display()))
                            .and_then(|()| {
                                std::fs::hard_link(&*temp, &path).map_err(|e| match e.kind() {
                                    std::io::ErrorKind::AlreadyExists => exists(&path),
                                    _ => anyhow!("cannot create {}: {e}", path.display()),
                                })
                            })
                    } else {
                        Ok(())
                    };
                    drop(out);
                    if let Err(e) = linked {
                        return Err(e.context(format!(
                            "the rows were written; the rejected rows are kept in {}",
                            temp.display()
                        )));
                    }
                    let _ = std::fs::remove_file(&*temp);
                    sync_dir(&path);
                }
            }
        }
        self.pending.clear();
        self.committed_rows = self.rows;
        Ok(())
    }

    /// Drops the rows recorded since the last commit.
    pub fn roll_back(&mut self) {
        self.pending.clear();
        self.rows = self.committed_rows;
    }

    /// Drops uncommitted rows and removes a temporary file that was never committed. Returns
    /// whether the reject file holds any row.
    pub fn finish(&mut self) -> bool {
        self.roll_back();
        if let Sink::Staged { temp, out } = &mut self.sink
            && let Some(out) = out.take()
        {
            drop(out);
            let _ = std::fs::remove_file(&*temp);
        }
        self.sink = Sink::None;
        self.committed_rows > 0
    }

    pub fn committed_rows(&self) -> u64 {
        self.committed_rows
    }
}
