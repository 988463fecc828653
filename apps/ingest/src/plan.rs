//! Which table columns the input fills and how each is checked; checked rows and bad rows.

use anyhow::{Result, bail};
use project_core::DbKind;
use project_core::metadata_model::{Column, Table};

use crate::values::{Check, check, shown};

/// A checked row: its input line and its values in the plan's column order.
pub struct Row {
    pub line: u64,
    pub values: Vec<Option<String>>,
}

/// A row as read, for the reject file.
pub enum Raw {
    Fields(Vec<Vec<u8>>),
    Line(Vec<u8>),
}

/// A row that cannot be written: where and why, and its bytes for the reject file.
pub struct Bad {
    pub line: u64,
    pub column: Option<String>,
    pub reason: String,
    pub raw: Raw,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "line {}, column {c}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// Which table columns the input fills, and how to check them.
pub struct Plan {
    pub kind: DbKind,
    pub table: Table,
    pub qualified: String,
    pub columns: Vec<(Column, Check)>,
}

impl Plan {
    pub fn new(kind: DbKind, schema: &str, table: Table) -> Self {
        let qualified = format!(
            "{}.{}",
            kind.quote_identifier(schema),
            kind.quote_identifier(&table.name)
        );
        Self {
            kind,
            table,
            qualified,
            columns: Vec::new(),
        }
    }

    /// Adds the column the input's first line names `name` (a CSV header field, a JSON key).
    pub fn add_column(&mut self, name: &str) -> Result<()> {
        if self.columns.iter().any(|(c, _)| c.name == name) {
            bail!("line 1: column {} is named twice", shown(name));
        }
        let Some(column) = self.table.columns.iter().find(|c| c.name == name).cloned() else {
            bail!(
                "line 1: column {} is not in table {}; its columns are {}",
                shown(name),
                self.qualified,
                self.table
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        let check = Check::of(self.kind, &column.data_type);
        self.columns.push((column, check));
        Ok(())
    }

    /// Every NOT NULL column without a default must be given.
    pub fn require_not_null(&self) -> Result<()> {
        for column in &self.table.columns {
            let given = self.columns.iter().any(|(c, _)| c.name == column.name);
            if !given && !column.nullable && column.default.is_none() {
                bail!(
                    "line 1: column `{}` of table {} is NOT NULL and has no default, but the input does not give it",
                    column.name,
                    self.qualified
                );
            }
        }
        Ok(())
    }

    pub fn check_row(&self, line: u64, values: Vec<Option<String>>, raw: Raw) -> Result<Row, Bad> {
        for ((column, check_of), value) in self.columns.iter().zip(&values) {
            let reason = match value {
                None if !column.nullable => Some(format!(
                    "empty, but the column is NOT NULL ({})",
                    column.data_type
                )),
                None => None,
                Some(v) => check(check_of, v)
                    .err()
                    .map(|r| format!("{r} (column type {})", column.data_type)),
            };
            if let Some(reason) = reason {
                return Err(Bad {
                    line,
                    column: Some(column.name.clone()),
                    reason,
                    raw,
                });
            }
        }
        Ok(Row { line, values })
    }
}
