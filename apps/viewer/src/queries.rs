//! The SQL the viewer runs: one SELECT per page, read-only, under a timeout.
//!
//! Identifiers come only from the target's metadata and are quoted here; a visitor's value is
//! always a bound parameter; the page number is checked here, so the offset is computed with
//! checked arithmetic from a number already known to be in range.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context as _, Result};
use project_core::DbKind;
use project_core::db::DatabaseConnection;
use project_core::metadata_model::Table;
use sqlx::Row;

/// Rows per page.
pub(crate) const PAGE_ROWS: i64 = 50;
/// The last page whose offset, `(page - 1) * PAGE_ROWS`, fits in the `i64` every engine takes.
pub(crate) const MAX_PAGE: i64 = i64::MAX / PAGE_ROWS;
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// `?page=`: absent means 1; otherwise a whole number from 1 to [`MAX_PAGE`], written in ASCII
/// digits only (no sign, no spaces, no exponent).
pub(crate) fn parse_page(raw: Option<&str>) -> Result<i64, String> {
    let Some(raw) = raw else { return Ok(1) };
    let refused = || format!("`page` must be a whole number from 1 to {MAX_PAGE}");
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refused());
    }
    match raw.parse::<i64>() {
        Ok(page) if (1..=MAX_PAGE).contains(&page) => Ok(page),
        _ => Err(refused()),
    }
}

/// The offset of a page's first row; `None` when it would not fit in an `i64`.
pub(crate) fn offset(page: i64) -> Option<i64> {
    page.checked_sub(1)?.checked_mul(PAGE_ROWS)
}

/// A table whose columns the database user may not see: there is nothing to select.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NoVisibleColumns;

/// The SELECT for a page: identifiers from metadata, values as `$1`/`?`. A table with no
/// visible column (a MariaDB view over a table the user may not read, or whose base table is
/// gone, lists no columns) has no SELECT at all, rather than `select  from …`.
pub(crate) fn select_sql(
    kind: DbKind,
    schema: &str,
    table: &Table,
    sort: Option<(&str, bool)>,
    filter: Option<&str>,
    offset: i64,
) -> Result<String, NoVisibleColumns> {
    if table.columns.is_empty() {
        return Err(NoVisibleColumns);
    }
    let cast = |c: &str| text_of(kind, c);
    let list: Vec<String> = table.columns.iter().map(|c| cast(&c.name)).collect();
    // The server-side statement timeout on MySQL and MariaDB, which have no transaction-local
    // one: MariaDB's `max_statement_time` for this statement only, in a comment that only
    // MariaDB executes, and MySQL's `MAX_EXECUTION_TIME` hint, which MariaDB ignores.
    // (PostgreSQL's is `set local statement_timeout` in `fetch`.)
    let select = match kind {
        DbKind::MySql => format!(
            "/*M!100102 set statement max_statement_time = {} for */ select /*+ MAX_EXECUTION_TIME({}) */",
            QUERY_TIMEOUT.as_secs_f64(),
            QUERY_TIMEOUT.as_millis()
        ),
        _ => "select".to_owned(),
    };
    // The table is aliased so that ORDER BY and WHERE name its column, not the text cast of the
    // same name in the select list (PostgreSQL would otherwise sort ids as text).
    let mut sql = format!(
        "{select} {} from {}.{} as src",
        list.join(", "),
        kind.quote_identifier(schema),
        kind.quote_identifier(&table.name)
    );
    if let Some(column) = filter {
        let placeholder = if kind == DbKind::Postgres { "$1" } else { "?" };
        let _ = write!(sql, " where {} = {placeholder}", cast(column));
    }
    let _ = write!(sql, " order by {}", order_by(kind, table, sort).join(", "));
    let _ = write!(sql, " limit {} offset {offset}", PAGE_ROWS + 1);
    Ok(sql)
}

