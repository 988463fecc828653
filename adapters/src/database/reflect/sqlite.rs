//! SQLite: `sqlite_schema` joined with the table-valued pragmas, one query per part and schema.
//! Columns come from `table_xinfo`, so generated columns are reflected too (`hidden` 2 and 3);
//! only a virtual table's hidden columns are left out.

use domain::metadata::{Column, ForeignKey, Index, Metadata, TableKind, UniqueConstraint};
use sqlx::SqlitePool;

use super::Builder;

/// A schema name as a string literal inside SQL (pragma functions take it as an argument).
fn literal(schema: &str) -> String {
    format!("'{}'", schema.replace('\'', "''"))
}

fn identifier(schema: &str) -> String {
    domain::DbKind::Sqlite.quote_identifier(schema)
}

pub async fn reflect(pool: &SqlitePool, schemas: &[String]) -> Result<Metadata, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut builder = Builder::new(schemas);
    for schema in schemas {
        let (lit, ident) = (literal(schema), identifier(schema));
        let master = format!("{ident}.sqlite_schema m");
        let user_objects =
            "m.type in ('table', 'view') and m.name not like 'sqlite\\_%' escape '\\'";
        let tables: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select m.name, m.type from {master} where {user_objects}"
        )))
        .fetch_all(&mut *conn)
        .await?;
        for (name, kind) in tables {
            let kind = if kind == "view" {
                TableKind::View
            } else {
                TableKind::Table
            };
            builder.table(schema.clone(), name, kind);
        }

        let columns: Vec<(String, String, String, bool, Option<String>, i64, i64)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "select m.name, p.name, p.type, p.\"notnull\" = 0, p.dflt_value, p.cid, p.pk
                   from {master} join pragma_table_xinfo(m.name, {lit}) p
                  where {user_objects} and p.hidden <> 1"
            )))
            .fetch_all(&mut *conn)
            .await?;
        let mut primary: std::collections::HashMap<String, Vec<(i64, String)>> = Default::default();
        for (table, name, data_type, nullable, default, cid, pk) in columns {
            if pk > 0 {
                primary
                    .entry(table.clone())
                    .or_default()
                    .push((pk, name.clone()));
            }
            builder.column(
                schema,
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
                schema,
                &table,
                columns.into_iter().map(|(_, c)| c).collect(),
            );
        }

        let fks: Vec<(String, i64, i64, String, String, Option<String>)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "select m.name, f.id, f.seq, f.\"table\", f.\"from\", f.\"to\"
                   from {master} join pragma_foreign_key_list(m.name, {lit}) f
                  where {user_objects}
                  order by m.name, f.id, f.seq"
            )))
            .fetch_all(&mut *conn)
            .await?;
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
                primary_key_of(&mut conn, &lit, &target).await?
            };
            builder.foreign_key(
                schema,
                &table,
                ForeignKey {
                    name: String::new(),
                    columns,
                    referenced_schema: schema.clone(),
                    referenced_table: target,
                    referenced_columns,
                },
            );
        }

        let indexes: Vec<(String, String, bool, String, i64, Option<String>)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "select m.name, l.name, l.\"unique\", l.origin, i.seqno, i.name
                   from {master} join pragma_index_list(m.name, {lit}) l
                   join pragma_index_xinfo(l.name, {lit}) i
                  where i.key = 1 and {user_objects}
                  order by m.name, l.name, i.seqno"
            )))
            .fetch_all(&mut *conn)
            .await?;
        let mut current: Option<(String, String, bool, String)> = None;
        let mut columns: Vec<String> = Vec::new();
        let flush = |builder: &mut Builder,
                     key: Option<(String, String, bool, String)>,
                     columns: Vec<String>| {
            if let Some((table, name, unique, origin)) = key {
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
        };
        for (table, name, unique, origin, _seq, column) in indexes {
            let key = (table, name, unique, origin);
            if current.as_ref() != Some(&key) {
                flush(&mut builder, current.take(), std::mem::take(&mut columns));
                current = Some(key);
            }
            // An expression column has no name in the pragma.
            columns.push(column.unwrap_or_else(|| "<expression>".to_owned()));
        }
        flush(&mut builder, current.take(), columns);
    }
    Ok(builder.finish())
}

async fn primary_key_of(
    conn: &mut sqlx::SqliteConnection,
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
