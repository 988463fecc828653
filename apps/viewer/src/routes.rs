//! The pages: the target list, a target's tables, a table's columns and its rows, and the
//! router that puts the `Host` check in front of everything and the session check in front of
//! every page but the login.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use domain::TargetName;
use project_core::db::DatabaseConnection;
use project_core::metadata_model::Table;

use crate::App;
use crate::auth::{check_host, login_get, login_post, protective_headers, require_session};
use crate::html::{Refusal, enc, error, esc, page, shown};
use crate::queries::{MAX_PAGE, PAGE_ROWS, fetch, offset, parse_page, select_sql};

type Shared = Arc<App>;
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

pub(crate) fn router(app: Shared) -> Router {
    let pages = Router::new()
        .route("/", get(targets))
        .route("/t/{target}", get(tables))
        .route("/t/{target}/{schema}/{table}", get(columns))
        .route("/t/{target}/{schema}/{table}/rows", get(rows))
        .route_layer(from_fn_with_state(app.clone(), require_session));
    Router::new()
        .route("/login", get(login_get).post(login_post))
        .merge(pages)
        .fallback(not_found)
        .layer(from_fn_with_state(app.clone(), check_host))
        .layer(from_fn(protective_headers))
        .with_state(app)
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "there is no such page (the list of targets is at /)",
    )
}

fn bad_path(_: PathRejection) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "the address is not valid UTF-8 text or has the wrong number of parts",
    )
}

fn params(query: Params) -> Result<HashMap<String, String>, Refusal> {
    query.map(|Query(q)| q).map_err(|_| {
        Refusal(
            StatusCode::BAD_REQUEST,
            "the query string cannot be read".into(),
        )
    })
}

async fn targets(State(app): State<Shared>) -> Response {
    let mut body = String::from("<ul id=\"targets\">");
    for name in app.targets.names() {
        let _ = write!(
            body,
            "<li><a href=\"/t/{}\">{}</a></li>",
            enc(&name),
            esc(&name)
        );
    }
    body.push_str("</ul>");
    page("targets", &body).into_response()
}

/// The configured target and its open pool.
async fn open(app: &App, raw: &str) -> Result<(TargetName, Arc<DatabaseConnection>), Refusal> {
    let name = app.targets.configured(raw)?;
    let db = app.targets.db(&name).await?;
    Ok((name, db))
}

async fn tables(
    State(app): State<Shared>,
    target: Result<Path<String>, PathRejection>,
) -> Response {
    let Path(target) = match target {
        Ok(t) => t,
        Err(e) => return bad_path(e),
    };
    let (target, db) = match open(&app, &target).await {
        Ok(found) => found,
        Err(r) => return r.into_response(),
    };
    let metadata = match db.metadata().await {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &e.to_string()),
    };
    let mut body = String::from("<p><a href=\"/\">targets</a></p>");
    for schema in &metadata.schemas {
        let _ = write!(
            body,
            "<h2>{} ({} tables)</h2><ul class=\"tables\">",
            esc(&schema.name),
            schema.tables.len()
        );
        for table in &schema.tables {
            let _ = write!(
                body,
                "<li><a href=\"/t/{}/{}/{}\">{}</a> {}</li>",
                enc(target.as_str()),
                enc(&schema.name),
                enc(&table.name),
                esc(&table.name),
                table.kind.as_str()
            );
        }
        body.push_str("</ul>");
    }
    page(&format!("target {target}"), &body).into_response()
}