/// A total order for paging: the sort asked for, then the primary key (or, without one that
/// is visible, every column as text, which every type has). Without it a server may return
/// rows in any order, and a different one for each page: `OFFSET` would then show a row
/// twice, on two pages, or on none, and previous/next would lose rows.
fn order_by(kind: DbKind, table: &Table, sort: Option<(&str, bool)>) -> Vec<String> {
    let (sorted, descending) = sort.map_or((None, false), |(c, d)| (Some(c), d));
    let dir = if descending { "desc" } else { "asc" };
    let mut keys: Vec<String> = sorted
        .map(|c| {
            let unorderable = table
                .columns
                .iter()
                .any(|col| col.name == c && has_no_ordering(kind, &col.data_type));
            match unorderable {
                // json, geometric types, xml: PostgreSQL has no `<` for them; their text has.
                true => format!("{} {dir}", text_of(kind, c)),
                false => format!("src.{} {dir}", kind.quote_identifier(c)),
            }
        })
        .into_iter()
        .collect();
    let visible = |c: &String| table.columns.iter().any(|col| &col.name == c);
    let rest: Vec<String> =
        if !table.primary_key.is_empty() && table.primary_key.iter().all(visible) {
            table
                .primary_key
                .iter()
                .filter(|c| Some(c.as_str()) != sorted)
                .map(|c| format!("src.{} {dir}", kind.quote_identifier(c)))
                .collect()
        } else {
            table
                .columns
                .iter()
                .map(|c| format!("{} {dir}", text_of(kind, &c.name)))
                .collect()
        };
    keys.extend(rest);
    keys
}

/// Whether a PostgreSQL column of `data_type` has no ordering operator (sorting by it fails).
fn has_no_ordering(kind: DbKind, data_type: &str) -> bool {
    const UNORDERED: &[&str] = &[
        "json", "point", "line", "lseg", "box", "path", "polygon", "circle", "xml",
    ];
    kind == DbKind::Postgres && UNORDERED.contains(&data_type.trim_end_matches("[]"))
}

/// A column of the aliased table as text, in every kind's spelling.
fn text_of(kind: DbKind, column: &str) -> String {
    match kind {
        DbKind::Postgres => format!("src.{}::text", kind.quote_identifier(column)),
        DbKind::MySql => format!("cast(src.{} as char)", kind.quote_identifier(column)),
        DbKind::Sqlite => format!("cast(src.{} as text)", kind.quote_identifier(column)),
    }
}

/// A table's estimated row count, where the server keeps one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Estimate {
    Rows(u64),
    /// PostgreSQL: never analyzed (`reltuples` is -1).
    NeverAnalyzed,
}

/// The catalog query for the estimates of a target's tables: (schema, table, estimate) as
/// text (SQLite: table and estimate of `schema`). PostgreSQL's `pg_class.reltuples` (as of the last ANALYZE or VACUUM), MySQL's and
/// MariaDB's `information_schema.tables.table_rows` (InnoDB's estimate; none for a view),
/// SQLite's `sqlite_stat1` (written only by ANALYZE: its first number is the table's rows).
fn estimate_sql(kind: DbKind, schema: &str) -> String {
    match kind {
        DbKind::Postgres => "select n.nspname::text, c.relname::text, c.reltuples::bigint::text \
             from pg_class c join pg_namespace n on n.oid = c.relnamespace \
             where c.relkind in ('r', 'p', 'm', 'f')"
            .to_owned(),
        DbKind::MySql => "select cast(table_schema as char), cast(table_name as char), \
             cast(table_rows as char) from information_schema.tables"
            .to_owned(),
        DbKind::Sqlite => format!(
            "select cast(tbl as text), cast(stat as text) from {}.sqlite_stat1",
            kind.quote_identifier(schema)
        ),
    }
}

/// One estimate as the catalog says it: PostgreSQL `-1` is "never analyzed"; a SQLite stat is
/// `"rows rows-per-key…"`.
fn parse_estimate(kind: DbKind, text: &str) -> Option<Estimate> {
    let first = text.split_whitespace().next()?;
    match first.parse::<i64>().ok()? {
        -1 if kind == DbKind::Postgres => Some(Estimate::NeverAnalyzed),
        n => u64::try_from(n).ok().map(Estimate::Rows),
    }
}

/// The estimated row counts of `schemas`' tables, by (schema, table). A kind or schema with
/// none (SQLite without ANALYZE) or a catalog the user may not read gives an empty map: the
/// tables page then shows no numbers rather than failing.
pub(crate) async fn estimates(
    db: &DatabaseConnection,
    schemas: &[String],
) -> std::collections::HashMap<(String, String), Estimate> {
    let kind = db.kind();
    let queries: Vec<(Option<&String>, String)> = match kind {
        DbKind::Sqlite => schemas
            .iter()
            .map(|s| (Some(s), estimate_sql(kind, s)))
            .collect(),
        _ => vec![(None, estimate_sql(kind, ""))],
    };
    let mut out = std::collections::HashMap::new();
    for (schema, sql) in queries {
        let Ok(rows) = fetch(db, sql, None).await else {
            continue;
        };
        for mut row in rows {
            if let Some(schema) = schema {
                row.insert(0, Some(schema.clone()));
            }
            let [Some(schema), Some(table), stat] = row.as_slice() else {
                continue;
            };
            if !schemas.contains(schema) {
                continue;
            }
            if let Some(e) = stat.as_deref().and_then(|t| parse_estimate(kind, t)) {
                // SQLite has a row per index: they all count the table's rows.
                out.entry((schema.clone(), table.clone())).or_insert(e);
            }
        }
    }
    out
}

