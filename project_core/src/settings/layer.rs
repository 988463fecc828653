//! Layers and their merge, on the `config` crate: each layer is a `config::Source` whose values
//! carry their origin, `config` merges them (a later layer wins key by key, tables merge), and
//! the result deserializes into the typed [`TargetSettings`].

use std::collections::BTreeMap;

use config::{Config, Map, Source, Value, ValueKind};

use super::error::SettingsError;
use super::fields::{self, TargetSettings};
use super::origin::Origin;

/// One layer's values by dotted key, each stamped with its origin.
#[derive(Clone)]
pub struct Layer {
    name: &'static str,
    values: Map<String, Value>,
}

impl std::fmt::Debug for Layer {
    // The keys, not the values: `config` wants `Debug`, and nothing needs more.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer")
            .field("name", &self.name)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Source for Layer {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        Ok(self.values.clone())
    }
}

impl Layer {
    pub fn new(name: &'static str, values: Map<String, Value>) -> Self {
        Layer { name, values }
    }

    /// The set fields of `settings` as a layer, each value with `origin_of(key)`.
    ///
    /// The tree goes through its JSON form, not `config`'s serializer: that one writes a list
    /// item by item, so an empty list (`sources = []`, "no source") would vanish.
    pub fn from_settings(
        name: &'static str,
        settings: &TargetSettings,
        origin_of: impl Fn(&str) -> Origin,
    ) -> Result<Self, SettingsError> {
        let mut values = Map::new();
        for (key, leaf) in fields::leaves(settings, false) {
            let origin = origin_of(&key).to_string();
            values.insert(key, Value::new(Some(&origin), config_kind(leaf)));
        }
        Ok(Layer { name, values })
    }
}

/// A leaf's JSON form as a `config` value.
fn config_kind(value: serde_json::Value) -> ValueKind {
    match value {
        serde_json::Value::Bool(b) => ValueKind::Boolean(b),
        serde_json::Value::Number(n) => n.as_i64().map_or(ValueKind::Nil, ValueKind::I64),
        serde_json::Value::String(s) => ValueKind::String(s),
        serde_json::Value::Array(items) => ValueKind::Array(
            items
                .into_iter()
                .map(|i| Value::new(None, config_kind(i)))
                .collect(),
        ),
        serde_json::Value::Null | serde_json::Value::Object(_) => ValueKind::Nil,
    }
}

/// Merges `layers` (later ones win) into typed settings and each set key's origin.
pub fn merge(
    layers: &[Layer],
) -> Result<(TargetSettings, BTreeMap<String, Origin>), SettingsError> {
    let builder = layers
        .iter()
        .fold(Config::builder(), |b, layer| b.add_source(layer.clone()));
    let config = builder.build().map_err(merge_failed)?;
    let origins = leaves(config.collect().map_err(merge_failed)?)
        .into_iter()
        .map(|(key, value)| (key, Origin::from_config(value.origin())))
        .collect();
    let settings = config.try_deserialize().map_err(merge_failed)?;
    Ok((settings, origins))
}

/// Every value that is not a table, by its dotted key (no layer holds an unset value: each is
/// built from the set leaves of a tree).
fn leaves(tree: Map<String, Value>) -> Vec<(String, Value)> {
    fn walk(prefix: Option<&str>, tree: Map<String, Value>, out: &mut Vec<(String, Value)>) {
        for (name, value) in tree {
            let key = prefix.map_or_else(|| name.clone(), |p| format!("{p}.{name}"));
            match value.kind {
                ValueKind::Table(inner) => walk(Some(&key), inner, out),
                _ => out.push((key, value)),
            }
        }
    }
    let mut out = Vec::new();
    walk(None, tree, &mut out);
    out
}

/// Every value was checked (and scanned for secrets) by its layer, so `config` refusing one is
/// a bug in a setting's canonical form, reported as such.
fn merge_failed(error: config::ConfigError) -> SettingsError {
    SettingsError::Merge(error.to_string())
}
