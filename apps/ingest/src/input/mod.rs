//! Reading rows: CSV records and JSON lines as bytes, so that a ragged row, bytes that are not
//! UTF-8 or an over-long line are a bad row with its line number, never the end of the load.
//! Only an I/O error ends reading.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, Result, bail};

mod json;

use crate::cli::InputFormat;
use crate::plan::{Bad, Plan, Raw, Row};
use json::{json_row, members};

/// The longest JSON line read whole (64 MiB): longer ones are bad rows, read past without
/// being held, so a file with no newline cannot exhaust memory.
pub const MAX_LINE: usize = 64 << 20;

/// The input under a CSV reader: it counts the bytes read since the record being read began
/// and fails past [`MAX_LINE`], because the csv crate gathers a record (a line without a
/// newline, a quoted field that never closes) in memory without bound.
pub struct Capped {
    inner: Box<dyn Read>,
    used: Arc<AtomicUsize>,
}

impl Read for Capped {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.used.load(Ordering::Relaxed) > MAX_LINE {
            return Err(std::io::Error::other(
                "a CSV record (a line, or a quoted field with its newlines) is longer than 64 MiB",
            ));
        }
        let n = self.inner.read(buf)?;
        self.used.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }
}

pub enum Input {
    Csv {
        reader: csv::Reader<Capped>,
        header: csv::ByteRecord,
        record: csv::ByteRecord,
        /// Bytes read since the current record began (see [`Capped`]).
        used: Arc<AtomicUsize>,
    },
    Jsonl {
        reader: BufReader<Box<dyn Read>>,
        line: u64,
        /// The first line, read to learn the columns, still to be loaded.
        first: Option<(u64, Vec<u8>)>,
        buf: Vec<u8>,
    },
}

/// One line read: its bytes (without the newline), or only the fact that it was too long.
enum Line {
    Text,
    TooLong,
}

/// Reads up to and past the next `\n` into `buf`, keeping at most `cap` bytes.
fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<Line>> {
    buf.clear();
    let mut any = false;
    let mut too_long = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(any.then_some(if too_long { Line::TooLong } else { Line::Text }));
        }
        any = true;
        let newline = available.iter().position(|b| *b == b'\n');
        let chunk = newline.map_or(available, |i| available.get(..i).unwrap_or_default());
        if !too_long {
            if buf.len().saturating_add(chunk.len()) > cap {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = newline.map_or(available.len(), |i| i + 1);
        reader.consume(used);
        if newline.is_some() {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(if too_long { Line::TooLong } else { Line::Text }));
        }
    }
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

impl Input {
    /// Opens `file` (or standard input), reads its first line and adds the columns it names to
    /// `plan`.
    pub fn open(file: &str, format: InputFormat, plan: &mut Plan) -> Result<Input> {
        let source: Box<dyn Read> = if file == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(file).with_context(|| format!("cannot open {file}"))?)
        };
        let input = match format {
            InputFormat::Csv => open_csv(source, plan)?,
            InputFormat::Jsonl => open_jsonl(source, plan)?,
        };
        plan.require_not_null()?;
        Ok(input)
    }

    /// The CSV header, for the reject file.
    pub fn header(&self) -> Option<&csv::ByteRecord> {
        match self {
            Input::Csv { header, .. } => Some(header),
            Input::Jsonl { .. } => None,
        }
    }

    /// Reads one data row, CSV or JSON Lines, without checking it.
    fn read_row(&mut self) -> Result<Next> {
        match self {
            Input::Csv {
                reader,
                record,
                used,
                ..
            } => {
                used.store(0, Ordering::Relaxed);
                let more = reader
                    .read_byte_record(record)
                    .context("cannot read the CSV input")?;
                Ok(if more { Next::Csv } else { Next::End })
            }
            Input::Jsonl {
                reader,
                line,
                first,
                buf,
            } => Ok(match first.take() {
                Some((number, bytes)) => Next::Json(number, bytes),
                None => match next_line(reader, buf, line)? {
                    None => Next::End,
                    Some(Line::TooLong) => Next::TooLong(*line),
                    Some(Line::Text) => Next::Json(*line, std::mem::take(buf)),
                },
            }),
        }
    }

    /// Reads past one data row without checking it; `false` at the end of the input.
    pub fn skip(&mut self) -> Result<bool> {
        Ok(!matches!(self.read_row()?, Next::End))
    }

    /// The next row (checked), a bad row, or the end.
    pub fn next(&mut self, plan: &Plan) -> Result<Option<Result<Row, Bad>>> {
        let next = self.read_row()?;
        Ok(match (next, &*self) {
            (Next::End, _) => None,
            (Next::Csv, Input::Csv { header, record, .. }) => Some(csv_row(plan, header, record)),
            // A JSON Lines input never reads a CSV record.
            (Next::Csv, Input::Jsonl { .. }) => None,
            (Next::Json(number, bytes), _) => Some(json_row(plan, number, bytes)),
            (Next::TooLong(line), _) => Some(Err(Bad {
                line,
                column: None,
                reason: "longer than 64 MiB".into(),
                raw: Raw::Line(Vec::new()),
            })),
        })
    }

    /// Bytes read so far, for the progress bar.
    pub fn bytes_read(&self) -> Option<u64> {
        match self {
            Input::Csv { reader, .. } => Some(reader.position().byte()),
            Input::Jsonl { .. } => None,
        }
    }
}