/// The statements that make a page's read read-only and bounded: run on the connection before
/// `begin`, and inside the transaction after it.
fn read_only_statements(kind: DbKind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        DbKind::Postgres => (
            &[],
            &[
                "set transaction read only",
                "set local statement_timeout = '5s'",
            ],
        ),
        DbKind::MySql => (&["set session transaction read only"], &[]),
        DbKind::Sqlite => (&["pragma query_only = on"], &[]),
    }
}

/// Runs a page's SELECT in a read-only transaction, every value as text, under a statement
/// timeout that the server enforces (MySQL and MariaDB: in the SELECT itself, see
/// [`select_sql`]) as well as the viewer.
pub(crate) async fn fetch(
    db: &DatabaseConnection,
    sql: String,
    value: Option<String>,
) -> Result<Vec<Vec<Option<String>>>> {
    use sqlx::Acquire;
    let (session, begin) = read_only_statements(db.kind());
    let work = async {
        Ok::<_, anyhow::Error>(project_core::on_pool!(db.any_pool(), pool => {
            let mut conn = pool.acquire().await?;
            for statement in session {
                sqlx::query(*statement).execute(&mut *conn).await?;
            }
            let mut tx = conn.begin().await?;
            for statement in begin {
                sqlx::query(*statement).execute(&mut *tx).await?;
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            if let Some(v) = value {
                query = query.bind(v);
            }
            let rows = query.fetch_all(&mut *tx).await?;
            tx.rollback().await?;
            rows.iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| {
                            shown_value(row.try_get::<Option<String>, _>(i), || {
                                row.try_get::<Option<Vec<u8>>, _>(i)
                            })
                        })
                        .collect()
                })
                .collect()
        }))
    };
    tokio::time::timeout(QUERY_TIMEOUT, work)
        .await
        .context("the query took longer than 5 s")?
}

