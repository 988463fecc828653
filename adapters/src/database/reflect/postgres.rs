//! PostgreSQL: five catalog queries over `pg_catalog`, filtered to the reflected schemas.

use domain::metadata::{Column, ForeignKey, Index, Metadata, TableKind, UniqueConstraint};
use sqlx::PgPool;

use super::Builder;

const RELKINDS: &str = "('r','p','v','m','f')";

pub async fn reflect(pool: &PgPool, schemas: &[String]) -> Result<Metadata, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut builder = Builder::new(schemas);

    let tables: Vec<(String, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select n.nspname::text, c.relname::text, c.relkind::text
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = any($1) and c.relkind in {RELKINDS}"
    )))
    .bind(schemas)
    .fetch_all(&mut *conn)
    .await?;
    for (schema, name, relkind) in tables {
        let kind = match relkind.as_str() {
            "v" => TableKind::View,
            "m" => TableKind::MaterializedView,
            "f" => TableKind::ForeignTable,
            _ => TableKind::Table,
        };
        builder.table(schema, name, kind);
    }

    let columns: Vec<(String, String, String, String, bool, Option<String>, i16)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select n.nspname::text, c.relname::text, a.attname::text,
                    format_type(a.atttypid, a.atttypmod), not a.attnotnull,
                    case when a.attgenerated = '' then pg_get_expr(d.adbin, d.adrelid) end,
                    a.attnum
               from pg_attribute a
               join pg_class c on c.oid = a.attrelid
               join pg_namespace n on n.oid = c.relnamespace
               left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
              where n.nspname = any($1) and c.relkind in {RELKINDS}
                and a.attnum > 0 and not a.attisdropped"
        )))
        .bind(schemas)
        .fetch_all(&mut *conn)
        .await?;
    for (schema, table, name, data_type, nullable, default, ordinal) in columns {
        builder.column(
            &schema,
            &table,
            Column {
                name,
                data_type,
                nullable,
                default,
                ordinal: u32::try_from(ordinal).unwrap_or(0),
            },
        );
    }

    type ConstraintRow = (
        String,
        String,
        String,
        String,
        Vec<String>,
        Option<String>,
        Option<String>,
        Vec<String>,
    );
    let constraints: Vec<ConstraintRow> = sqlx::query_as(
        "select n.nspname::text, c.relname::text, con.conname::text, con.contype::text,
                array(select a.attname::text
                        from unnest(con.conkey) with ordinality k(attnum, ord)
                        join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum
                       order by k.ord),
                fn.nspname::text, fc.relname::text,
                array(select a.attname::text
                        from unnest(con.confkey) with ordinality k(attnum, ord)
                        join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum
                       order by k.ord)
           from pg_constraint con
           join pg_class c on c.oid = con.conrelid
           join pg_namespace n on n.oid = c.relnamespace
           left join pg_class fc on fc.oid = con.confrelid
           left join pg_namespace fn on fn.oid = fc.relnamespace
          where n.nspname = any($1) and con.contype in ('p', 'u', 'f')",
    )
    .bind(schemas)
    .fetch_all(&mut *conn)
    .await?;
    for (schema, table, name, kind, columns, ref_schema, ref_table, ref_columns) in constraints {
        match kind.as_str() {
            "p" => builder.primary_key(&schema, &table, columns),
            "u" => builder.unique(&schema, &table, UniqueConstraint { name, columns }),
            _ => builder.foreign_key(
                &schema,
                &table,
                ForeignKey {
                    name,
                    columns,
                    referenced_schema: ref_schema.unwrap_or_default(),
                    referenced_table: ref_table.unwrap_or_default(),
                    referenced_columns: ref_columns,
                },
            ),
        }
    }

    let indexes: Vec<(String, String, String, bool, Vec<String>)> = sqlx::query_as(
        "select n.nspname::text, t.relname::text, i.relname::text, ix.indisunique,
                array(select coalesce(a.attname::text, pg_get_indexdef(ix.indexrelid, k.ord::int, true))
                        from unnest(ix.indkey::int2[]) with ordinality k(attnum, ord)
                        left join pg_attribute a
                          on a.attrelid = ix.indrelid and a.attnum = k.attnum and k.attnum <> 0
                       where k.ord <= ix.indnkeyatts
                       order by k.ord)
           from pg_index ix
           join pg_class i on i.oid = ix.indexrelid
           join pg_class t on t.oid = ix.indrelid
           join pg_namespace n on n.oid = t.relnamespace
          where n.nspname = any($1)",
    )
    .bind(schemas)
    .fetch_all(&mut *conn)
    .await?;
    for (schema, table, name, unique, columns) in indexes {
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
    Ok(builder.finish())
}

/// A fingerprint of every catalog row that defines the reflected schemas, computed in the
/// server: the row count and two independent 64-bit hash sums (order-free, so no sort and no
/// large string is built). Data writes, VACUUM and ANALYZE leave it alone; any DDL that changes
/// a reflected relation, column, default, constraint or index changes it.
pub async fn fingerprint(pool: &PgPool, schemas: &[String]) -> Result<String, sqlx::Error> {
    let (count, first, second): (i64, String, String) = sqlx::query_as(
        "with rel as (
            select c.oid, c.relname, c.relkind, n.nspname
              from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where n.nspname = any($1) and c.relkind in ('r','p','v','m','f','i')
         ), catalog_rows as (
            select concat_ws('|', 'r', oid, nspname, relname, relkind) as x from rel
            union all
            select concat_ws('|', 'a', a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod,
                             a.attnotnull, a.attisdropped, a.attgenerated, a.attidentity)
              from pg_attribute a join rel on rel.oid = a.attrelid where a.attnum > 0
            union all
            select concat_ws('|', 'd', d.adrelid, d.adnum, d.adbin)
              from pg_attrdef d join rel on rel.oid = d.adrelid
            union all
            select concat_ws('|', 'c', con.oid, con.conname, con.contype, con.conkey::text,
                             con.confkey::text, con.confrelid)
              from pg_constraint con join rel on rel.oid = con.conrelid
            union all
            select concat_ws('|', 'i', ix.indexrelid, ix.indrelid, ix.indkey::text, ix.indisunique,
                             ix.indexprs)
              from pg_index ix join rel on rel.oid = ix.indrelid
         )
         select count(*), coalesce(sum(hashtextextended(x, 0)), 0)::text,
                coalesce(sum(hashtextextended(x, 1)), 0)::text
           from catalog_rows",
    )
    .bind(schemas)
    .fetch_one(pool)
    .await?;
    Ok(format!("{count}:{first}:{second}"))
}
