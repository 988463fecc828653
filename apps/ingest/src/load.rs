//! The load: reading batches, the three ways through them (dry run, all-or-nothing,
//! per-batch), and the resume hint.
//!
//! Design decision: the resume hint counts rows by where committed batches end, never by
//! counters of good and bad rows: `committed_through` is the number of data rows read (good
//! and rejected) when the last batch committed, so `--skip (skip + committed_through)` starts
//! right after it whatever happened in the batch that failed (a read error, a bad row past
//! --max-errors, a refusal by the server, SIGTERM or SIGINT), and the reject file holds the
//! rows rejected up to the same point.
//!
//! Design decision: SIGTERM and SIGINT are handled by a task of their own (reads block, so the
//! load cannot poll for them). It prints the hint from `Shared`, a lock that a batch holds from
//! the start of its transaction until its commit, its rejects and the new state are all done:
//! so the hint is the state between two batches, never half of one, and the transaction of an
//! abandoned batch (all-or-nothing: the only one) is rolled back by the exit.
#![allow(
    clippy::print_stderr,
    reason = "bad rows are reported on the terminal as they are found"
)]

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, bail};
use project_core::DbKind;
use project_core::db::DatabaseConnection;

use crate::input::Input;
use crate::plan::{Plan, Row};
use crate::progress::{Progress, Stats};
use crate::rejects::Rejects;
use crate::write::{AnyTx, copy_payload, copy_statement, refused_copy};

/// What is committed so far, as the signal path reads it.
#[derive(Clone, Debug, Default)]
pub struct Committed {
    pub per_batch: bool,
    pub skip: u64,
    /// Data rows read through the end of the last committed batch.
    pub through: u64,
    pub written: u64,
    pub reject_path: PathBuf,
    pub rejected: u64,
    /// All-or-nothing: the commit is done.
    pub done: bool,
    /// The temporary reject file to remove if the load stops before its commit.
    pub discard: Option<PathBuf>,
}

pub type Shared = Arc<tokio::sync::Mutex<Committed>>;

impl Committed {
    /// What was written, and for a per-batch load how to resume.
    pub fn hint(&self) -> String {
        if !self.per_batch {
            return if self.done {
                format!("all {} rows were written", self.written)
            } else {
                "nothing was written".to_owned()
            };
        }
        let next = self.skip.saturating_add(self.through);
        let mut hint = format!(
            "{} rows were committed by earlier batches, the batch being read was not; resume with --skip {next}",
            self.written
        );
        if self.rejected > 0 {
            hint.push_str(&format!(
                " after moving {} away (it holds the {} rows rejected before that point)",
                self.reject_path.display(),
                self.rejected
            ));
        }
        hint
    }
}

/// The reading side of a load: the input, what it has counted, and where bad rows go.
pub struct Load {
    pub input: Input,
    pub plan: Plan,
    pub stats: Stats,
    pub rejects: Rejects,
    pub progress: Progress,
    pub max_errors: u64,
    pub batch_size: usize,
    pub dry_run: bool,
    /// Data rows read (good and rejected) through the end of the last committed batch.
    pub committed_through: u64,
    pub per_batch: bool,
    /// --skip.
    pub skip: u64,
    pub shared: Shared,
}

impl Load {
    /// Reads up to a batch of good rows, counting and setting aside bad ones; a bad row past
    /// --max-errors ends the load (a dry run reports every bad row and goes on). An empty
    /// batch is the end of the input.
    fn next_batch(&mut self) -> Result<Vec<Row>> {
        let mut rows = Vec::with_capacity(self.batch_size.min(100_000));
        while rows.len() < self.batch_size {
            let Some(next) = self.input.next(&self.plan)? else {
                break;
            };
            self.stats.read = self.stats.read.saturating_add(1);
            match next {
                Ok(row) => rows.push(row),
                Err(bad) => {
                    self.stats.rejected = self.stats.rejected.saturating_add(1);
                    if self.dry_run {
                        eprintln!("dbcore-ingest: bad {bad}");
                    } else if self.stats.rejected > self.max_errors {
                        bail!("{bad}");
                    } else {
                        eprintln!("dbcore-ingest: skipped {bad}");
                        self.rejects.record(&bad)?;
                    }
                }
            }
            if self.stats.read.is_multiple_of(1024) {
                self.progress.update(&self.stats, self.input.bytes_read());
            }
        }
        Ok(rows)
    }