/// A value as the page shows it: `None` only for SQL NULL. A value the driver cannot hand
/// over as text (bytes that are not UTF-8: a SQLite blob, MySQL binary data cast to `char`) is
/// shown in hex as psql shows `bytea` (`\x…`), never as NULL.
fn shown_value(
    text: Result<Option<String>, sqlx::Error>,
    bytes: impl FnOnce() -> Result<Option<Vec<u8>>, sqlx::Error>,
) -> Option<String> {
    match text {
        Ok(text) => text,
        Err(_) => Some(match bytes() {
            Ok(Some(bytes)) => {
                let mut hex = String::with_capacity(2 + 2 * bytes.len());
                hex.push_str("\\x");
                for byte in bytes {
                    let _ = write!(hex, "{byte:02x}");
                }
                hex
            }
            _ => "(a value that cannot be shown as text)".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use project_core::metadata_model::{Column, TableKind};

    fn table(columns: &[&str]) -> Table {
        Table {
            name: "v".into(),
            kind: TableKind::View,
            columns: columns
                .iter()
                .map(|c| Column {
                    name: (*c).into(),
                    data_type: "text".into(),
                    nullable: true,
                    default: None,
                    ordinal: 1,
                })
                .collect(),
            primary_key: Vec::new(),
            foreign_keys: Vec::new(),
            unique_constraints: Vec::new(),
            indexes: Vec::new(),
        }
    }

    #[test]
    fn a_table_with_no_visible_column_has_no_select() {
        for kind in [DbKind::MySql, DbKind::Postgres, DbKind::Sqlite] {
            assert_eq!(
                select_sql(kind, "s", &table(&[]), None, None, 0),
                Err(NoVisibleColumns)
            );
        }
        let sql = select_sql(DbKind::MySql, "s", &table(&["a`b"]), None, None, 50).unwrap();
        assert_eq!(
            sql,
            "/*M!100102 set statement max_statement_time = 5 for */ select /*+ MAX_EXECUTION_TIME(5000) */ cast(src.`a``b` as char) from `s`.`v` as src order by cast(src.`a``b` as char) asc limit 51 offset 50"
        );
    }

    #[test]
    fn a_column_without_an_ordering_operator_is_sorted_by_its_text() {
        let mut t = table(&["id", "p"]);
        t.primary_key = vec!["id".into()];
        t.columns[1].data_type = "point".into();
        let sql = select_sql(DbKind::Postgres, "s", &t, Some(("p", false)), None, 0).unwrap();
        assert!(
            sql.ends_with("order by src.\"p\"::text asc, src.\"id\" asc limit 51 offset 0"),
            "{sql}"
        );
        t.columns[1].data_type = "jsonb".into();
        let sql = select_sql(DbKind::Postgres, "s", &t, Some(("p", false)), None, 0).unwrap();
        assert!(
            sql.contains("order by src.\"p\" asc"),
            "jsonb has one: {sql}"
        );
    }

    #[test]
    fn pages_are_in_a_total_order_whatever_the_sort() {
        let mut t = table(&["id", "grp", "v"]);
        let sql = select_sql(DbKind::Postgres, "s", &t, Some(("grp", true)), None, 0).unwrap();
        assert!(
            sql.ends_with(
                "order by src.\"grp\" desc, src.\"id\"::text desc, src.\"grp\"::text desc, src.\"v\"::text desc limit 51 offset 0"
            ),
            "{sql}"
        );
        t.primary_key = vec!["id".into()];
        let sql = select_sql(DbKind::Sqlite, "main", &t, Some(("grp", false)), None, 0).unwrap();
        assert!(
            sql.ends_with("order by src.\"grp\" asc, src.\"id\" asc limit 51 offset 0"),
            "{sql}"
        );
        let sql = select_sql(DbKind::MySql, "s", &t, Some(("id", false)), None, 0).unwrap();
        assert!(
            sql.ends_with("order by src.`id` asc limit 51 offset 0"),
            "{sql}"
        );
        // A primary key the user cannot see: every visible column instead.
        t.primary_key = vec!["hidden".into()];
        let sql = select_sql(DbKind::Sqlite, "main", &t, None, None, 0).unwrap();
        assert!(
            sql.contains("order by cast(src.\"id\" as text) asc, cast("),
            "{sql}"
        );
    }

    #[test]
    fn estimates_read_as_the_catalogs_write_them() {
        assert_eq!(
            parse_estimate(DbKind::Postgres, "-1"),
            Some(Estimate::NeverAnalyzed)
        );
        assert_eq!(
            parse_estimate(DbKind::Postgres, "120"),
            Some(Estimate::Rows(120))
        );
        assert_eq!(
            parse_estimate(DbKind::Sqlite, "1000 2 1"),
            Some(Estimate::Rows(1000))
        );
        assert_eq!(parse_estimate(DbKind::MySql, "-1"), None);
        assert_eq!(parse_estimate(DbKind::MySql, ""), None);
        assert_eq!(parse_estimate(DbKind::Sqlite, "x"), None);
    }

    #[test]
    fn pages_are_whole_numbers_in_range_and_their_offsets_fit() {
        assert_eq!(parse_page(None), Ok(1));
        assert_eq!(parse_page(Some("1")), Ok(1));
        assert_eq!(parse_page(Some("0002")), Ok(2));
        assert_eq!(parse_page(Some(&MAX_PAGE.to_string())), Ok(MAX_PAGE));
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1e3",
            "0x10",
            "1.5",
            "９",
            "abc",
            "\0",
            &(MAX_PAGE + 1).to_string(),
            &i64::MAX.to_string(),
            &u64::MAX.to_string(),
            &"9".repeat(400),
        ] {
            assert!(parse_page(Some(bad)).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(offset(1), Some(0));
        assert_eq!(offset(MAX_PAGE), Some((MAX_PAGE - 1) * PAGE_ROWS));
        assert_eq!(offset(i64::MAX), None);
        assert_eq!(offset(i64::MIN), None);
    }

    proptest::proptest! {
        #[test]
        fn no_page_text_panics_and_every_accepted_page_has_an_offset(raw in ".{0,40}") {
            if let Ok(page) = parse_page(Some(&raw)) {
                proptest::prop_assert!(offset(page).is_some());
            }
        }
    }
}
