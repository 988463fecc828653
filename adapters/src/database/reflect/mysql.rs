//! MySQL and MariaDB: four `information_schema` queries, filtered to the reflected schemas.
//!
//! Every selected value is cast to `char` or `unsigned` in SQL: the servers disagree on the
//! column types of `information_schema`, and the casts give sqlx one type to decode.

use domain::metadata::{Column, ForeignKey, Index, Metadata, TableKind, UniqueConstraint};
use sqlx::{MySqlConnection, MySqlPool, Row};

use super::Builder;

/// `?, ?, ?` for binding a list of schemas.
fn placeholders(n: usize) -> String {
    vec!["?"; n.max(1)].join(", ")
}

fn query_with_schemas<'q>(
    sql: String,
    schemas: &'q [String],
) -> sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    if schemas.is_empty() {
        query = query.bind("");
    }
    for schema in schemas {
        query = query.bind(schema.as_str());
    }
    query
}

pub async fn reflect(pool: &MySqlPool, schemas: &[String]) -> Result<Metadata, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut builder = Builder::new(schemas);
    add_tables(&mut conn, &mut builder, schemas).await?;
    add_columns(&mut conn, &mut builder, schemas).await?;
    add_keys(&mut conn, &mut builder, schemas).await?;
    add_indexes(&mut conn, &mut builder, schemas).await?;
    Ok(builder.finish())
}