    /// The committed state now.
    pub fn committed(&self, done: bool) -> Committed {
        Committed {
            per_batch: self.per_batch,
            skip: self.skip,
            through: self.committed_through,
            written: self.stats.written,
            reject_path: self.rejects.path().to_owned(),
            rejected: self.rejects.committed_rows(),
            done,
            discard: self.rejects.staged(),
        }
    }

    /// The error that ends a per-batch load, with the exact resume hint.
    fn stopped(&mut self, error: anyhow::Error) -> anyhow::Error {
        self.rejects.roll_back();
        error.context(self.committed(false).hint())
    }

    /// Checks every row and writes nothing; any bad row is an error.
    pub fn dry_run(&mut self) -> Result<()> {
        while !self.next_batch()?.is_empty() {}
        if self.stats.rejected > 0 {
            bail!(
                "{} of {} rows are bad (each is listed above){}",
                self.stats.rejected,
                self.stats.read,
                if self.stats.rejected <= self.max_errors {
                    "; a load with this --max-errors would skip them"
                } else {
                    ""
                }
            );
        }
        Ok(())
    }

    /// One transaction for the whole input.
    pub async fn all_or_nothing(&mut self, db: &DatabaseConnection) -> Result<()> {
        let shared = self.shared.clone();
        let (written, mut guard) = if db.kind() == DbKind::Postgres {
            // One COPY for the whole file: the server works on what was sent while the next
            // rows are read and checked (a COPY per batch would wait for the server at every
            // batch).
            db.session_scope::<sqlx::Postgres, _, anyhow::Error, _>(async |tx| {
                let statement = copy_statement(&self.plan);
                let mut copy = tx.copy_in_raw(&statement).await?;
                // Input line of each row sent, to name the line the server refuses.
                let mut sent_lines: Vec<u64> = Vec::new();
                loop {
                    let rows = match self.next_batch() {
                        Ok(rows) => rows,
                        Err(e) => {
                            let _ = copy.abort("a bad row").await;
                            return Err(e);
                        }
                    };
                    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
                        break;
                    };
                    let (first, last) = (first.line, last.line);
                    sent_lines.extend(rows.iter().map(|r| r.line));
                    copy.send(copy_payload(&rows)).await.map_err(|e| {
                        anyhow::anyhow!("the server refused the rows of lines {first}–{last}: {e}")
                    })?;
                }
                let written = copy
                    .finish()
                    .await
                    .map_err(|e| refused_copy(&e, &sent_lines))?;
                // Held through the commit: a signal now waits for it.
                Ok((written, shared.lock_owned().await))
            })
            .await?
        } else {
            let mut written = 0;
            project_core::on_pool!(db => session_scope::<_, anyhow::Error>(async |tx| {
                let mut tx = AnyTx::from(tx);
                loop {
                    let rows = self.next_batch()?;
                    if rows.is_empty() {
                        break Ok::<_, anyhow::Error>((written, shared.clone().lock_owned().await));
                    }
                    written += tx.write(&self.plan, &rows).await?;
                }
            }))?
        };
        self.stats.written = written;
        self.committed_through = self.stats.read;
        let rejects = self.rejects.commit();
        *guard = self.committed(true);
        rejects
    }

    /// A transaction per batch; an error names the exact `--skip` to resume with.
    pub async fn per_batch(&mut self, db: &DatabaseConnection) -> Result<()> {
        loop {
            let rows = match self.next_batch() {
                Ok(rows) => rows,
                Err(e) => return Err(self.stopped(e)),
            };
            // Held from the start of the transaction until the state says what it committed.
            let mut guard = self.shared.clone().lock_owned().await;
            if rows.is_empty() {
                self.committed_through = self.stats.read;
                let rejects = self.rejects.commit();
                *guard = self.committed(false);
                return rejects;
            }
            let plan = &self.plan;
            let rows = &rows;
            let written = project_core::on_pool!(db => session_scope::<_, anyhow::Error>(async |tx| {
                AnyTx::from(tx).write(plan, rows).await
            }));
            match written {
                Ok(n) => {
                    self.stats.written = self.stats.written.saturating_add(n);
                    self.committed_through = self.stats.read;
                    let rejects = self.rejects.commit();
                    *guard = self.committed(false);
                    if let Err(e) = rejects {
                        return Err(e.context(self.committed(false).hint()));
                    }
                }
                Err(e) => return Err(self.stopped(e)),
            }
            drop(guard);
            self.progress.update(&self.stats, self.input.bytes_read());
        }
    }
}
