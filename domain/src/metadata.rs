//! The reflected schema of a target: one model for PostgreSQL, MySQL/MariaDB and SQLite.
//!
//! Names are kept exactly as the catalog spells them (case and quotes included), and every
//! list is in a stable order (tables by name, columns by ordinal position, constraint columns
//! in key order), so that two reflections of the same schema compare equal.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Metadata {
    pub schemas: Vec<Schema>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub name: String,
    pub tables: Vec<Table>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    Table,
    View,
    MaterializedView,
    ForeignTable,
}

impl TableKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TableKind::Table => "table",
            TableKind::View => "view",
            TableKind::MaterializedView => "materialized_view",
            TableKind::ForeignTable => "foreign_table",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub kind: TableKind,
    pub columns: Vec<Column>,
    /// Column names of the primary key in key order; empty when there is none.
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    pub unique_constraints: Vec<UniqueConstraint>,
    pub indexes: Vec<Index>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// The declared type as the catalog renders it (`character varying(20)`, `int(11)`, `TEXT`).
    pub data_type: String,
    pub nullable: bool,
    /// The default expression as the catalog renders it.
    pub default: Option<String>,
    /// 1-based position in the table.
    pub ordinal: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    /// The constraint name; SQLite has none and gets an empty string.
    pub name: String,
    pub columns: Vec<String>,
    pub referenced_schema: String,
    pub referenced_table: String,
    pub referenced_columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueConstraint {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    /// Column names in index order; an expression appears as its text.
    pub columns: Vec<String>,
    pub unique: bool,
}

impl Metadata {
    /// Finds a table by name in any reflected schema (the first match).
    pub fn table(&self, name: &str) -> Option<(&Schema, &Table)> {
        self.schemas
            .iter()
            .find_map(|s| s.tables.iter().find(|t| t.name == name).map(|t| (s, t)))
    }

    pub fn table_count(&self) -> usize {
        self.schemas.iter().map(|s| s.tables.len()).sum()
    }

    /// Puts every list in its canonical order.
    pub fn normalize(&mut self) {
        self.schemas.sort_by(|a, b| a.name.cmp(&b.name));
        for schema in &mut self.schemas {
            schema.tables.sort_by(|a, b| a.name.cmp(&b.name));
            for table in &mut schema.tables {
                table.columns.sort_by_key(|c| c.ordinal);
                table
                    .foreign_keys
                    .sort_by(|a, b| (&a.name, &a.columns).cmp(&(&b.name, &b.columns)));
                table.unique_constraints.sort_by(|a, b| a.name.cmp(&b.name));
                table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
            }
        }
    }
}
