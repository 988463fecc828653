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

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, kind: TableKind, ordinals: &[u32]) -> Table {
        Table {
            name: name.into(),
            kind,
            columns: ordinals
                .iter()
                .map(|&ordinal| Column {
                    name: format!("c{ordinal}"),
                    data_type: "int".into(),
                    nullable: true,
                    default: None,
                    ordinal,
                })
                .collect(),
            primary_key: Vec::new(),
            foreign_keys: Vec::new(),
            unique_constraints: Vec::new(),
            indexes: vec![
                Index {
                    name: "z".into(),
                    columns: vec!["c1".into()],
                    unique: false,
                },
                Index {
                    name: "a".into(),
                    columns: vec!["c2".into()],
                    unique: true,
                },
            ],
        }
    }

    fn model() -> Metadata {
        Metadata {
            schemas: vec![
                Schema {
                    name: "b".into(),
                    tables: vec![table("v", TableKind::View, &[2, 1])],
                },
                Schema {
                    name: "a".into(),
                    tables: vec![
                        table("y", TableKind::Table, &[1]),
                        table("x", TableKind::ForeignTable, &[3, 1, 2]),
                    ],
                },
            ],
        }
    }

    #[test]
    fn tables_are_found_by_name_and_counted_across_schemas() {
        let model = model();
        assert_eq!(model.table_count(), 3);
        let (schema, found) = model.table("v").expect("v is in schema b");
        assert_eq!((schema.name.as_str(), found.kind), ("b", TableKind::View));
        assert_eq!(model.table("x").map(|(s, _)| s.name.as_str()), Some("a"));
        assert!(model.table("nope").is_none());
        assert_eq!(Metadata::default().table_count(), 0);
    }

    #[test]
    fn normalizing_orders_schemas_tables_columns_and_indexes() {
        let mut model = model();
        model.normalize();
        let names: Vec<&str> = model.schemas.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let tables: Vec<&str> = model.schemas[0]
            .tables
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(tables, ["x", "y"]);
        let ordinals: Vec<u32> = model.schemas[0].tables[0]
            .columns
            .iter()
            .map(|c| c.ordinal)
            .collect();
        assert_eq!(ordinals, [1, 2, 3]);
        let indexes: Vec<&str> = model.schemas[0].tables[0]
            .indexes
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(indexes, ["a", "z"]);
    }

    #[test]
    fn table_kinds_are_spelled_in_snake_case() {
        let spelled = [
            TableKind::Table,
            TableKind::View,
            TableKind::MaterializedView,
            TableKind::ForeignTable,
        ]
        .map(TableKind::as_str);
        assert_eq!(
            spelled,
            ["table", "view", "materialized_view", "foreign_table"]
        );
    }
}
