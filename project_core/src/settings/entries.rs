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
    super::fields::leaves(values, false)
        .into_iter()
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
