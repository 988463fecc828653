//! The router: the `Host` check in front of everything, the session check in front of every
//! page but the login and the stylesheet, and what the pages share in reading a request.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::Query;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;

use crate::App;
use crate::auth::{check_host, login_get, login_post, protective_headers, require_session};
use crate::html::{Refusal, error};
use crate::rows_page::rows;
use crate::schema_pages::{columns, tables};
use crate::style::{self, STYLESHEET};
use crate::targets_page::targets;

pub(crate) type Shared = Arc<App>;
pub(crate) type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

pub(crate) fn router(app: Shared) -> Router {
    let pages = Router::new()
        .route("/", get(targets))
        .route("/t/{target}", get(tables))
        .route("/t/{target}/{schema}/{table}", get(columns))
        .route("/t/{target}/{schema}/{table}/rows", get(rows))
        .route_layer(from_fn_with_state(app.clone(), require_session));
    Router::new()
        .route("/login", get(login_get).post(login_post))
        .route(STYLESHEET, get(style::css))
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

pub(crate) fn bad_path(_: PathRejection) -> Refusal {
    Refusal(
        StatusCode::BAD_REQUEST,
        "the address is not valid UTF-8 text or has the wrong number of parts".into(),
    )
}

pub(crate) fn params(query: Params) -> Result<HashMap<String, String>, Refusal> {
    query.map(|Query(q)| q).map_err(|_| {
        Refusal(
            StatusCode::BAD_REQUEST,
            "the query string cannot be read".into(),
        )
    })
}
