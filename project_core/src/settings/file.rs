//! The target file layer: `<config dir>/targets/<name>.toml`.
//!
//! The file is parsed once with spans, so every message and every origin names its line; a
//! file that holds a secret is refused whole before anything is taken from it; then the typed
//! tree ([`TargetSettings`], `deny_unknown_fields`) reads it, and each value enters the merge
//! stamped `file:<path> line N`. (`config`'s own TOML reader keeps no lines, so the file is
//! read here and handed to `config` as a layer.)

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use domain::redact::{SecretShape, find_secret};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::SettingsError;
use super::fields::{self, TargetSettings};
use super::layer::Layer;
use super::origin::Origin;

/// A key as written in the file: its dotted path and where its key and value are.
struct Written {
    segments: Vec<String>,
    path: String,
    key: Range<usize>,
    value: Range<usize>,
}

/// Reads the target file `text` (from `path`) into typed settings and their layer.
pub fn read(path: &Path, text: &str) -> Result<(TargetSettings, Layer), SettingsError> {
    let error = |span: Option<Range<usize>>, message: String| SettingsError::File {
        path: path.to_owned(),
        line: span.map(|s| line_at(text, s.start)),
        message,
    };
    let document = DeTable::parse(text).map_err(|e| error(e.span(), e.message().to_owned()))?;
    let mut written = Vec::new();
    walk(&[], document.get_ref(), &mut written);
    refuse_secrets(document.get_ref(), None, &error)?;
    // The first unknown key in the file's own order (the typed read below would refuse it
    // too, but in whatever order its map holds the keys).
    written.sort_by_key(|w| w.key.start);
    if let Some(unknown) = written.iter().find(|w| !fields::is_known(&w.segments)) {
        let parent = unknown.segments[..unknown.segments.len() - 1].join(".");
        let parent = (!parent.is_empty()).then_some(parent.as_str());
        return Err(error(
            Some(unknown.key.clone()),
            format!(
                "unknown key `{}`; allowed here: {}",
                unknown.path,
                fields::allowed_under(parent)
            ),
        ));
    }
    let settings: TargetSettings = toml::from_str(text).map_err(|e| {
        let span = e.span();
        let message = e.message().trim_end().to_owned();
        let message = match span.as_ref().and_then(|s| key_at(&written, s)) {
            Some(key) => format!("key `{key}`: {message}"),
            None => message,
        };
        error(span, message)
    })?;
    let lines: BTreeMap<&str, usize> = written
        .iter()
        .map(|w| (w.path.as_str(), line_at(text, w.key.start)))
        .collect();
    let layer = Layer::from_settings("target file", &settings, |key| {
        Origin::file(path, lines.get(key).copied())
    })?;
    Ok((settings, layer))
}

/// The 1-based line of byte `at`.
fn line_at(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Every key of every table (inline or not), depth first.
fn walk(prefix: &[String], table: &DeTable<'_>, out: &mut Vec<Written>) {
    for (key, value) in table.iter() {
        let mut segments = prefix.to_vec();
        segments.push(key.get_ref().to_string());
        out.push(Written {
            path: segments.join("."),
            segments: segments.clone(),
            key: key.span(),
            value: value.span(),
        });
        if let DeValue::Table(inner) = value.get_ref() {
            walk(&segments, inner, out);
        }
    }
}

/// The innermost key whose key or value holds the start of `span`: the key a parse error is
/// about (a key of an inline table is inside its parent's value, and written after its start).
fn key_at<'w>(written: &'w [Written], span: &Range<usize>) -> Option<&'w str> {
    written
        .iter()
        .filter(|w| w.key.contains(&span.start) || w.value.contains(&span.start))
        .max_by_key(|w| w.key.start)
        .map(|w| w.path.as_str())
}

/// Refuses the file when a key would hold a secret or a value holds one, anywhere in it.
fn refuse_secrets(
    table: &DeTable<'_>,
    prefix: Option<&str>,
    error: &impl Fn(Option<Range<usize>>, String) -> SettingsError,
) -> Result<(), SettingsError> {
    for (key, value) in table.iter() {
        let name = key.get_ref();
        let path = prefix.map_or_else(|| name.to_string(), |p| format!("{p}.{name}"));
        if is_secret_key(name) {
            return Err(error(
                Some(key.span()),
                format!(
                    "key `{path}` would hold a secret, and target files never hold secrets; \
                     use a credential source instead (env, pgpass, mycnf, file, keyring, vault)"
                ),
            ));
        }
        if let DeValue::Table(inner) = value.get_ref() {
            refuse_secrets(inner, Some(&path), error)?;
        } else if let Some(shape) = secret_in(value) {
            return Err(error(
                Some(key.span()),
                format!(
                    "key `{path}` holds {}; target files never hold secrets, \
                     use a credential source instead",
                    shape.describe()
                ),
            ));
        }
    }
    Ok(())
}

/// Key names that hold secrets: a file with one of them is refused.
fn is_secret_key(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    (name.contains("password") && !matches!(name.as_str(), "password_file" | "password_key"))
        || matches!(
            name.as_str(),
            "passwd"
                | "pass"
                | "pwd"
                | "secret"
                | "secret_id"
                | "token"
                | "api_key"
                | "apikey"
                | "private_key"
        )
}

/// The first secret-looking text inside a value: a string, or any item of an array (tables are
/// walked key by key by the caller, and arrays of tables here).
fn secret_in(value: &Spanned<DeValue<'_>>) -> Option<SecretShape> {
    match value.get_ref() {
        DeValue::String(s) => find_secret(s),
        DeValue::Array(items) => items.iter().find_map(secret_in),
        DeValue::Table(table) => table.iter().find_map(|(_, v)| secret_in(v)),
        _ => None,
    }
}