/// A CSV input: the header names the columns.
fn open_csv(source: Box<dyn Read>, plan: &mut Plan) -> Result<Input> {
    let used = Arc::new(AtomicUsize::new(0));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(Capped {
            inner: source,
            used: used.clone(),
        });
    let header = reader
        .byte_headers()
        .context("cannot read the CSV header (line 1)")?
        .clone();
    if header.is_empty() {
        bail!("line 1: the input is empty; a CSV file starts with a header line");
    }
    for field in &header {
        let name = std::str::from_utf8(field)
            .map_err(|_| anyhow::anyhow!("line 1: the CSV header is not UTF-8"))?;
        plan.add_column(name)?;
    }
    Ok(Input::Csv {
        reader,
        header,
        record: csv::ByteRecord::new(),
        used,
    })
}

/// A JSON Lines input: the columns are the table's columns the first record names.
fn open_jsonl(source: Box<dyn Read>, plan: &mut Plan) -> Result<Input> {
    let mut reader = BufReader::new(source);
    let mut buf = Vec::new();
    let mut line = 0;
    match next_line(&mut reader, &mut buf, &mut line)? {
        None => bail!("the input holds no JSON object"),
        Some(Line::TooLong) => bail!("line {line} is longer than 64 MiB"),
        Some(Line::Text) => {}
    }
    let object = std::str::from_utf8(&buf)
        .ok()
        .and_then(|text| members(text).ok())
        .with_context(|| {
            format!("line {line} is not a JSON object; the first one names the columns")
        })?;
    for (key, _) in &object {
        plan.add_column(key)
            .with_context(|| format!("line {line} names the columns"))?;
    }
    Ok(Input::Jsonl {
        reader,
        line,
        first: Some((line, std::mem::take(&mut buf))),
        buf,
    })
}

/// The next line that is not blank, counting lines in `line`; `None` at the end.
fn next_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, line: &mut u64) -> Result<Option<Line>> {
    loop {
        *line += 1;
        match read_line(reader, buf, MAX_LINE)
            .with_context(|| format!("cannot read line {line}"))?
        {
            Some(Line::Text) if is_blank(buf) => {}
            other => return Ok(other),
        }
    }
}

/// A CSV record as a row: as many fields as the header, each UTF-8 (empty is NULL), checked.
fn csv_row(plan: &Plan, header: &csv::ByteRecord, record: &csv::ByteRecord) -> Result<Row, Bad> {
    let line = record.position().map_or(0, csv::Position::line);
    let raw = || Raw::Fields(record.iter().map(<[u8]>::to_vec).collect());
    if record.len() != header.len() {
        return Err(Bad {
            line,
            column: None,
            reason: format!("{} fields, the header has {}", record.len(), header.len()),
            raw: raw(),
        });
    }
    let mut values = Vec::with_capacity(record.len());
    for ((column, _), field) in plan.columns.iter().zip(record.iter()) {
        match std::str::from_utf8(field) {
            Ok("") => values.push(None),
            Ok(text) => values.push(Some(text.to_owned())),
            Err(e) => {
                return Err(Bad {
                    line,
                    column: Some(column.name.clone()),
                    reason: format!("not UTF-8 (a bad byte after {} bytes)", e.valid_up_to()),
                    raw: raw(),
                });
            }
        }
    }
    plan.check_row(line, values, raw())
}

/// One row read and not yet checked.
enum Next {
    End,
    /// The CSV record now in the input's record buffer.
    Csv,
    /// A JSON Lines line: its number and bytes.
    Json(u64, Vec<u8>),
    /// A line over the cap, by number.
    TooLong(u64),
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn reading_lines_keeps_every_byte_or_says_too_long(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            cap in 1usize..64,
        ) {
            let mut reader = BufReader::with_capacity(7, data.as_slice());
            let mut buf = Vec::new();
            let mut lines = 0;
            while let Some(line) = read_line(&mut reader, &mut buf, cap).unwrap() {
                lines += 1;
                match line {
                    Line::Text => prop_assert!(buf.len() <= cap && !buf.contains(&b'\n')),
                    Line::TooLong => {}
                }
            }
            let expected = data.split(|b| *b == b'\n').count()
                - usize::from(data.is_empty() || data.ends_with(b"\n"));
            prop_assert_eq!(lines, expected);
        }
    }
}
