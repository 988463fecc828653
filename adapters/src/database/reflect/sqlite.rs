//! SQLite: `sqlite_schema` joined with the table-valued pragmas, one query per part and schema.
//! Columns come from `table_xinfo`, so generated columns are reflected too (`hidden` 2 and 3);
//! only a virtual table's hidden columns are left out.

use domain::metadata::{Column, ForeignKey, Index, Metadata, TableKind, UniqueConstraint};
use std::collections::HashMap;

use sqlx::{SqliteConnection, SqlitePool};

use super::Builder;

/// A schema name as a string literal inside SQL (pragma functions take it as an argument).
fn literal(schema: &str) -> String {
    format!("'{}'", schema.replace('\'', "''"))
}

fn identifier(schema: &str) -> String {
    domain::DbKind::Sqlite.quote_identifier(schema)
}

/// The rows of `sqlite_schema` that are the user's tables and views.
const USER_OBJECTS: &str =
    "m.type in ('table', 'view') and m.name not like 'sqlite\\_%' escape '\\'";

/// One attached schema, as the queries name it.
struct Schema<'a> {
    name: &'a String,
    /// The name as a string literal, for the pragma functions.
    lit: String,
    /// `"name".sqlite_schema m`.
    master: String,
}

pub async fn reflect(pool: &SqlitePool, schemas: &[String]) -> Result<Metadata, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut builder = Builder::new(schemas);
    for name in schemas {
        let schema = Schema {
            name,
            lit: literal(name),
            master: format!("{}.sqlite_schema m", identifier(name)),
        };
        add_tables(&mut conn, &mut builder, &schema).await?;
        add_columns(&mut conn, &mut builder, &schema).await?;
        add_foreign_keys(&mut conn, &mut builder, &schema).await?;
        add_indexes(&mut conn, &mut builder, &schema).await?;
    }
    Ok(builder.finish())
}

async fn add_tables(
    conn: &mut SqliteConnection,
    builder: &mut Builder,
    schema: &Schema<'_>,
) -> Result<(), sqlx::Error> {
    let tables: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select m.name, m.type from {} where {USER_OBJECTS}",
        schema.master
    )))
    .fetch_all(&mut *conn)
    .await?;
    for (name, kind) in tables {
        let kind = if kind == "view" {
            TableKind::View
        } else {
            TableKind::Table
        };
        builder.table(schema.name.clone(), name, kind);
    }
    Ok(())
}

/// Columns, and the primary key from their `pk` positions.
async fn add_columns(
    conn: &mut SqliteConnection,
    builder: &mut Builder,
    schema: &Schema<'_>,
) -> Result<(), sqlx::Error> {
    let columns: Vec<(String, String, String, bool, Option<String>, i64, i64)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select m.name, p.name, p.type, p.\"notnull\" = 0, p.dflt_value, p.cid, p.pk
               from {} join pragma_table_xinfo(m.name, {}) p
              where {USER_OBJECTS} and p.hidden <> 1",
            schema.master, schema.lit
        )))
        .fetch_all(&mut *conn)
        .await?;
    let mut primary: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    for (table, name, data_type, nullable, default, cid, pk) in columns {
        if pk > 0 {
            primary
                .entry(table.clone())
                .or_default()
                .push((pk, name.clone()));
        }
        builder.column(
            schema.name,
            &table,
            Column {
                name,
                data_type,
                nullable,
                default,
                ordinal: u32::try_from(cid + 1).unwrap_or(0),
            },
        );
    }
    for (table, mut columns) in primary {
        columns.sort();
        builder.primary_key(
            schema.name,
            &table,
            columns.into_iter().map(|(_, c)| c).collect(),
        );
    }
    Ok(())
}

