//! Checking a text value against a column's declared type, before anything is written, so that
//! a bad row is reported with its line, column and reason instead of a server error mid-load.

/// What a declared type accepts, by family (the same families for every kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Integer,
    Float,
    Numeric,
    Boolean,
    Date,
    Timestamp,
    Json,
    Uuid,
    Text,
}

impl Family {
    pub fn of(declared: &str) -> Family {
        let t = declared.to_ascii_lowercase();
        if t.contains("[]") {
            Family::Text // arrays: the server checks them
        } else if t.contains("int") || t.contains("serial") {
            Family::Integer
        } else if t.contains("real") || t.contains("double") || t.contains("float") {
            Family::Float
        } else if t.contains("numeric") || t.contains("decimal") {
            Family::Numeric
        } else if t.starts_with("bool") {
            Family::Boolean
        } else if t.starts_with("timestamp") || t.starts_with("datetime") {
            Family::Timestamp
        } else if t == "date" {
            Family::Date
        } else if t.starts_with("json") {
            Family::Json
        } else if t == "uuid" {
            Family::Uuid
        } else {
            Family::Text
        }
    }
}

fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| v[r].parse::<u32>().ok();
    matches!((num(0..4), num(5..7), num(8..10)), (Some(_), Some(m), Some(d)) if (1..=12).contains(&m) && (1..=31).contains(&d))
}

/// `Err(reason)` when `value` cannot be a value of the family.
pub fn check(family: Family, value: &str) -> Result<(), String> {
    let v = value.trim();
    let ok = match family {
        Family::Integer => v.parse::<i64>().is_ok(),
        Family::Float | Family::Numeric => v.parse::<f64>().is_ok(),
        Family::Boolean => matches!(
            v.to_ascii_lowercase().as_str(),
            "t" | "f" | "true" | "false" | "1" | "0" | "yes" | "no" | "on" | "off" | "y" | "n"
        ),
        Family::Date => is_date(v),
        Family::Timestamp => {
            v.len() >= 10
                && is_date(&v[..10])
                && v[10..]
                    .chars()
                    .all(|c| c.is_ascii_digit() || " T:.+-Z".contains(c))
        }
        Family::Json => serde_json::from_str::<serde_json::Value>(v).is_ok(),
        Family::Uuid => {
            let parts: Vec<&str> = v.split('-').collect();
            parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
                && parts
                    .iter()
                    .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
        }
        Family::Text => true,
    };
    if ok {
        Ok(())
    } else {
        let what = match family {
            Family::Integer => "an integer",
            Family::Float | Family::Numeric => "a number",
            Family::Boolean => "a boolean (true/false, t/f, 1/0, yes/no)",
            Family::Date => "a date (YYYY-MM-DD)",
            Family::Timestamp => "a timestamp (YYYY-MM-DD[ HH:MM:SS[.fff][±zone]])",
            Family::Json => "JSON",
            Family::Uuid => "a UUID",
            Family::Text => "text",
        };
        Err(format!("{value:?} is not {what}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_checks() {
        assert_eq!(Family::of("integer"), Family::Integer);
        assert_eq!(Family::of("bigint"), Family::Integer);
        assert_eq!(Family::of("INTEGER"), Family::Integer);
        assert_eq!(Family::of("numeric(12,2)"), Family::Numeric);
        assert_eq!(Family::of("decimal(10,2)"), Family::Numeric);
        assert_eq!(Family::of("timestamp with time zone"), Family::Timestamp);
        assert_eq!(Family::of("character varying(80)"), Family::Text);
        assert_eq!(Family::of("integer[]"), Family::Text);
        assert!(check(Family::Integer, "-42").is_ok());
        assert_eq!(
            check(Family::Integer, "4x").unwrap_err(),
            "\"4x\" is not an integer"
        );
        assert!(check(Family::Numeric, "12.50").is_ok());
        assert!(
            check(Family::Date, "2026-02-30").is_ok(),
            "the server has the last word on calendars"
        );
        assert!(check(Family::Date, "2026-13-01").is_err());
        assert!(check(Family::Timestamp, "2026-11-26 15:04:05.123+00").is_ok());
        assert!(check(Family::Timestamp, "yesterday").is_err());
        assert!(check(Family::Boolean, "Yes").is_ok());
        assert!(check(Family::Json, "{\"a\": 1}").is_ok());
        assert!(check(Family::Uuid, "123e4567-e89b-12d3-a456-426614174000").is_ok());
    }
}
