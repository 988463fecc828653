//! `dbcore metadata TARGET`: the reflected schema (tables, columns, keys, indexes) and how the
//! on-disk cache was used, with the time each step took.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use project_core::metadata::{CacheStatus, MetadataReport};
use project_core::metadata_model::{
    Column, ForeignKey, Index, Schema, Table, TableKind, UniqueConstraint,
};
use project_core::{Context, registry};
use serde::{Serialize, Serializer};

use crate::cli::Format;
use crate::output::print_json;
use crate::ping::report_open_error;

pub async fn run(
    context: &Context,
    target: &str,
    refresh: bool,
    only: Option<&str>,
    format: Format,
) -> Result<ExitCode> {
    let connection = match registry::open(target, context).await {
        Ok(connection) => connection,
        Err(error) => return report_open_error(target, format, &error),
    };
    let (model, report) = connection.metadata_with_report(refresh).await?;
    connection.close().await;
    let filter = only.map(|only| TableFilter::parse(only, &model.schemas));
    let schemas = select(&model.schemas, filter.as_ref());
    if let Some(name) = only
        && schemas.iter().all(|s| s.tables.is_empty())
    {
        anyhow::bail!(
            "target `{target}` has no table `{name}` in schemas {}",
            connection.settings().schemas().join(", ")
        );
    }
    let view = MetadataView {
        cache: CacheView::of(&report),
        schemas,
        target,
        timings_ms: &report.steps,
    };
    if format == Format::Json {
        print_json(&view)?;
    } else {
        view.print_text()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Which tables `metadata --table` shows: `NAME` in any schema, or `SCHEMA.NAME` (as
/// `dbcore-ingest` takes) when SCHEMA is one of the reflected schemas.
struct TableFilter<'a> {
    schema: Option<&'a str>,
    name: &'a str,
}

impl<'a> TableFilter<'a> {
    fn parse(only: &'a str, schemas: &[Schema]) -> Self {
        match only.split_once('.') {
            Some((schema, name)) if schemas.iter().any(|s| s.name == schema) => Self {
                schema: Some(schema),
                name,
            },
            _ => Self {
                schema: None,
                name: only,
            },
        }
    }
}

/// The schemas the filter keeps (all when there is none), each with the tables it keeps.
fn select<'a>(schemas: &'a [Schema], filter: Option<&TableFilter<'_>>) -> Vec<SchemaView<'a>> {
    schemas
        .iter()
        .filter(|s| filter.is_none_or(|f| f.schema.is_none_or(|x| x == s.name)))
        .map(|s| SchemaView {
            name: &s.name,
            tables: s
                .tables
                .iter()
                .filter(|t| filter.is_none_or(|f| t.name == f.name))
                .map(TableView::of)
                .collect(),
            table_count: s.tables.len(),
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct MetadataView<'a> {
    cache: CacheView<'a>,
    schemas: Vec<SchemaView<'a>>,
    target: &'a str,
    /// Each step's name as a key (`read cache (after …)` is `read_cache`), in ms to the µs.
    #[serde(serialize_with = "timings_json")]
    timings_ms: &'a [(&'static str, Duration)],
}

#[derive(Debug, Serialize)]
struct CacheView<'a> {
    path: Option<String>,
    reason: Option<&'a str>,
    #[serde(serialize_with = "status_json")]
    status: &'a CacheStatus,
}

#[derive(Debug, Serialize)]
struct SchemaView<'a> {
    name: &'a str,
    tables: Vec<TableView<'a>>,
    /// Every table of the schema, shown or not, for the text's heading.
    #[serde(skip)]
    table_count: usize,
}

/// A table as `metadata` has always shown it: the domain's model with `type` for a column's
/// declared type and a foreign key's target under `references`.
#[derive(Debug, Serialize)]
struct TableView<'a> {
    columns: Vec<ColumnView<'a>>,
    foreign_keys: Vec<ForeignKeyView<'a>>,
    indexes: &'a [Index],
    kind: TableKind,
    name: &'a str,
    primary_key: &'a [String],
    unique_constraints: &'a [UniqueConstraint],
}

#[derive(Debug, Serialize)]
struct ColumnView<'a> {
    default: Option<&'a str>,
    name: &'a str,
    nullable: bool,
    #[serde(rename = "type")]
    data_type: &'a str,
}