async fn add_foreign_keys(
    conn: &mut SqliteConnection,
    builder: &mut Builder,
    schema: &Schema<'_>,
) -> Result<(), sqlx::Error> {
    let fks: Vec<(String, i64, i64, String, String, Option<String>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select m.name, f.id, f.seq, f.\"table\", f.\"from\", f.\"to\"
               from {} join pragma_foreign_key_list(m.name, {}) f
              where {USER_OBJECTS}
              order by m.name, f.id, f.seq",
            schema.master, schema.lit
        )))
        .fetch_all(&mut *conn)
        .await?;
    // One row per column: grouped per (table, key id).
    let mut grouped: Vec<(String, i64, String, Vec<String>, Vec<Option<String>>)> = Vec::new();
    for (table, id, _seq, target, from, to) in fks {
        match grouped.last_mut() {
            Some(last) if last.0 == table && last.1 == id => {
                last.3.push(from);
                last.4.push(to);
            }
            _ => grouped.push((table, id, target, vec![from], vec![to])),
        }
    }
    for (table, _, target, columns, to) in grouped {
        // `references t` without columns means t's primary key.
        let referenced_columns = if to.iter().all(Option::is_some) {
            to.into_iter().flatten().collect()
        } else {
            primary_key_of(&mut *conn, &schema.lit, &target).await?
        };
        builder.foreign_key(
            schema.name,
            &table,
            ForeignKey {
                name: String::new(),
                columns,
                referenced_schema: schema.name.clone(),
                referenced_table: target,
                referenced_columns,
            },
        );
    }
    Ok(())
}

/// An index: table, name, unique, origin (`u` for a `unique` constraint's own index).
type IndexName = (String, String, bool, String);

async fn add_indexes(
    conn: &mut SqliteConnection,
    builder: &mut Builder,
    schema: &Schema<'_>,
) -> Result<(), sqlx::Error> {
    let indexes: Vec<(String, String, bool, String, i64, Option<String>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select m.name, l.name, l.\"unique\", l.origin, i.seqno, i.name
               from {} join pragma_index_list(m.name, {lit}) l
               join pragma_index_xinfo(l.name, {lit}) i
              where i.key = 1 and {USER_OBJECTS}
              order by m.name, l.name, i.seqno",
            schema.master,
            lit = schema.lit
        )))
        .fetch_all(&mut *conn)
        .await?;
    let mut current: Option<IndexName> = None;
    let mut columns: Vec<String> = Vec::new();
    for (table, name, unique, origin, _seq, column) in indexes {
        let key = (table, name, unique, origin);
        if current.as_ref() != Some(&key)
            && let Some(done) = current.replace(key)
        {
            add_index(builder, schema.name, done, std::mem::take(&mut columns));
        }
        // An expression column has no name in the pragma.
        columns.push(column.unwrap_or_else(|| "<expression>".to_owned()));
    }
    if let Some(done) = current {
        add_index(builder, schema.name, done, columns);
    }
    Ok(())
}

fn add_index(builder: &mut Builder, schema: &str, key: IndexName, columns: Vec<String>) {
    let (table, name, unique, origin) = key;
    if origin == "u" {
        builder.unique(
            schema,
            &table,
            UniqueConstraint {
                name: name.clone(),
                columns: columns.clone(),
            },
        );
    }
    builder.index(
        schema,
        &table,
        Index {
            name,
            columns,
            unique,
        },
    );
}

async fn primary_key_of(
    conn: &mut SqliteConnection,
    schema_literal: &str,
    table: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select name from pragma_table_info(?, {schema_literal}) where pk > 0 order by pk"
    )))
    .bind(table)
    .fetch_all(conn)
    .await
}

/// `PRAGMA schema_version` of each reflected schema: SQLite bumps it on every schema change.
pub async fn fingerprint(pool: &SqlitePool, schemas: &[String]) -> Result<String, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut parts = Vec::with_capacity(schemas.len());
    for schema in schemas {
        let version: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "pragma {}.schema_version",
            identifier(schema)
        )))
        .fetch_one(&mut *conn)
        .await?;
        parts.push(format!("{schema}:{version}"));
    }
    conn.return_to_pool().await;
    Ok(parts.join(","))
}
