//! Checking a text value against a column's declared type, before anything is written, so that
//! a bad row is reported with its line, column and reason instead of a server error mid-load.
//!
//! Design decision: a declared type is classified by its name (the first word of what the
//! catalog shows, never a substring: `interval` and `point` are not integers) and by the kind
//! of server, because the same name accepts different values: MySQL has unsigned and 24-bit
//! integers, PostgreSQL numerics take `NaN`, SQLite stores whatever it is given in an integer
//! column as long as it fits 64 bits. A check refuses what the server would refuse (range,
//! calendar, precision and scale) and may be stricter on spelling (dates only as
//! `YYYY-MM-DD`); types it does not know are left to the server. Dates, timestamps and UUIDs
//! are parsed by chrono and uuid; numbers by the small grammar in `number`.

mod datetime;
mod number;

use project_core::DbKind;

/// What a declared type accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// An integer in `min..=max`; `name` is the type's name for messages.
    Integer {
        min: i128,
        max: i128,
        name: &'static str,
    },
    /// A binary float; `single` for 32 bits; `special` when NaN and infinities are values;
    /// `underflow` when a non-zero value that rounds to zero is refused (PostgreSQL).
    Float {
        single: bool,
        special: bool,
        underflow: bool,
    },
    /// A decimal number, with its precision and scale when the type has them.
    Decimal(number::DecimalRule),
    Boolean,
    Date,
    /// `zone`: an offset after the time is accepted.
    Timestamp {
        zone: bool,
    },
    Json,
    Uuid,
    /// Anything: the server checks it.
    Text,
}

impl Check {
    /// The check for a column of `declared` type on a server of `kind`.
    pub fn of(kind: DbKind, declared: &str) -> Check {
        let t = declared.trim().to_ascii_lowercase();
        if t.ends_with("[]") {
            return Check::Text; // arrays: the server checks them
        }
        let word: String = t
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let args = t.strip_prefix(word.as_str()).and_then(type_args);
        let unsigned = t.split_whitespace().skip(1).any(|w| w == "unsigned")
            || t.split(')')
                .nth(1)
                .is_some_and(|rest| rest.split_whitespace().any(|w| w == "unsigned"));
        match kind {
            DbKind::Postgres => postgres(&word, args),
            DbKind::MySql => mysql(&word, args, unsigned),
            DbKind::Sqlite => sqlite(&word),
        }
    }
}

/// The numbers in `(p, s)` right after a type's name, if any.
fn type_args(rest: &str) -> Option<(i64, Option<i64>)> {
    let inside = rest.trim_start().strip_prefix('(')?.split(')').next()?;
    let mut parts = inside.split(',').map(|p| p.trim().parse::<i64>());
    let first = parts.next()?.ok()?;
    let second = match parts.next() {
        Some(s) => Some(s.ok()?),
        None => None,
    };
    Some((first, second))
}

fn int(bits: u32, unsigned: bool, name: &'static str) -> Check {
    let (min, max) = if unsigned {
        (0, (1i128 << bits) - 1)
    } else {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    };
    Check::Integer { min, max, name }
}

fn postgres(word: &str, args: Option<(i64, Option<i64>)>) -> Check {
    match word {
        "smallint" | "int2" | "smallserial" | "serial2" => int(16, false, "smallint"),
        "integer" | "int" | "int4" | "serial" | "serial4" => int(32, false, "integer"),
        "bigint" | "int8" | "bigserial" | "serial8" => int(64, false, "bigint"),
        "real" | "float4" => Check::Float {
            single: true,
            special: true,
            underflow: true,
        },
        "double" | "float8" | "float" => Check::Float {
            single: word == "float" && args.is_some_and(|(p, _)| p <= 24),
            special: true,
            underflow: true,
        },
        "numeric" | "decimal" => Check::Decimal(number::DecimalRule {
            digits: args.map(|(p, s)| (p, s.unwrap_or(0))),
            nan: true,
            infinity: args.is_none(),
            unsigned: false,
            postgres: true,
        }),
        "boolean" | "bool" => Check::Boolean,
        "date" => Check::Date,
        "timestamp" | "timestamptz" => Check::Timestamp { zone: true },
        "json" | "jsonb" => Check::Json,
        "uuid" => Check::Uuid,
        _ => Check::Text,
    }
}

