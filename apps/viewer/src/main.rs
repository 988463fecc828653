//! `viewer`: browse a target's schemas, tables and rows in a browser, read-only.
//!
//! Design decision: read-only by construction, not by convention. Rows are read in read-only
//! transactions (PostgreSQL `SET TRANSACTION READ ONLY`, MySQL `START TRANSACTION READ ONLY`,
//! SQLite connections with `query_only`), under a statement timeout and a row limit per page.
//! Identifiers in SQL come only from the target's metadata, never from the request; a value
//! typed by a visitor is always a bound parameter; every byte printed is HTML-escaped.
//! Binding to a non-loopback address requires `--token`, and then every request must carry it.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a server says where it listens"
)]

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use clap::Parser;
use project_core::db::DatabaseConnection;
use project_core::metadata_model::Table;
use project_core::{Context, DbKind, registry};
use sqlx::Row;
use tokio::sync::Mutex;

const PAGE_ROWS: i64 = 50;
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Parser, Debug)]
#[command(
    version,
    about = "A read-only web view of dbcore targets",
    after_help = "Examples:\n  viewer                              # http://127.0.0.1:8080\n  viewer --listen 127.0.0.1:9000\n  viewer --listen 0.0.0.0:8080 --token \"$(openssl rand -hex 16)\""
)]
struct Cli {
    /// Directory holding targets/<name>.toml (as for admin).
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Required when listening beyond loopback: every request must carry it, as `?token=` or
    /// `Authorization: Bearer …`.
    #[arg(long)]
    token: Option<String>,
}

struct App {
    context: Context,
    token: Option<String>,
    open: Mutex<HashMap<String, Arc<DatabaseConnection>>>,
}

type Shared = Arc<App>;

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment or query value.
fn enc(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}}</style></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    ))
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        page("error", &format!("<p id=\"error\">{}</p>", esc(message))),
    )
        .into_response()
}

impl App {
    fn authorized(&self, headers: &HeaderMap, query: &HashMap<String, String>) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        bearer == Some(expected.as_str()) || query.get("token") == Some(expected)
    }

    /// `?token=…` to carry on links, when a token is required.
    fn carry(&self) -> String {
        self.token
            .as_ref()
            .map_or_else(String::new, |t| format!("token={}&", enc(t)))
    }

    async fn db(&self, target: &str) -> Result<Arc<DatabaseConnection>, Response> {
        let mut open = self.open.lock().await;
        if let Some(db) = open.get(target) {
            return Ok(db.clone());
        }
        let db = registry::open(target, &self.context)
            .await
            .map_err(|e| error(StatusCode::BAD_GATEWAY, &e.to_string()))?;
        let db = Arc::new(db);
        open.insert(target.to_owned(), db.clone());
        Ok(db)
    }
}

async fn targets(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !app.authorized(&headers, &q) {
        return error(StatusCode::UNAUTHORIZED, "a token is required");
    }
    let mut body = String::from("<ul id=\"targets\">");
    for name in registry::names(&app.context) {
        let _ = write!(
            body,
            "<li><a href=\"/t/{}?{}\">{}</a></li>",
            enc(&name),
            app.carry(),
            esc(&name)
        );
    }
    body.push_str("</ul>");
    page("targets", &body).into_response()
}

async fn tables(
    State(app): State<Shared>,
    Path(target): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !app.authorized(&headers, &q) {
        return error(StatusCode::UNAUTHORIZED, "a token is required");
    }
    let db = match app.db(&target).await {
        Ok(db) => db,
        Err(r) => return r,
    };
    let metadata = match db.metadata().await {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &e.to_string()),
    };
    let mut body = format!("<p><a href=\"/?{}\">targets</a></p>", app.carry());
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
                "<li><a href=\"/t/{}/{}/{}?{}\">{}</a> {}</li>",
                enc(&target),
                enc(&schema.name),
                enc(&table.name),
                app.carry(),
                esc(&table.name),
                table.kind.as_str()
            );
        }
        body.push_str("</ul>");
    }
    page(&format!("target {target}"), &body).into_response()
}