#[derive(Debug, Serialize)]
struct ForeignKeyView<'a> {
    columns: &'a [String],
    name: &'a str,
    references: ReferencesView<'a>,
}

#[derive(Debug, Serialize)]
struct ReferencesView<'a> {
    columns: &'a [String],
    schema: &'a str,
    table: &'a str,
}

impl<'a> CacheView<'a> {
    fn of(report: &'a MetadataReport) -> Self {
        Self {
            path: report.path.as_ref().map(|p| p.display().to_string()),
            reason: match &report.status {
                CacheStatus::Rebuilt(reason) => Some(reason.as_str()),
                _ => None,
            },
            status: &report.status,
        }
    }
}

impl<'a> TableView<'a> {
    fn of(table: &'a Table) -> Self {
        Self {
            columns: table.columns.iter().map(ColumnView::of).collect(),
            foreign_keys: table.foreign_keys.iter().map(ForeignKeyView::of).collect(),
            indexes: &table.indexes,
            kind: table.kind,
            name: &table.name,
            primary_key: &table.primary_key,
            unique_constraints: &table.unique_constraints,
        }
    }
}

impl<'a> ColumnView<'a> {
    fn of(c: &'a Column) -> Self {
        Self {
            default: c.default.as_deref(),
            name: &c.name,
            nullable: c.nullable,
            data_type: &c.data_type,
        }
    }
}

impl<'a> ForeignKeyView<'a> {
    fn of(fk: &'a ForeignKey) -> Self {
        Self {
            columns: &fk.columns,
            name: &fk.name,
            references: ReferencesView {
                columns: &fk.referenced_columns,
                schema: &fk.referenced_schema,
                table: &fk.referenced_table,
            },
        }
    }
}

fn status_json<S: Serializer>(status: &&CacheStatus, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(status.as_str())
}

fn timings_json<S: Serializer>(
    steps: &&[(&'static str, Duration)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let timings: BTreeMap<String, f64> = steps
        .iter()
        .map(|(step, d)| {
            (
                (*step).to_owned(),
                (d.as_secs_f64() * 1_000_000.0).round() / 1000.0,
            )
        })
        .collect();
    timings.serialize(serializer)
}

impl MetadataView<'_> {
    fn print_text(&self) -> Result<()> {
        for schema in &self.schemas {
            outln!("schema {} ({} tables)", schema.name, schema.table_count);
            for table in &schema.tables {
                table.print_text()?;
            }
        }
        let status = match self.cache.status {
            CacheStatus::Memory => "current in memory".to_owned(),
            CacheStatus::Used => "used (fingerprint matched)".to_owned(),
            CacheStatus::Rebuilt(reason) => format!("rebuilt: {reason}"),
        };
        outln!(
            "cache: {} — {status}",
            self.cache.path.as_deref().unwrap_or("(no cache directory)")
        );
        let steps: Vec<String> = self
            .timings_ms
            .iter()
            .map(|(step, d)| format!("{step} {:.1} ms", d.as_secs_f64() * 1000.0))
            .collect();
        outln!("timings: {}", steps.join(", "));
        Ok(())
    }
}

impl TableView<'_> {
    fn print_text(&self) -> Result<()> {
        outln!("  {} {}", self.kind.as_str(), self.name);
        for c in &self.columns {
            let key = if self.primary_key.iter().any(|k| k == c.name) {
                " [pk]"
            } else {
                ""
            };
            let null = if c.nullable { "null" } else { "not null" };
            let default = c
                .default
                .map(|d| format!(" default {d}"))
                .unwrap_or_default();
            outln!("    {:<24} {} {null}{default}{key}", c.name, c.data_type);
        }
        for fk in &self.foreign_keys {
            outln!(
                "    foreign key ({}) references {}.{} ({})",
                fk.columns.join(", "),
                fk.references.schema,
                fk.references.table,
                fk.references.columns.join(", ")
            );
        }
        for ix in self.indexes {
            let unique = if ix.unique { "unique " } else { "" };
            outln!("    {unique}index {} ({})", ix.name, ix.columns.join(", "));
        }
        Ok(())
    }
}
