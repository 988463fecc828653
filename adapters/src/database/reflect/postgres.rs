//! PostgreSQL: five catalog queries over `pg_catalog`, filtered to the reflected schemas.

use domain::metadata::{Column, ForeignKey, Index, Metadata, TableKind, UniqueConstraint};
use std::collections::HashMap;

use sqlx::PgPool;

use super::Builder;

const RELKINDS: &str = "('r','p','v','m','f')";

/// `pg_class` rows: oid, schema, name, relkind.
type TableRow = (i64, String, String, String);
/// `pg_attribute` rows: relation, name, type, nullable, default, attnum.
type ColumnRow = (i64, String, String, bool, Option<String>, i16);
/// `pg_constraint` rows: relation, name, contype, key attnums, referenced relation, its schema
/// and name, referenced attnums.
type ConstraintRow = (
    i64,
    String,
    String,
    Vec<i16>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<Vec<i16>>,
);
/// `pg_index` rows: relation, name, unique, attnums, key count, expression texts.
type IndexRow = (i64, String, bool, Vec<i16>, i16, Option<Vec<String>>);

/// Relation oid to (schema, name), for the reflected relations.
type Names = HashMap<i64, (String, String)>;
/// (relation oid, attnum) to column name.
type AttNames = HashMap<(i64, i16), String>;

pub async fn reflect(pool: &PgPool, schemas: &[String]) -> Result<Metadata, sqlx::Error> {
    let (tables, columns, constraints, indexes) = catalog(pool, schemas).await?;
    let mut builder = Builder::new(schemas);
    let names = add_tables(&mut builder, tables);
    let mut attnames = add_columns(&mut builder, &names, columns);
    name_outside_columns(pool, &names, &constraints, &mut attnames).await?;
    add_constraints(&mut builder, &names, &attnames, constraints);
    add_indexes(&mut builder, &names, &attnames, indexes);
    Ok(builder.finish())
}

async fn catalog(
    pool: &PgPool,
    schemas: &[String],
) -> Result<
    (
        Vec<TableRow>,
        Vec<ColumnRow>,
        Vec<ConstraintRow>,
        Vec<IndexRow>,
    ),
    sqlx::Error,
> {
    // Four independent catalog queries, run at once on separate pool connections. Key column
    // numbers come back as arrays and are named here from the columns already fetched, which
    // avoids a correlated subquery per constraint and per index.
    let tables = sqlx::query_as::<_, TableRow>(sqlx::AssertSqlSafe(format!(
        "select c.oid::int8, n.nspname::text, c.relname::text, c.relkind::text
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = any($1) and c.relkind in {RELKINDS}"
    )))
    .bind(schemas)
    .fetch_all(pool);
    // Defaults never contain column references (generated columns are left out), so
    // pg_get_expr needs no relation: passing 0 spares a relation lookup per default.
    let columns = sqlx::query_as::<_, ColumnRow>(sqlx::AssertSqlSafe(format!(
        "select a.attrelid::int8, a.attname::text, format_type(a.atttypid, a.atttypmod),
                    not a.attnotnull,
                    case when a.attgenerated = '' then pg_get_expr(d.adbin, 0) end,
                    a.attnum
               from pg_attribute a
               join pg_class c on c.oid = a.attrelid
               join pg_namespace n on n.oid = c.relnamespace
               left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
              where n.nspname = any($1) and c.relkind in {RELKINDS}
                and a.attnum > 0 and not a.attisdropped"
    )))
    .bind(schemas)
    .fetch_all(pool);
    let constraints = sqlx::query_as::<_, ConstraintRow>(
        "select con.conrelid::int8, con.conname::text, con.contype::text, con.conkey,
                nullif(con.confrelid, 0)::int8, fn.nspname::text, fc.relname::text, con.confkey
           from pg_constraint con
           join pg_class c on c.oid = con.conrelid
           join pg_namespace n on n.oid = c.relnamespace
           left join pg_class fc on fc.oid = con.confrelid
           left join pg_namespace fn on fn.oid = fc.relnamespace
          where n.nspname = any($1) and con.contype in ('p', 'u', 'f')",
    )
    .bind(schemas)
    .fetch_all(pool);
    let indexes = sqlx::query_as::<_, IndexRow>(
        "select ix.indrelid::int8, i.relname::text, ix.indisunique,
                array(select unnest(ix.indkey::int2[])), ix.indnkeyatts,
                case when 0 = any(ix.indkey::int2[]) then
                  array(select pg_get_indexdef(ix.indexrelid, k, true)
                          from generate_series(1, ix.indnkeyatts::int) k order by k)
                end
           from pg_index ix
           join pg_class i on i.oid = ix.indexrelid
           join pg_class t on t.oid = ix.indrelid
           join pg_namespace n on n.oid = t.relnamespace
          where n.nspname = any($1)",
    )
    .bind(schemas)
    .fetch_all(pool);
    tokio::try_join!(tables, columns, constraints, indexes)
}