/// A table of a configured target, by the schema and table names in the URL (matched against
/// metadata, never used in SQL themselves).
async fn find_table(
    app: &App,
    target: &str,
    schema: &str,
    table: &str,
) -> Result<(TargetName, Arc<DatabaseConnection>, Table), Refusal> {
    let (target, db) = open(app, target).await?;
    let metadata = db
        .metadata()
        .await
        .map_err(|e| Refusal(StatusCode::BAD_GATEWAY, e.to_string()))?;
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
fn no_visible_columns(schema: &str, table: &str) -> String {
    format!(
        "<p id=\"no-columns\">no column of {}.{} is visible to this database user: the server \
         lists the table but none of its columns (a view over a table the user may not read, \
         or whose base table is gone, looks like this), so there is nothing to show</p>",
        esc(schema),
        esc(table)
    )
}

async fn columns(
    State(app): State<Shared>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    let Path((target, schema, table)) = match path {
        Ok(p) => p,
        Err(e) => return bad_path(e),
    };
    let (target, _, t) = match find_table(&app, &target, &schema, &table).await {
        Ok(found) => found,
        Err(r) => return r.into_response(),
    };
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
    body.push_str("</table><h2>foreign keys</h2><ul>");
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
    page(&format!("{schema}.{table}"), &body).into_response()
}

async fn rows(
    State(app): State<Shared>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Params,
) -> Response {
    let Path((target, schema, table)) = match path {
        Ok(p) => p,
        Err(e) => return bad_path(e),
    };
    let q = match params(query) {
        Ok(q) => q,
        Err(r) => return r.into_response(),
    };
    // Everything that needs no database is checked first.
    let page_no = match parse_page(q.get("page").map(String::as_str)) {
        Ok(p) => p,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let Some(first_row) = offset(page_no) else {
        return error(StatusCode::BAD_REQUEST, "`page` is out of range");
    };
    let descending = match q.get("dir").map(String::as_str) {
        None | Some("" | "asc") => false,
        Some("desc") => true,
        Some(_) => return error(StatusCode::BAD_REQUEST, "`dir` must be asc or desc"),
    };
    let (target, db, t) = match find_table(&app, &target, &schema, &table).await {
        Ok(found) => found,
        Err(r) => return r.into_response(),
    };
    let target = target.as_str();
    let known = |name: &str| t.columns.iter().any(|c| c.name == name);
    let sort = match q.get("sort").filter(|s| !s.is_empty()) {
        Some(s) if known(s) => Some((s.as_str(), descending)),
        Some(s) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("no column {} to sort by", shown(s)),
            );
        }
        None => None,
    };
    let filter = match q.get("col").filter(|c| !c.is_empty()) {
        Some(c) if known(c) => Some(c.as_str()),
        Some(c) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("no column {} to filter on", shown(c)),
            );
        }
        None => None,
    };
    let value = filter.map(|_| q.get("eq").cloned().unwrap_or_default());
    let back = format!(
        "<p><a href=\"/t/{}/{}/{}\">columns</a> · page <span id=\"page\">{page_no}</span></p>",
        enc(target),
        enc(&schema),
        enc(&table),
    );
    let Ok(sql) = select_sql(db.kind(), &schema, &t, sort, filter, first_row) else {
        let body = format!("{back}{}", no_visible_columns(&schema, &table));
        return page(&format!("{schema}.{table}"), &body).into_response();
    };
    let fetched = match fetch(&db, sql, value.clone()).await {
        Ok(rows) => rows,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &project_core::one_line(e.as_ref())),
    };
    let shown_rows = usize::try_from(PAGE_ROWS).unwrap_or(usize::MAX);
    let more = fetched.len() > shown_rows && page_no < MAX_PAGE;
    let base = format!("/t/{}/{}/{}/rows", enc(target), enc(&schema), enc(&table));
    let mut keep: BTreeMap<&str, String> = BTreeMap::new();
    if let Some((s, desc)) = sort {
        keep.insert("sort", s.to_owned());
        keep.insert("dir", if desc { "desc".into() } else { "asc".into() });
    }
    if let (Some(c), Some(v)) = (filter, &value) {
        keep.insert("col", c.to_owned());
        keep.insert("eq", v.clone());
    }
    let link = |extra: &[(&str, String)]| {
        let mut params = keep.clone();
        for (k, v) in extra {
            params.insert(k, v.clone());
        }
        let q: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect();
        format!("{base}?{}", q.join("&"))
    };
    let mut body = format!("{back}<form method=\"get\" action=\"{base}\"><select name=\"col\">");
    for c in &t.columns {
        let selected = if filter == Some(c.name.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(body, "<option{selected}>{}</option>", esc(&c.name));
    }
    let _ = write!(
        body,
        "</select> = <input name=\"eq\" id=\"eq\" value=\"{}\"> <button>filter</button></form>",
        esc(value.as_deref().unwrap_or(""))
    );
    if let (Some(c), Some(v)) = (filter, &value) {
        let _ = write!(
            body,
            "<p id=\"filter\">rows where {} = {}</p>",
            esc(c),
            esc(v)
        );
    }
    body.push_str("<table id=\"data\"><tr>");
    for c in &t.columns {
        let desc = sort == Some((c.name.as_str(), false));
        let _ = write!(
            body,
            "<th><a class=\"sort\" href=\"{}\">{}</a></th>",
            esc(&link(&[
                ("sort", c.name.clone()),
                ("dir", if desc { "desc".into() } else { "asc".into() }),
                ("page", "1".into())
            ])),
            esc(&c.name)
        );
    }
    body.push_str("</tr>");
    for row in fetched.iter().take(shown_rows) {
        body.push_str("<tr>");
        for cell in row {
            match cell {
                Some(v) => {
                    let _ = write!(body, "<td>{}</td>", esc(v));
                }
                None => body.push_str("<td><i>null</i></td>"),
            }
        }
        body.push_str("</tr>");
    }
    body.push_str("</table>");
    if fetched.is_empty() {
        let _ = write!(
            body,
            "<p id=\"empty\">no rows on this page</p><p><a href=\"{}\">first page</a></p>",
            esc(&link(&[("page", "1".into())]))
        );
    }
    body.push_str("<p>");
    if let Some(prev) = page_no.checked_sub(1).filter(|p| *p >= 1) {
        let _ = write!(
            body,
            "<a id=\"prev\" href=\"{}\">previous</a> ",
            esc(&link(&[("page", prev.to_string())]))
        );
    }
    if let Some(next) = page_no.checked_add(1).filter(|_| more) {
        let _ = write!(
            body,
            "<a id=\"next\" href=\"{}\">next</a>",
            esc(&link(&[("page", next.to_string())]))
        );
    }
    body.push_str("</p>");
    page(&format!("{schema}.{table}"), &body).into_response()
}
