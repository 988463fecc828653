//! The pages that show metadata: a target's tables, a table's columns.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::TargetName;
use project_core::DbKind;
use project_core::db::DatabaseConnection;
use project_core::metadata_model::Table;

use crate::App;
use crate::html::{Refusal, enc, esc, page, shown};
use crate::queries::{Estimate, estimates};
use crate::routes::{Shared, bad_path};

/// The configured target and its open pool.
async fn open(app: &App, raw: &str) -> Result<(TargetName, Arc<DatabaseConnection>), Refusal> {
    let name = app.targets.configured(raw)?;
    let db = app.targets.db(&name).await?;
    Ok((name, db))
}

pub(crate) async fn tables(
    State(app): State<Shared>,
    target: Result<Path<String>, PathRejection>,
) -> Response {
    tables_page(&app, target)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn tables_page(
    app: &App,
    target: Result<Path<String>, PathRejection>,
) -> Result<Response, Refusal> {
    let Path(target) = target.map_err(bad_path)?;
    let (target, db) = open(app, &target).await?;
    let metadata = db
        .metadata()
        .await
        .map_err(|e| Refusal(StatusCode::BAD_GATEWAY, project_core::one_line(&e)))?;
    let schemas: Vec<String> = metadata.schemas.iter().map(|s| s.name.clone()).collect();
    let estimates = estimates(&db, &schemas).await;
    let mut body = String::from("<p><a href=\"/\">targets</a></p>");
    for schema in &metadata.schemas {
        let _ = write!(
            body,
            "<h2>{} ({} tables)</h2><table class=\"tables\"><tr><th>table</th><th>kind</th>\
             <th class=\"num\">rows (estimate)</th><th></th></tr>",
            esc(&schema.name),
            schema.tables.len()
        );
        for table in &schema.tables {
            let href = format!(
                "/t/{}/{}/{}",
                enc(target.as_str()),
                enc(&schema.name),
                enc(&table.name)
            );
            let estimate = match estimates.get(&(schema.name.clone(), table.name.clone())) {
                Some(Estimate::Rows(n)) => format!("<td class=\"num\">{}</td>", grouped(*n)),
                Some(Estimate::NeverAnalyzed) => {
                    "<td class=\"num unknown\" title=\"never analyzed\">—</td>".to_owned()
                }
                None => "<td class=\"num unknown\"></td>".to_owned(),
            };
            let _ = write!(
                body,
                "<tr><td><a href=\"{href}\">{}</a></td><td>{}</td>{estimate}\
                 <td><a href=\"{href}/rows\">rows</a></td></tr>",
                esc(&table.name),
                table.kind.as_str()
            );
        }
        body.push_str("</table>");
    }
    body.push_str(estimates_note(db.kind()));
    Ok(page(&format!("target {target}"), &body).into_response())
}

/// What the estimates are, per kind.
fn estimates_note(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Postgres => {
            "<p class=\"muted\">Row counts are PostgreSQL's estimates (pg_class.reltuples, as of \
             the last ANALYZE or VACUUM); — means never analyzed.</p>"
        }
        DbKind::MySql => {
            "<p class=\"muted\">Row counts are the server's estimates \
             (information_schema.tables.table_rows); views have none.</p>"
        }
        DbKind::Sqlite => {
            "<p class=\"muted\">SQLite keeps no row count; one is shown only for tables that \
             ANALYZE has measured (sqlite_stat1).</p>"
        }
    }
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A table of a configured target, by the schema and table names in the URL (matched against
/// metadata, never used in SQL themselves).
pub(crate) async fn find_table(
    app: &App,
    target: &str,
    schema: &str,
    table: &str,
) -> Result<(TargetName, Arc<DatabaseConnection>, Table), Refusal> {
    let (target, db) = open(app, target).await?;
    let metadata = db
        .metadata()
        .await
        .map_err(|e| Refusal(StatusCode::BAD_GATEWAY, project_core::one_line(&e)))?;
    let found = metadata
        .schemas
        .iter()
        .filter(|s| s.name == schema)
        .find_map(|s| s.tables.iter().find(|t| t.name == table))
        .cloned()
        .ok_or_else(|| {
            Refusal(
                StatusCode::NOT_FOUND,
                format!(
                    "no table {}.{} in target {target}",
                    shown(schema),
                    shown(table)
                ),
            )
        })?;
    Ok((target, db, found))
}

/// What a page says about a table whose columns this user cannot see.
pub(crate) fn no_visible_columns(schema: &str, table: &str) -> String {
    format!(
        "<p id=\"no-columns\">no column of {}.{} is visible to this database user: the server \
         lists the table but none of its columns (a view over a table the user may not read, \
         or whose base table is gone, looks like this), so there is nothing to show</p>",
        esc(schema),
        esc(table)
    )
}

pub(crate) async fn columns(
    State(app): State<Shared>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    columns_page(&app, path)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn columns_page(
    app: &App,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, Refusal> {
    let Path((target, schema, table)) = path.map_err(bad_path)?;
    let (target, _, t) = find_table(app, &target, &schema, &table).await?;
    let target = target.as_str();
    let mut body = format!(
        "<p><a href=\"/t/{}\">{}</a> · <a id=\"rows\" href=\"/t/{}/{}/{}/rows\">rows</a></p>",
        enc(target),
        esc(target),
        enc(target),
        enc(&schema),
        enc(&table),
    );
    if t.columns.is_empty() {
        body.push_str(&no_visible_columns(&schema, &table));
    }
    body.push_str(
        "<table id=\"columns\"><tr><th>column</th><th>type</th><th>null</th><th>default</th><th>key</th></tr>",
    );
    for c in &t.columns {
        let key = if t.primary_key.contains(&c.name) {
            "primary key"
        } else {
            ""
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{key}</td></tr>",
            esc(&c.name),
            esc(&c.data_type),
            if c.nullable { "yes" } else { "no" },
            esc(c.default.as_deref().unwrap_or(""))
        );
    }
    body.push_str("</table>");
    keys_and_indexes(&mut body, &t);
    Ok(page(&format!("{schema}.{table}"), &body).into_response())
}

/// A table's foreign keys and indexes, as two lists.
fn keys_and_indexes(body: &mut String, t: &Table) {
    body.push_str("<h2>foreign keys</h2><ul>");
    for fk in &t.foreign_keys {
        let _ = write!(
            body,
            "<li>({}) → {}.{} ({})</li>",
            esc(&fk.columns.join(", ")),
            esc(&fk.referenced_schema),
            esc(&fk.referenced_table),
            esc(&fk.referenced_columns.join(", "))
        );
    }
    body.push_str("</ul><h2>indexes</h2><ul>");
    for ix in &t.indexes {
        let _ = write!(
            body,
            "<li>{}{} ({})</li>",
            if ix.unique { "unique " } else { "" },
            esc(&ix.name),
            esc(&ix.columns.join(", "))
        );
    }
    body.push_str("</ul>");
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(super::grouped(0), "0");
        assert_eq!(super::grouped(999), "999");
        assert_eq!(super::grouped(1000), "1,000");
        assert_eq!(super::grouped(1_234_567), "1,234,567");
    }
}