fn add_tables(builder: &mut Builder, tables: Vec<TableRow>) -> Names {
    let mut names = Names::with_capacity(tables.len());
    for (oid, schema, name, relkind) in tables {
        let kind = match relkind.as_str() {
            "v" => TableKind::View,
            "m" => TableKind::MaterializedView,
            "f" => TableKind::ForeignTable,
            _ => TableKind::Table,
        };
        builder.table(schema.clone(), name.clone(), kind);
        names.insert(oid, (schema, name));
    }
    names
}

fn add_columns(builder: &mut Builder, names: &Names, columns: Vec<ColumnRow>) -> AttNames {
    let mut attnames = AttNames::with_capacity(columns.len());
    for (relid, name, data_type, nullable, default, attnum) in columns {
        let Some((schema, table)) = names.get(&relid) else {
            continue;
        };
        attnames.insert((relid, attnum), name.clone());
        builder.column(
            schema,
            table,
            Column {
                name,
                data_type,
                nullable,
                default,
                ordinal: u32::try_from(attnum).unwrap_or(0),
            },
        );
    }
    attnames
}

/// Foreign keys may point outside the reflected schemas: names those columns too.
async fn name_outside_columns(
    pool: &PgPool,
    names: &Names,
    constraints: &[ConstraintRow],
    attnames: &mut AttNames,
) -> Result<(), sqlx::Error> {
    let outside: Vec<i64> = constraints
        .iter()
        .filter_map(|c| c.4)
        .filter(|relid| !names.contains_key(relid))
        .collect();
    if !outside.is_empty() {
        let rows: Vec<(i64, i16, String)> = sqlx::query_as(
            "select attrelid::int8, attnum, attname::text from pg_attribute
              where attrelid = any($1::int8[]::oid[]) and attnum > 0 and not attisdropped",
        )
        .bind(&outside)
        .fetch_all(pool)
        .await?;
        for (relid, attnum, name) in rows {
            attnames.insert((relid, attnum), name);
        }
    }
    Ok(())
}

fn add_constraints(
    builder: &mut Builder,
    names: &Names,
    attnames: &AttNames,
    constraints: Vec<ConstraintRow>,
) {
    let named = |relid: i64, attnums: &[i16]| -> Vec<String> {
        attnums
            .iter()
            .map(|n| attnames.get(&(relid, *n)).cloned().unwrap_or_default())
            .collect()
    };
    for (relid, name, kind, conkey, confrelid, ref_schema, ref_table, confkey) in constraints {
        let Some((schema, table)) = names.get(&relid) else {
            continue;
        };
        let columns = named(relid, &conkey);
        match kind.as_str() {
            "p" => builder.primary_key(schema, table, columns),
            "u" => builder.unique(schema, table, UniqueConstraint { name, columns }),
            _ => builder.foreign_key(
                schema,
                table,
                ForeignKey {
                    name,
                    columns,
                    referenced_schema: ref_schema.unwrap_or_default(),
                    referenced_table: ref_table.unwrap_or_default(),
                    referenced_columns: confrelid
                        .map(|r| named(r, confkey.as_deref().unwrap_or_default()))
                        .unwrap_or_default(),
                },
            ),
        }
    }
}

fn add_indexes(builder: &mut Builder, names: &Names, attnames: &AttNames, indexes: Vec<IndexRow>) {
    for (relid, name, unique, indkey, key_count, expressions) in indexes {
        let Some((schema, table)) = names.get(&relid) else {
            continue;
        };
        let key_count = usize::try_from(key_count).unwrap_or(0);
        let columns = indkey
            .iter()
            .take(key_count)
            .enumerate()
            .map(|(i, attnum)| match (attnum, &expressions) {
                (0, Some(texts)) => texts.get(i).cloned().unwrap_or_default(),
                _ => attnames.get(&(relid, *attnum)).cloned().unwrap_or_default(),
            })
            .collect();
        builder.index(
            schema,
            table,
            Index {
                name,
                columns,
                unique,
            },
        );
    }
}

