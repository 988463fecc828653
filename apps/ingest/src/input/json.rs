//! A JSON line as a row: its object's members in order (a repeated key kept, to be refused),
//! each value as the text it loads as.

use crate::plan::{Bad, Plan, Raw, Row};
use crate::values::shown;

pub(super) fn json_row(plan: &Plan, line: u64, bytes: Vec<u8>) -> Result<Row, Bad> {
    let bad = |column: Option<String>, reason: String, bytes: Vec<u8>| Bad {
        line,
        column,
        reason,
        raw: Raw::Line(bytes),
    };
    let object = match std::str::from_utf8(&bytes) {
        Err(e) => {
            let reason = format!("not UTF-8 (a bad byte after {} bytes)", e.valid_up_to());
            return Err(bad(None, reason, bytes));
        }
        Ok(text) => match members(text) {
            Ok(o) => o,
            Err(e) => return Err(bad(None, format!("not a JSON object: {e}"), bytes)),
        },
    };
    if let Some(key) = object
        .iter()
        .map(|(k, _)| k)
        .find(|k| !plan.columns.iter().any(|(c, _)| &c.name == *k))
    {
        let reason = "not a column of the table (or absent from the first line)".to_owned();
        return Err(bad(Some(shown(key)), reason, bytes));
    }
    if let Some(key) = object
        .iter()
        .enumerate()
        .find(|(i, (k, _))| object.iter().take(*i).any(|(earlier, _)| earlier == k))
        .map(|(_, (k, _))| k)
    {
        let reason = "given twice in this line; keep the one value meant".to_owned();
        return Err(bad(Some(shown(key)), reason, bytes));
    }
    let mut values = Vec::with_capacity(plan.columns.len());
    for (c, _) in &plan.columns {
        let raw = object.iter().find(|(k, _)| *k == c.name).map(|(_, v)| v);
        values.push(match raw.map(|v| value_text(v)) {
            None => None,
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(bad(Some(shown(&c.name)), e, bytes)),
        });
    }
    plan.check_row(line, values, Raw::Line(bytes))
}

/// A JSON object's members in order, duplicates kept (a map would keep one silently), each
/// value as its raw text.
struct Members(Vec<(String, Box<serde_json::value::RawValue>)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// The members of the JSON object `text` is, in order and with any repeated key.
pub(super) fn members(
    text: &str,
) -> Result<Vec<(String, Box<serde_json::value::RawValue>)>, String> {
    serde_json::from_str::<Members>(text)
        .map(|m| m.0)
        .map_err(|e| e.to_string())
}

/// The text a JSON value loads as: a string decoded, `null` none, and anything else (a
/// number, `true`, an object, an array) exactly as written, so that `12345678901234567890123`
/// or `0.1000000000000000055511151231257827` is never rounded through an `f64`.
fn value_text(raw: &serde_json::value::RawValue) -> Result<Option<String>, String> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text)
            .map(Some)
            .map_err(|e| format!("not a JSON string: {e}")),
        Some(b'n') if text == "null" => Ok(None),
        _ => Ok(Some(text.to_owned())),
    }
}