async fn add_tables(
    conn: &mut MySqlConnection,
    builder: &mut Builder,
    schemas: &[String],
) -> Result<(), sqlx::Error> {
    let ph = placeholders(schemas.len());
    let tables = query_with_schemas(
        format!(
            "select cast(table_schema as char), cast(table_name as char), cast(table_type as char)
               from information_schema.tables where table_schema in ({ph})"
        ),
        schemas,
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in tables {
        // `VIEW`, or `SYSTEM VIEW` for the server's own.
        let kind: String = row.try_get(2)?;
        let kind = if kind.contains("VIEW") {
            TableKind::View
        } else {
            TableKind::Table
        };
        builder.table(row.try_get(0)?, row.try_get(1)?, kind);
    }
    Ok(())
}

async fn add_columns(
    conn: &mut MySqlConnection,
    builder: &mut Builder,
    schemas: &[String],
) -> Result<(), sqlx::Error> {
    let ph = placeholders(schemas.len());
    let columns = query_with_schemas(
        format!(
            "select cast(table_schema as char), cast(table_name as char), cast(column_name as char),
                    cast(column_type as char), cast(is_nullable as char), cast(column_default as char),
                    cast(ordinal_position as unsigned)
               from information_schema.columns where table_schema in ({ph})"
        ),
        schemas,
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in columns {
        let schema: String = row.try_get(0)?;
        let table: String = row.try_get(1)?;
        let nullable: String = row.try_get(4)?;
        let ordinal: u64 = row.try_get(6)?;
        builder.column(
            &schema,
            &table,
            Column {
                name: row.try_get(2)?,
                data_type: row.try_get(3)?,
                nullable: nullable == "YES",
                default: row.try_get(5)?,
                ordinal: u32::try_from(ordinal).unwrap_or(0),
            },
        );
    }
    Ok(())
}

/// A constraint: schema, table, name and type (`PRIMARY KEY`, `UNIQUE`, `FOREIGN KEY`).
type KeyName = (String, String, String, String);

/// What a foreign key references: schema, table, columns.
type Referenced = (String, String, Vec<String>);

async fn add_keys(
    conn: &mut MySqlConnection,
    builder: &mut Builder,
    schemas: &[String],
) -> Result<(), sqlx::Error> {
    let ph = placeholders(schemas.len());
    // Constraint columns in key order; grouped per constraint below.
    let keys = query_with_schemas(
        format!(
            "select cast(tc.table_schema as char), cast(tc.table_name as char),
                    cast(tc.constraint_name as char), cast(tc.constraint_type as char),
                    cast(k.column_name as char),
                    cast(k.referenced_table_schema as char), cast(k.referenced_table_name as char),
                    cast(k.referenced_column_name as char)
               from information_schema.table_constraints tc
               join information_schema.key_column_usage k
                 on k.constraint_schema = tc.constraint_schema
                and k.constraint_name = tc.constraint_name
                and k.table_schema = tc.table_schema
                and k.table_name = tc.table_name
              where tc.table_schema in ({ph})
                and tc.constraint_type in ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')
              order by tc.table_schema, tc.table_name, tc.constraint_name, k.ordinal_position"
        ),
        schemas,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut current: Option<KeyName> = None;
    let mut columns: Vec<String> = Vec::new();
    let mut referenced: Referenced = Default::default();
    for row in keys {
        let key: KeyName = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        );
        if current.as_ref() != Some(&key)
            && let Some(done) = current.replace(key)
        {
            add_key(
                builder,
                done,
                std::mem::take(&mut columns),
                std::mem::take(&mut referenced),
            );
        }
        columns.push(row.try_get(4)?);
        let ref_schema: Option<String> = row.try_get(5)?;
        let ref_table: Option<String> = row.try_get(6)?;
        let ref_column: Option<String> = row.try_get(7)?;
        referenced.0 = ref_schema.unwrap_or_default();
        referenced.1 = ref_table.unwrap_or_default();
        if let Some(c) = ref_column {
            referenced.2.push(c);
        }
    }
    if let Some(done) = current {
        add_key(builder, done, columns, referenced);
    }
    Ok(())
}

fn add_key(builder: &mut Builder, key: KeyName, columns: Vec<String>, referenced: Referenced) {
    let (schema, table, name, kind) = key;
    match kind.as_str() {
        "PRIMARY KEY" => builder.primary_key(&schema, &table, columns),
        "UNIQUE" => builder.unique(&schema, &table, UniqueConstraint { name, columns }),
        _ => builder.foreign_key(
            &schema,
            &table,
            ForeignKey {
                name,
                columns,
                referenced_schema: referenced.0,
                referenced_table: referenced.1,
                referenced_columns: referenced.2,
            },
        ),
    }
}

async fn add_indexes(
    conn: &mut MySqlConnection,
    builder: &mut Builder,
    schemas: &[String],
) -> Result<(), sqlx::Error> {
    let ph = placeholders(schemas.len());
    let indexes = query_with_schemas(
        format!(
            "select cast(table_schema as char), cast(table_name as char), cast(index_name as char),
                    cast(non_unique as unsigned), cast(coalesce(column_name, '') as char)
               from information_schema.statistics where table_schema in ({ph})
              order by table_schema, table_name, index_name, seq_in_index"
        ),
        schemas,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut current: Option<(String, String, String, bool)> = None;
    let mut columns: Vec<String> = Vec::new();
    for row in indexes {
        let non_unique: u64 = row.try_get(3)?;
        let key = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            non_unique == 0,
        );
        if current.as_ref() != Some(&key)
            && let Some(done) = current.replace(key)
        {
            add_index(builder, done, std::mem::take(&mut columns));
        }
        columns.push(row.try_get(4)?);
    }
    if let Some(done) = current {
        add_index(builder, done, columns);
    }
    Ok(())
}

fn add_index(builder: &mut Builder, key: (String, String, String, bool), columns: Vec<String>) {
    let (schema, table, name, unique) = key;
    builder.index(
        &schema,
        &table,
        Index {
            name,
            columns,
            unique,
        },
    );
}

/// Two 64-bit XORs of per-row md5 halves, plus a row count, over the column, key and index
/// definitions in `information_schema` — never `UPDATE_TIME`, which moves on every write.
pub async fn fingerprint(pool: &MySqlPool, schemas: &[String]) -> Result<String, sqlx::Error> {
    let ph = placeholders(schemas.len());
    let sql = format!(
        "select cast(count(*) as unsigned),
                cast(bit_xor(cast(conv(substring(h, 1, 16), 16, 10) as unsigned)) as unsigned),
                cast(bit_xor(cast(conv(substring(h, 17, 16), 16, 10) as unsigned)) as unsigned)
           from (
             select md5(concat_ws('|', 't', table_schema, table_name, table_type)) as h
               from information_schema.tables where table_schema in ({ph})
             union all
             select md5(concat_ws('|', 'c', table_schema, table_name, column_name, ordinal_position,
                                  column_type, is_nullable, coalesce(column_default, '<null>'),
                                  extra, coalesce(generation_expression, '')))
               from information_schema.columns where table_schema in ({ph})
             union all
             select md5(concat_ws('|', 'k', table_schema, table_name, constraint_name, column_name,
                                  ordinal_position, coalesce(referenced_table_schema, ''),
                                  coalesce(referenced_table_name, ''), coalesce(referenced_column_name, '')))
               from information_schema.key_column_usage where table_schema in ({ph})
             union all
             select md5(concat_ws('|', 's', table_schema, table_name, index_name, non_unique,
                                  seq_in_index, coalesce(column_name, '')))
               from information_schema.statistics where table_schema in ({ph})
           ) catalog_rows"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for _ in 0..4 {
        if schemas.is_empty() {
            query = query.bind("");
        }
        for schema in schemas {
            query = query.bind(schema.as_str());
        }
    }
    let mut conn = pool.acquire().await?;
    let row = query.fetch_one(&mut *conn).await;
    conn.return_to_pool().await;
    let row = row?;
    let count: u64 = row.try_get(0)?;
    let a: Option<u64> = row.try_get(1)?;
    let b: Option<u64> = row.try_get(2)?;
    Ok(format!(
        "{count}:{:016x}{:016x}",
        a.unwrap_or(0),
        b.unwrap_or(0)
    ))
}
