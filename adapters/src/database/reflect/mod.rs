//! Schema reflection and fingerprints: a few catalog queries per kind, never one per table.
//!
//! Each kind answers two questions: what the schemas look like (`reflect`), and a cheap
//! server-side fingerprint that changes whenever their definition does and never when only
//! data does (`fingerprint`). The fingerprint is what keeps the on-disk cache honest.
#![allow(
    clippy::type_complexity,
    reason = "catalog rows decode into tuples that mirror each SELECT list"
)]

pub mod mysql;
pub mod postgres;
pub mod sqlite;

use std::collections::HashMap;

use domain::metadata::{
    Column, ForeignKey, Index, Metadata, Schema, Table, TableKind, UniqueConstraint,
};

use super::DbPool;

/// Reflects `schemas` through `pool`.
pub async fn reflect(pool: &DbPool, schemas: &[String]) -> Result<Metadata, sqlx::Error> {
    match pool {
        DbPool::Postgres(pool) => postgres::reflect(pool, schemas).await,
        DbPool::MySql(pool) => mysql::reflect(pool, schemas).await,
        DbPool::Sqlite(pool) => sqlite::reflect(pool, schemas).await,
    }
}

/// A fingerprint of the definitions of `schemas`, computed by the server.
pub async fn fingerprint(pool: &DbPool, schemas: &[String]) -> Result<String, sqlx::Error> {
    match pool {
        DbPool::Postgres(pool) => postgres::fingerprint(pool, schemas).await,
        DbPool::MySql(pool) => mysql::fingerprint(pool, schemas).await,
        DbPool::Sqlite(pool) => sqlite::fingerprint(pool, schemas).await,
    }
}

/// Collects catalog rows into the model: tables first, then their parts by (schema, table).
#[derive(Default)]
pub(crate) struct Builder {
    tables: HashMap<(String, String), Table>,
    schemas: Vec<String>,
}

impl Builder {
    pub(crate) fn new(schemas: &[String]) -> Self {
        Self {
            tables: HashMap::new(),
            schemas: schemas.to_vec(),
        }
    }

    pub(crate) fn table(&mut self, schema: String, name: String, kind: TableKind) {
        self.tables.insert(
            (schema, name.clone()),
            Table {
                name,
                kind,
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
                unique_constraints: Vec::new(),
                indexes: Vec::new(),
            },
        );
    }

    fn get(&mut self, schema: &str, table: &str) -> Option<&mut Table> {
        self.tables.get_mut(&(schema.to_owned(), table.to_owned()))
    }

    pub(crate) fn column(&mut self, schema: &str, table: &str, column: Column) {
        if let Some(t) = self.get(schema, table) {
            t.columns.push(column);
        }
    }

    pub(crate) fn primary_key(&mut self, schema: &str, table: &str, columns: Vec<String>) {
        if let Some(t) = self.get(schema, table) {
            t.primary_key = columns;
        }
    }

    pub(crate) fn foreign_key(&mut self, schema: &str, table: &str, fk: ForeignKey) {
        if let Some(t) = self.get(schema, table) {
            t.foreign_keys.push(fk);
        }
    }

    pub(crate) fn unique(&mut self, schema: &str, table: &str, unique: UniqueConstraint) {
        if let Some(t) = self.get(schema, table) {
            t.unique_constraints.push(unique);
        }
    }

    pub(crate) fn index(&mut self, schema: &str, table: &str, index: Index) {
        if let Some(t) = self.get(schema, table) {
            t.indexes.push(index);
        }
    }

    pub(crate) fn finish(self) -> Metadata {
        let mut by_schema: HashMap<String, Vec<Table>> = self
            .schemas
            .iter()
            .map(|s| (s.clone(), Vec::new()))
            .collect();
        for ((schema, _), table) in self.tables {
            by_schema.entry(schema).or_default().push(table);
        }
        let mut metadata = Metadata {
            schemas: by_schema
                .into_iter()
                .map(|(name, tables)| Schema { name, tables })
                .collect(),
        };
        metadata.normalize();
        metadata
    }
}