async fn find_table(
    app: &App,
    target: &str,
    schema: &str,
    table: &str,
) -> Result<(Arc<DatabaseConnection>, Table), Response> {
    let db = app.db(target).await?;
    let metadata = db
        .metadata()
        .await
        .map_err(|e| error(StatusCode::BAD_GATEWAY, &e.to_string()))?;
    let found = metadata
        .schemas
        .iter()
        .filter(|s| s.name == schema)
        .find_map(|s| s.tables.iter().find(|t| t.name == table))
        .cloned()
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                &format!("no table {schema}.{table} in target {target}"),
            )
        })?;
    Ok((db, found))
}

async fn columns(
    State(app): State<Shared>,
    Path((target, schema, table)): Path<(String, String, String)>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !app.authorized(&headers, &q) {
        return error(StatusCode::UNAUTHORIZED, "a token is required");
    }
    let (_, t) = match find_table(&app, &target, &schema, &table).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let mut body = format!(
        "<p><a href=\"/t/{}?{c}\">{}</a> · <a id=\"rows\" href=\"/t/{}/{}/{}/rows?{c}\">rows</a></p>\
         <table id=\"columns\"><tr><th>column</th><th>type</th><th>null</th><th>default</th><th>key</th></tr>",
        enc(&target),
        esc(&target),
        enc(&target),
        enc(&schema),
        enc(&table),
        c = app.carry()
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

fn quote(kind: DbKind, name: &str) -> String {
    match kind {
        DbKind::MySql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// The SELECT for a page: identifiers from metadata, values as `$1`/`?`.
fn select_sql(
    kind: DbKind,
    schema: &str,
    table: &Table,
    sort: Option<(&str, bool)>,
    filter: Option<&str>,
) -> String {
    let cast = |c: &str| match kind {
        DbKind::Postgres => format!("src.{}::text", quote(kind, c)),
        DbKind::MySql => format!("cast(src.{} as char)", quote(kind, c)),
        DbKind::Sqlite => format!("cast(src.{} as text)", quote(kind, c)),
    };
    let list: Vec<String> = table.columns.iter().map(|c| cast(&c.name)).collect();
    // The table is aliased so that ORDER BY and WHERE name its column, not the text cast of the
    // same name in the select list (PostgreSQL would otherwise sort ids as text).
    let mut sql = format!(
        "select {} from {}.{} as src",
        list.join(", "),
        quote(kind, schema),
        quote(kind, &table.name)
    );
    if let Some(column) = filter {
        let placeholder = if kind == DbKind::Postgres { "$1" } else { "?" };
        let _ = write!(sql, " where {} = {placeholder}", cast(column));
    }
    if let Some((column, descending)) = sort {
        let _ = write!(
            sql,
            " order by src.{} {}",
            quote(kind, column),
            if descending { "desc" } else { "asc" }
        );
    }
    let _ = write!(sql, " limit {} offset {{offset}}", PAGE_ROWS + 1);
    sql
}

async fn fetch(
    db: &DatabaseConnection,
    sql: String,
    value: Option<String>,
) -> Result<Vec<Vec<Option<String>>>> {
    use sqlx::Acquire;
    macro_rules! run {
        ($pool:expr, $session:expr, $begin:expr) => {{
            let mut conn = $pool.acquire().await?;
            for statement in $session {
                sqlx::query(*statement).execute(&mut *conn).await?;
            }
            let mut tx = conn.begin().await?;
            for statement in $begin {
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
                        .map(|i| row.try_get::<Option<String>, _>(i).ok().flatten())
                        .collect()
                })
                .collect()
        }};
    }
    let work = async {
        Ok::<_, anyhow::Error>(match db.kind() {
            DbKind::Postgres => run!(
                db.pool::<sqlx::Postgres>()?,
                &[] as &[&'static str],
                &[
                    "set transaction read only",
                    "set local statement_timeout = '5s'"
                ]
            ),
            DbKind::MySql => run!(
                db.pool::<sqlx::MySql>()?,
                &["set session transaction read only"],
                &[] as &[&'static str]
            ),
            DbKind::Sqlite => run!(
                db.pool::<sqlx::Sqlite>()?,
                &["pragma query_only = on"],
                &[] as &[&'static str]
            ),
        })
    };
    tokio::time::timeout(QUERY_TIMEOUT, work)
        .await
        .context("the query took longer than 5 s")?
}

async fn rows(
    State(app): State<Shared>,
    Path((target, schema, table)): Path<(String, String, String)>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !app.authorized(&headers, &q) {
        return error(StatusCode::UNAUTHORIZED, "a token is required");
    }
    let (db, t) = match find_table(&app, &target, &schema, &table).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let known = |name: &str| t.columns.iter().any(|c| c.name == name);
    let page_no: i64 = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .filter(|p: &i64| *p >= 1)
        .unwrap_or(1);
    let sort = match q.get("sort").filter(|s| !s.is_empty()) {
        Some(s) if known(s) => Some((s.as_str(), q.get("dir").is_some_and(|d| d == "desc"))),
        Some(s) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("no column {s} to sort by"),
            );
        }
        None => None,
    };
    let filter = match q.get("col").filter(|c| !c.is_empty()) {
        Some(c) if known(c) => Some(c.as_str()),
        Some(c) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("no column {c} to filter on"),
            );
        }
        None => None,
    };
    let value = filter.map(|_| q.get("eq").cloned().unwrap_or_default());
    let sql = select_sql(db.kind(), &schema, &t, sort, filter)
        .replace("{offset}", &((page_no - 1) * PAGE_ROWS).to_string());
    let fetched = match fetch(&db, sql, value.clone()).await {
        Ok(rows) => rows,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &format!("{e:#}")),
    };
    let more = fetched.len() as i64 > PAGE_ROWS;
    let base = format!("/t/{}/{}/{}/rows", enc(&target), enc(&schema), enc(&table));
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
        format!("{base}?{}{}", app.carry(), q.join("&"))
    };
    let mut body = format!(
        "<p><a href=\"/t/{}/{}/{}?{}\">columns</a> · page <span id=\"page\">{page_no}</span></p>\
         <form method=\"get\" action=\"{base}\">{}<select name=\"col\">",
        enc(&target),
        enc(&schema),
        enc(&table),
        app.carry(),
        app.token.as_ref().map_or_else(String::new, |t| format!(
            "<input type=\"hidden\" name=\"token\" value=\"{}\">",
            esc(t)
        ))
    );
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
    for row in fetched.iter().take(PAGE_ROWS as usize) {
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
    body.push_str("</table><p>");
    if page_no > 1 {
        let _ = write!(
            body,
            "<a id=\"prev\" href=\"{}\">previous</a> ",
            esc(&link(&[("page", (page_no - 1).to_string())]))
        );
    }
    if more {
        let _ = write!(
            body,
            "<a id=\"next\" href=\"{}\">next</a>",
            esc(&link(&[("page", (page_no + 1).to_string())]))
        );
    }
    body.push_str("</p>");
    page(&format!("{schema}.{table}"), &body).into_response()
}

async fn serve(cli: Cli) -> Result<()> {
    if !cli.listen.ip().is_loopback() && cli.token.is_none() {
        bail!(
            "listening on {} (beyond loopback) requires --token",
            cli.listen
        );
    }
    let env: Arc<dyn project_core::context::EnvPort> = Arc::new(project_core::context::ProcessEnv);
    let context = Context::new(cli.config_dir.as_deref(), env);
    project_core::configure(context.clone());
    let app = Arc::new(App {
        context,
        token: cli.token,
        open: Mutex::new(HashMap::new()),
    });
    let router = Router::new()
        .route("/", get(targets))
        .route("/t/{target}", get(tables))
        .route("/t/{target}/{schema}/{table}", get(columns))
        .route("/t/{target}/{schema}/{table}/rows", get(rows))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    println!("viewer: listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("viewer: error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("viewer: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