/// A fingerprint of the catalog rows that define the reflected schemas, computed in the
/// server from row counts and sums over the rows' `xmin`: PostgreSQL writes a new row version
/// (a new `xmin`) for every DDL that changes a relation, column, default or constraint, while
/// data writes, VACUUM and ANALYZE (in-place updates) leave these rows alone.
///
/// Three scans, each the cheapest that still sees every DDL the reflection can show:
/// - `pg_class` by namespace, every kind (so a renamed sequence, whose name a column default
///   shows, counts too), which also collects the relations' oids;
/// - `pg_attribute` of those relations: not-null, type, rename, drop, and defaults (setting,
///   changing or dropping one rewrites the column's row, whose `atthasdef` it sets), so
///   `pg_attrdef` need not be read;
/// - `pg_constraint` by namespace, without a join;
/// - `pg_type` and `pg_proc` by namespace: a column's type and a default's function are shown
///   by name, and renaming an enum, a domain or a function changes only their rows. (Types and
///   functions in schemas that are not reflected are not covered.)
///
/// `age(xmin)` instead of `xmin::text::int8`, half the cost per row: `age` is `now − xmin`
/// (mod 2³²) with `now` fixed for the statement, so `n · age('3') − Σ age(xmin)` is
/// `Σ (xmin − 3)` mod 2³² whatever `now` is. TRUNCATE, CLUSTER, REINDEX and VACUUM FULL give a
/// relation a new file and so change it too: a needless but harmless rebuild.
pub async fn fingerprint(pool: &PgPool, schemas: &[String]) -> Result<String, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let fingerprint = sqlx::query_scalar(
        "with c as materialized (
            select count(*) as n, coalesce(sum(age(xmin)), 0) as s,
                   array_agg(oid) filter (where relkind in ('r','p','v','m','f')) as tabs
              from pg_class
             where relnamespace = any(array(select oid from pg_namespace where nspname = any($1)))
         ), a as (
            select count(*) as n, coalesce(sum(age(xmin)), 0) as s
              from pg_attribute
             where attrelid = any((select tabs from c)::oid[]) and attnum > 0
         ), k as (
            select count(*) as n, coalesce(sum(age(xmin)), 0) as s
              from pg_constraint
             where connamespace = any(array(select oid from pg_namespace where nspname = any($1)))
         ), t as (
            select count(*) as n, coalesce(sum(age(xmin)), 0) as s
              from pg_type
             where typnamespace = any(array(select oid from pg_namespace where nspname = any($1)))
         ), f as (
            select count(*) as n, coalesce(sum(age(xmin)), 0) as s
              from pg_proc
             where pronamespace = any(array(select oid from pg_namespace where nspname = any($1)))
         )
         select concat_ws(':',
            c.n, ((c.n * z - c.s) % 4294967296 + 4294967296) % 4294967296,
            a.n, ((a.n * z - a.s) % 4294967296 + 4294967296) % 4294967296,
            k.n, ((k.n * z - k.s) % 4294967296 + 4294967296) % 4294967296,
            t.n, ((t.n * z - t.s) % 4294967296 + 4294967296) % 4294967296,
            f.n, ((f.n * z - f.s) % 4294967296 + 4294967296) % 4294967296)
           from c, a, k, t, f, (select age('3'::xid)::int8) as r(z)",
    )
    .bind(schemas)
    .fetch_one(&mut *conn)
    .await;
    // Returned at once, so the caller's next query reuses it (see `database::first_connection`).
    conn.return_to_pool().await;
    fingerprint
}

/// The server's current snapshot (`xmin:xmax:xip…`): it stays the same exactly while no
/// transaction is assigned an id or ends, so while it does no DDL can have committed. With
/// the time the server started: transaction ids are counted per cluster from the same start,
/// so a recreated cluster, or a promoted standby that lost the primary's last transactions,
/// can report the same snapshot with another schema — never with the same start time. One
/// round trip and no catalog scan; `None` when it cannot be asked (a server before 13).
pub async fn commit_horizon(pool: &PgPool) -> Option<String> {
    let mut conn = pool.acquire().await.ok()?;
    let horizon = sqlx::query_scalar::<_, String>(
        "select pg_current_snapshot()::text || ' ' || pg_postmaster_start_time()::text",
    )
    .fetch_one(&mut *conn)
    .await;
    conn.return_to_pool().await;
    horizon
        .inspect_err(|error| tracing::debug!(%error, "no commit horizon; the fingerprint decides"))
        .ok()
}
