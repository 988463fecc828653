//! The reject file: bad rows skipped under `--max-errors`, each with its reason.
//!
//! Design decision: the file is created new (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600) so
//! that an earlier run's file, or a link planted where it goes, is never overwritten or
//! followed; it is never created by a dry run. What it holds follows the load: rows rejected
//! in a batch that is rolled back are cut off again (by length, on the open descriptor), so in
//! per-batch mode it holds exactly the rows rejected before the resume point, and after a
//! failed all-or-nothing load it is removed.

use std::fs::File;
use std::io::{BufWriter, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};

use crate::cli::InputFormat;
use crate::plan::{Bad, Raw};

pub struct Rejects {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    format: InputFormat,
    /// Fields per CSV row, to pad short rows so the reason lands in its column.
    width: usize,
    /// Bytes written, and bytes that belong to committed work.
    written: u64,
    committed: u64,
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

impl Rejects {
    /// No reject file (a dry run, or no --max-errors).
    pub fn none(format: InputFormat) -> Self {
        Self {
            path: PathBuf::new(),
            out: None,
            format,
            width: 0,
            written: 0,
            committed: 0,
            rows: 0,
            committed_rows: 0,
        }
    }

    /// Creates the reject file; an existing file or link at `path` is an error.
    pub fn create(
        path: PathBuf,
        format: InputFormat,
        header: Option<&csv::ByteRecord>,
    ) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => anyhow!(
                    "the reject file {} exists already (from an earlier run?); ingest never overwrites it: move it away or remove it, then run again",
                    path.display()
                ),
                _ => anyhow!("cannot create the reject file {}: {e}", path.display()),
            })?;
        let mut rejects = Self {
            out: Some(BufWriter::new(file)),
            ..Self::none(format)
        };
        rejects.path = path;
        if let Some(header) = header {
            let mut fields: Vec<&[u8]> = header.iter().collect();
            rejects.width = fields.len();
            fields.push(b"_reject_reason");
            rejects.write(&csv_line(&fields)?)?;
            rejects.committed = rejects.written;
        }
        Ok(rejects)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if let Some(out) = self.out.as_mut() {
            out.write_all(bytes)
                .with_context(|| format!("cannot write {}", self.path.display()))?;
            self.written = self
                .written
                .saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        }
        Ok(())
    }

    pub fn record(&mut self, bad: &Bad) -> Result<()> {
        if self.out.is_none() {
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
        self.write(&bytes)
    }

    /// What was written so far belongs to committed work.
    pub fn commit(&mut self) -> Result<()> {
        if let Some(out) = self.out.as_mut() {
            out.flush()
                .with_context(|| format!("cannot write {}", self.path.display()))?;
        }
        self.committed = self.written;
        self.committed_rows = self.rows;
        Ok(())
    }

    /// Cuts off the rows recorded since the last commit.
    pub fn roll_back(&mut self) -> Result<()> {
        if let Some(out) = self.out.as_mut() {
            out.flush()
                .with_context(|| format!("cannot write {}", self.path.display()))?;
            let file = out.get_mut();
            file.set_len(self.committed)
                .and_then(|()| file.seek(SeekFrom::Start(self.committed)).map(drop))
                .with_context(|| format!("cannot cut {} back", self.path.display()))?;
        }
        self.written = self.committed;
        self.rows = self.committed_rows;
        Ok(())
    }

    /// Closes the file after a roll-back of uncommitted rows; removes it when it holds no
    /// row. Returns whether it holds any.
    pub fn finish(&mut self) -> Result<bool> {
        self.roll_back()?;
        let Some(out) = self.out.take() else {
            return Ok(false);
        };
        drop(out);
        if self.committed_rows == 0 {
            std::fs::remove_file(&self.path)
                .with_context(|| format!("cannot remove the empty {}", self.path.display()))?;
            return Ok(false);
        }
        Ok(true)
    }

    pub fn committed_rows(&self) -> u64 {
        self.committed_rows
    }
}
