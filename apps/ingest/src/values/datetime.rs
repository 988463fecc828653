//! Dates and timestamps, parsed by chrono after a shape check on bytes (never a slice of the
//! string at a byte index): `YYYY-MM-DD`, then for timestamps an optional `T` or space,
//! `HH:MM[:SS[.f]]`, and an optional offset (`Z`, `+HH`, `+HH:MM`, `+HHMM`) where the server
//! takes one. The calendar is chrono's, so `2024-02-30` is refused as the servers refuse it.

use chrono::format::{self, Parsed, StrftimeItems};
use chrono::{Datelike as _, NaiveDate, NaiveTime};

const DATE: &str = "a date (YYYY-MM-DD, year 1 to 9999)";
const TIMESTAMP: &str = "a timestamp (YYYY-MM-DD[ HH:MM[:SS[.fff]]][zone])";

/// Whether the first ten bytes are `DDDD-DD-DD`.
fn date_shape(bytes: &[u8]) -> bool {
    bytes.len() >= 10
        && bytes.iter().take(10).enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

/// The date at the start of `v` and what follows it.
fn leading_date(v: &str) -> Option<(NaiveDate, &str)> {
    if !date_shape(v.as_bytes()) {
        return None;
    }
    let (date, rest) = NaiveDate::parse_and_remainder(v, "%Y-%m-%d").ok()?;
    (1..=9999).contains(&date.year()).then_some((date, rest))
}

pub fn date(v: &str) -> Result<(), String> {
    match leading_date(v) {
        Some((_, "")) => Ok(()),
        _ => Err(format!("not {DATE}")),
    }
}

pub fn timestamp(v: &str, zone: bool) -> Result<(), String> {
    let bad = || Err(format!("not {TIMESTAMP}"));
    let Some((_, rest)) = leading_date(v) else {
        return bad();
    };
    if rest.is_empty() {
        return Ok(());
    }
    let Some(time) = rest.strip_prefix(['T', 't', ' ']) else {
        return bad();
    };
    let rest = match NaiveTime::parse_and_remainder(time, "%H:%M:%S%.f") {
        Ok((_, rest)) => rest,
        Err(_) => match NaiveTime::parse_and_remainder(time, "%H:%M") {
            Ok((_, rest)) if !rest.starts_with(':') => rest,
            _ => return bad(),
        },
    };
    if rest.is_empty() {
        return Ok(());
    }
    if !zone {
        return bad();
    }
    let offset = rest.strip_prefix(' ').unwrap_or(rest);
    if matches!(offset, "Z" | "z") {
        return Ok(());
    }
    let mut parsed = Parsed::new();
    let parsed_offset = format::parse(&mut parsed, offset, StrftimeItems::new("%#z"))
        .ok()
        .and_then(|()| parsed.offset());
    match parsed_offset {
        // PostgreSQL takes offsets up to 15:59.
        Some(seconds) if seconds.unsigned_abs() < 16 * 3600 => Ok(()),
        _ => bad(),
    }
}
