//! A table's rows, a page at a time: sorted by a column, filtered on one column's value.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use project_core::metadata_model::Table;

use crate::App;
use crate::html::{Refusal, enc, esc, long_text, page, shown};
use crate::queries::{MAX_PAGE, PAGE_ROWS, fetch, offset, parse_page, select_sql};
use crate::routes::{Params, Shared, bad_path, params};
use crate::schema_pages::{find_table, no_visible_columns};

type RowsPath = Result<Path<(String, String, String)>, PathRejection>;

pub(crate) async fn rows(State(app): State<Shared>, path: RowsPath, query: Params) -> Response {
    rows_page(&app, path, query)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

fn bad_request(message: String) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, message)
}

async fn rows_page(app: &App, path: RowsPath, query: Params) -> Result<Response, Refusal> {
    let Path((target, schema, table)) = path.map_err(bad_path)?;
    let q = params(query)?;
    // Everything that needs no database is checked first.
    let page_no = parse_page(q.get("page").map(String::as_str)).map_err(bad_request)?;
    let first_row = offset(page_no).ok_or_else(|| bad_request("`page` is out of range".into()))?;
    let descending = match q.get("dir").map(String::as_str) {
        None | Some("" | "asc") => false,
        Some("desc") => true,
        Some(_) => return Err(bad_request("`dir` must be asc or desc".into())),
    };
    let (target, db, t) = find_table(app, &target, &schema, &table).await?;
    let choice = Choice::new(&t, &q, descending)?;
    let target = target.as_str();
    let title = format!("{schema}.{table}");
    let back = format!(
        "<p><a href=\"/t/{}/{}/{}\">columns</a> · page <span id=\"page\">{page_no}</span></p>",
        enc(target),
        enc(&schema),
        enc(&table),
    );
    let Ok(sql) = select_sql(
        db.kind(),
        &schema,
        &t,
        choice.sort,
        choice.filter,
        first_row,
    ) else {
        let body = format!("{back}{}", no_visible_columns(&schema, &table));
        return Ok(page(&title, &body).into_response());
    };
    let fetched = fetch(&db, sql, choice.value.clone())
        .await
        .map_err(|e| Refusal(StatusCode::BAD_GATEWAY, project_core::one_line(e.as_ref())))?;
    let links = Links::new(
        format!("/t/{}/{}/{}/rows", enc(target), enc(&schema), enc(&table)),
        &choice,
    );
    let mut body = back;
    filter_form(&mut body, &links.base, &t, &choice);
    pager(&mut body, &links, page_no, &fetched);
    data_table(&mut body, &links, &t, &choice, &fetched);
    if fetched.is_empty() {
        let _ = write!(
            body,
            "<p id=\"empty\">no rows on this page</p><p><a href=\"{}\">first page</a></p>",
            esc(&links.to(&[("page", "1".into())]))
        );
    }
    pager(&mut body, &links, page_no, &fetched);
    Ok(page(&title, &body).into_response())
}

/// The sort and the filter asked for, each naming a column of the table.
struct Choice<'q> {
    sort: Option<(&'q str, bool)>,
    filter: Option<&'q str>,
    /// The filter's value (empty when `eq` is missing); `None` without a filter.
    value: Option<String>,
}

impl<'q> Choice<'q> {
    fn new(t: &Table, q: &'q HashMap<String, String>, descending: bool) -> Result<Self, Refusal> {
        let known = |name: &str| t.columns.iter().any(|c| c.name == name);
        let sort = match q.get("sort").filter(|s| !s.is_empty()) {
            Some(s) if known(s) => Some((s.as_str(), descending)),
            Some(s) => return Err(bad_request(format!("no column {} to sort by", shown(s)))),
            None => None,
        };
        let filter = match q.get("col").filter(|c| !c.is_empty()) {
            Some(c) if known(c) => Some(c.as_str()),
            Some(c) => {
                return Err(bad_request(format!("no column {} to filter on", shown(c))));
            }
            None => None,
        };
        let value = filter.map(|_| q.get("eq").cloned().unwrap_or_default());
        Ok(Self {
            sort,
            filter,
            value,
        })
    }
}

/// Links to other pages of the same rows: the sort and filter kept, some parameters changed.
struct Links<'q> {
    base: String,
    keep: BTreeMap<&'q str, String>,
}

impl<'q> Links<'q> {
    fn new(base: String, choice: &Choice<'q>) -> Self {
        let mut keep = BTreeMap::new();
        if let Some((s, desc)) = choice.sort {
            keep.insert("sort", s.to_owned());
            keep.insert("dir", if desc { "desc".into() } else { "asc".into() });
        }
        if let (Some(c), Some(v)) = (choice.filter, &choice.value) {
            keep.insert("col", c.to_owned());
            keep.insert("eq", v.clone());
        }
        Self { base, keep }
    }

