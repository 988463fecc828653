//! `dbcore targets`: every target with its kind, place, user and sources.

use std::process::ExitCode;

use anyhow::Result;
use project_core::{Context, registry};
use serde::Serialize;

use crate::cli::Format;
use crate::output::{ConfigDirView, print_config_dir, print_json};

/// One target; a target whose settings are broken is listed by name with its error.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum TargetRow {
    Target(TargetView),
    Broken { error: String, name: String },
}

#[derive(Debug, Serialize)]
struct TargetView {
    /// The target file, or `code` for a compiled module with no file.
    defined_in: String,
    kind: Option<&'static str>,
    name: String,
    sources: Vec<&'static str>,
    user: Option<String>,
    #[serde(rename = "where")]
    place: String,
}

impl TargetView {
    /// NAME, KIND, WHERE, USER and SOURCES, `-` for what is not set.
    fn cells(&self) -> [String; 5] {
        let sources = if self.sources.is_empty() {
            "-".to_owned()
        } else {
            self.sources.join(", ")
        };
        [
            self.name.clone(),
            self.kind.unwrap_or("-").to_owned(),
            self.place.clone(),
            self.user.clone().unwrap_or_else(|| "-".to_owned()),
            sources,
        ]
    }
}

pub fn run(context: &Context, format: Format) -> Result<ExitCode> {
    let rows: Vec<TargetRow> = registry::names(context)
        .into_iter()
        .map(|name| row(context, name))
        .collect();
    if format == Format::Json {
        print_json(&rows)?;
    } else {
        print_config_dir(ConfigDirView::of(context).as_ref(), "")?;
        print_table(&rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn row(context: &Context, name: String) -> TargetRow {
    match registry::settings(&name, context) {
        Ok(s) => TargetRow::Target(TargetView {
            defined_in: s
                .file()
                .map_or_else(|| "code".to_owned(), |p| p.display().to_string()),
            kind: s.kind().map(|k| k.as_str()),
            place: s.location(),
            user: s.identity().user,
            sources: project_core::chain::order(&s)
                .iter()
                .map(|x| x.as_str())
                .collect(),
            name,
        }),
        Err(error) => TargetRow::Broken {
            error: error.to_string(),
            name,
        },
    }
}

fn print_table(rows: &[TargetRow]) -> Result<()> {
    let header = ["NAME", "KIND", "WHERE", "USER", "SOURCES"].map(str::to_owned);
    let lines: Vec<Result<[String; 5], (&str, &str)>> = rows
        .iter()
        .map(|row| match row {
            TargetRow::Target(view) => Ok(view.cells()),
            TargetRow::Broken { error, name } => Err((name.as_str(), error.as_str())),
        })
        .collect();
    // Each column as wide as its widest cell, so that long paths do not push rows apart.
    let mut widths = [0usize; 4];
    for cells in std::iter::once(&header).chain(lines.iter().filter_map(|l| l.as_ref().ok())) {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for (name, _) in lines.iter().filter_map(|l| l.as_ref().err()) {
        widths[0] = widths[0].max(name.chars().count());
    }
    let [name_w, kind_w, where_w, user_w] = widths;
    for line in std::iter::once(Ok(header)).chain(lines) {
        match line {
            Ok([name, kind, place, user, sources]) => outln!(
                "{name:<name_w$} {kind:<kind_w$} {place:<where_w$} {user:<user_w$} {sources}"
            ),
            Err((name, error)) => outln!("{name:<name_w$} error: {error}"),
        }
    }
    Ok(())
}