fn mysql(word: &str, args: Option<(i64, Option<i64>)>, unsigned: bool) -> Check {
    let integer = match word {
        "tinyint" => Some((8, "tinyint", "tinyint unsigned")),
        "smallint" => Some((16, "smallint", "smallint unsigned")),
        "mediumint" => Some((24, "mediumint", "mediumint unsigned")),
        "int" | "integer" => Some((32, "int", "int unsigned")),
        "bigint" => Some((64, "bigint", "bigint unsigned")),
        _ => None,
    };
    if let Some((bits, signed_name, unsigned_name)) = integer {
        return int(
            bits,
            unsigned,
            if unsigned { unsigned_name } else { signed_name },
        );
    }
    match word {
        "float" => Check::Float {
            single: args.is_none_or(|(p, s)| s.is_some() || p <= 24),
            special: false,
            underflow: false,
        },
        "double" | "real" => Check::Float {
            single: false,
            special: false,
            underflow: false,
        },
        "decimal" | "numeric" | "dec" | "fixed" => Check::Decimal(number::DecimalRule {
            digits: Some(args.map_or((10, 0), |(p, s)| (p, s.unwrap_or(0)))),
            nan: false,
            infinity: false,
            unsigned,
            postgres: false,
        }),
        "date" => Check::Date,
        "datetime" | "timestamp" => Check::Timestamp { zone: false },
        "json" => Check::Json,
        "uuid" => Check::Uuid,
        _ => Check::Text,
    }
}

/// SQLite keeps any value in any column; what it cannot keep as declared it stores as text.
/// ingest still refuses what is plainly not of the declared type (as it always has), with
/// 64-bit integers whatever the declared width.
fn sqlite(word: &str) -> Check {
    match word {
        "int" | "integer" | "tinyint" | "smallint" | "mediumint" | "bigint" | "int2" | "int4"
        | "int8" => int(64, false, "integer"),
        "real" | "double" | "float" => Check::Float {
            single: false,
            special: true,
            underflow: false,
        },
        "numeric" | "decimal" => Check::Decimal(number::DecimalRule {
            digits: None,
            nan: false,
            infinity: false,
            unsigned: false,
            postgres: false,
        }),
        "boolean" | "bool" => Check::Boolean,
        "date" => Check::Date,
        "timestamp" | "datetime" => Check::Timestamp { zone: true },
        "json" => Check::Json,
        "uuid" => Check::Uuid,
        _ => Check::Text,
    }
}

/// At most this many characters of a value appear in a message.
const SHOWN: usize = 40;

/// A value as a message shows it: quoted, escaped, and cut to `SHOWN` characters.
pub fn shown(value: &str) -> String {
    let count = value.chars().count();
    if count <= SHOWN {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(SHOWN).collect();
        format!("{head:?}… ({count} characters)")
    }
}

/// `Err(reason)` when `value` cannot be a value of the column.
pub fn check(check: &Check, value: &str) -> Result<(), String> {
    let v = value.trim_matches(|c: char| c.is_ascii_whitespace());
    let problem: Option<String> = match check {
        Check::Integer { min, max, name } => number::integer(v, *min, *max, name),
        Check::Float {
            single,
            special,
            underflow,
        } => number::float(v, *single, *special, *underflow),
        Check::Decimal(rule) => number::decimal(v, rule),
        Check::Boolean => (!matches!(
            v.to_ascii_lowercase().as_str(),
            "t" | "f" | "true" | "false" | "1" | "0" | "yes" | "no" | "on" | "off" | "y" | "n"
        ))
        .then(|| "not a boolean (true/false, t/f, 1/0, yes/no, on/off)".to_owned()),
        Check::Date => datetime::date(v).err(),
        Check::Timestamp { zone } => datetime::timestamp(v, *zone).err(),
        Check::Json => serde_json::from_str::<serde_json::Value>(v)
            .err()
            .map(|_| "not JSON".to_owned()),
        Check::Uuid => {
            let shape = matches!(v.len(), 32 | 36);
            (!shape || uuid::Uuid::try_parse(v).is_err())
                .then(|| "not a UUID (32 hex digits, with or without hyphens)".to_owned())
        }
        Check::Text => None,
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(format!("{} is {why}", shown(value))),
    }
}

#[cfg(test)]
mod tests;