    fn to(&self, extra: &[(&'q str, String)]) -> String {
        let mut params = self.keep.clone();
        for (k, v) in extra {
            params.insert(k, v.clone());
        }
        let q: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect();
        format!("{}?{}", self.base, q.join("&"))
    }
}

/// The filter form, and what the rows are filtered on.
fn filter_form(body: &mut String, base: &str, t: &Table, choice: &Choice<'_>) {
    let _ = write!(
        body,
        "<form method=\"get\" action=\"{base}\"><select name=\"col\">"
    );
    for c in &t.columns {
        let selected = if choice.filter == Some(c.name.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            body,
            "<option value=\"{0}\"{selected}>{0}</option>",
            esc(&c.name)
        );
    }
    let _ = write!(
        body,
        "</select> = <input name=\"eq\" id=\"eq\" value=\"{}\"> <button>filter</button></form>",
        esc(choice.value.as_deref().unwrap_or(""))
    );
    if let (Some(c), Some(v)) = (choice.filter, &choice.value) {
        let _ = write!(
            body,
            "<p id=\"filter\">rows where {} = {}</p>",
            esc(c),
            esc(v)
        );
    }
}

/// The rows shown, under headings that sort by their column (again: the other way) and name
/// its type. NULL is a marked cell, unlike an empty value; numbers are aligned right; a long
/// value is cut by characters, its whole value a click away (`<details>`, no script).
fn data_table(
    body: &mut String,
    links: &Links<'_>,
    t: &Table,
    choice: &Choice<'_>,
    fetched: &[Vec<Option<String>>],
) {
    body.push_str("<table id=\"data\"><tr>");
    let numeric: Vec<bool> = t.columns.iter().map(|c| is_numeric(&c.data_type)).collect();
    for (c, num) in t.columns.iter().zip(&numeric) {
        let desc = choice.sort == Some((c.name.as_str(), false));
        let _ = write!(
            body,
            "<th{}><a class=\"sort\" href=\"{}\">{}</a><span class=\"type\">{}</span></th>",
            if *num { " class=\"num\"" } else { "" },
            esc(&links.to(&[
                ("sort", c.name.clone()),
                ("dir", if desc { "desc".into() } else { "asc".into() }),
                ("page", "1".into())
            ])),
            esc(&c.name),
            esc(&c.data_type)
        );
    }
    body.push_str("</tr>");
    for row in fetched.iter().take(shown_rows()) {
        body.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            match cell {
                None => body.push_str("<td class=\"null\">NULL</td>"),
                Some(v) if numeric.get(i).copied().unwrap_or(false) => {
                    let _ = write!(body, "<td class=\"num\">{}</td>", long_text(v));
                }
                Some(v) => {
                    let _ = write!(body, "<td>{}</td>", long_text(v));
                }
            }
        }
        body.push_str("</tr>");
    }
    body.push_str("</table>");
}

/// Whether a column's type (as the catalog names it: `integer`, `numeric(10,2)`, `bigint
/// unsigned`, SQLite's declared `INTEGER`) holds numbers, whose cells are aligned right.
fn is_numeric(data_type: &str) -> bool {
    let lower = data_type.to_ascii_lowercase();
    let base = lower.split('(').next().unwrap_or("").trim();
    let base = base
        .strip_suffix(" unsigned")
        .or_else(|| base.strip_suffix(" zerofill"))
        .unwrap_or(base)
        .trim();
    matches!(
        base,
        "smallint"
            | "integer"
            | "int"
            | "bigint"
            | "tinyint"
            | "mediumint"
            | "int2"
            | "int4"
            | "int8"
            | "smallserial"
            | "serial"
            | "bigserial"
            | "numeric"
            | "decimal"
            | "real"
            | "float"
            | "float4"
            | "float8"
            | "double"
            | "double precision"
    )
}

/// Rows per page as a count: the query fetches one more, to know whether a next page exists.
fn shown_rows() -> usize {
    usize::try_from(PAGE_ROWS).unwrap_or(usize::MAX)
}

/// The first, previous and next links, above the rows and again below them: the first page
/// has no previous, the last (the one without a row past it) no next.
fn pager(body: &mut String, links: &Links<'_>, page_no: i64, fetched: &[Vec<Option<String>>]) {
    body.push_str("<p class=\"pager\">");
    if let Some(prev) = page_no.checked_sub(1).filter(|p| *p >= 1) {
        if prev > 1 {
            let _ = write!(
                body,
                "<a rel=\"first\" href=\"{}\">« first</a>",
                esc(&links.to(&[("page", "1".into())]))
            );
        }
        let _ = write!(
            body,
            "<a rel=\"prev\" href=\"{}\">‹ previous</a>",
            esc(&links.to(&[("page", prev.to_string())]))
        );
    }
    let more = fetched.len() > shown_rows() && page_no < MAX_PAGE;
    if let Some(next) = page_no.checked_add(1).filter(|_| more) {
        let _ = write!(
            body,
            "<a rel=\"next\" href=\"{}\">next ›</a>",
            esc(&links.to(&[("page", next.to_string())]))
        );
    }
    body.push_str("</p>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_types_are_told_from_their_look_alikes() {
        for yes in [
            "integer",
            "INTEGER",
            "bigint unsigned",
            "int(11)",
            "numeric(10,2)",
            "double precision",
            "REAL",
        ] {
            assert!(is_numeric(yes), "{yes}");
        }
        for no in ["point", "interval", "text", "varchar(10)", "", "integer[]"] {
            assert!(!is_numeric(no), "{no}");
        }
    }
}
