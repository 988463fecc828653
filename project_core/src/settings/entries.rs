//! The settings as `explain` shows them: each set key, its value as its type, its origin.

use std::collections::BTreeMap;

use super::fields::TargetSettings;
use super::origin::Origin;

/// One setting for `explain`: its key, its value as its type (a port is a number), its origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: serde_json::Value,
    pub origin: Origin,
}

impl Entry {
    /// The value as `explain` prints it: lists comma-separated, an empty one as `-`.
    pub fn shown(&self) -> String {
        shown(&self.value)
    }
}

fn shown(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(items) if items.is_empty() => "-".into(),
        serde_json::Value::Array(items) => items.iter().map(shown).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Every set key of `values` with its typed value and origin, in key order.
pub(super) fn entries(values: &TargetSettings, origins: &BTreeMap<String, Origin>) -> Vec<Entry> {
    let Ok(tree) = serde_json::to_value(values) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    flatten_json(None, tree, &mut out);
    out.into_iter()
        .map(|(key, value)| Entry {
            origin: origins
                .get(&key)
                .cloned()
                .unwrap_or_else(Origin::code_default),
            key,
            value,
        })
        .collect()
}

/// JSON leaves by dotted key; unset (`null`) ones left out.
fn flatten_json(
    prefix: Option<&str>,
    value: serde_json::Value,
    out: &mut Vec<(String, serde_json::Value)>,
) {
    let serde_json::Value::Object(map) = value else {
        return;
    };
    for (name, value) in map {
        let key = prefix.map_or_else(|| name.clone(), |p| format!("{p}.{name}"));
        match value {
            serde_json::Value::Null => {}
            serde_json::Value::Object(_) => flatten_json(Some(&key), value, out),
            leaf => out.push((key, leaf)),
        }
    }
}
