//! The page an operator keeps open (`/`): one row per configured target with where it points,
//! whose credential it uses and from which source, its lease and its pool.
//!
//! Design decision: every target is opened for this page, each in its own task, and the page
//! waits for them at most [`OPEN_WAIT`] in all: a dead or silent server costs its own row an
//! error (or "still opening"), never the page. A row shows what may be shown and nothing
//! else: the source's name and where it found the credential (a file and line, a Vault path),
//! never a password, a lease id or a token; text that came from outside passes the secret
//! filter first.

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use domain::redact::redact;
use project_core::db::DatabaseConnection;

use crate::html::{enc, esc, page};
use crate::routes::Shared;
use crate::targets::{OpenFailure, Opening, Targets};

/// How long the page waits for the targets' opens, all together.
const OPEN_WAIT: Duration = Duration::from_secs(3);

pub(crate) async fn targets(State(app): State<Shared>) -> Response {
    let names = app.targets.names();
    let deadline = tokio::time::Instant::now() + OPEN_WAIT;
    let openings = Targets::open_all(&app.targets, &names, deadline).await;
    let mut body = String::from(
        "<table id=\"targets\"><tr><th>target</th><th>kind</th><th>where</th><th>user</th>\
         <th>credential</th><th>lease</th><th class=\"num\">rotations</th><th>pool</th>\
         <th>status</th></tr>",
    );
    for (name, opening) in names.iter().zip(openings) {
        let _ = write!(
            body,
            "<tr id=\"target-{}\"><td><a href=\"/t/{}\">{}</a></td>",
            esc(name),
            enc(name),
            esc(name)
        );
        match opening {
            Opening::Open(db) => open_row(&mut body, &db).await,
            Opening::Failed(failure) => closed_row(&mut body, &app.targets, name, Some(&failure)),
            Opening::Pending => closed_row(&mut body, &app.targets, name, None),
        }
        body.push_str("</tr>");
    }
    body.push_str("</table>");
    page("targets", &body).into_response()
}

/// An open target's cells after its name.
async fn open_row(body: &mut String, db: &DatabaseConnection) {
    let settings = db.settings();
    let user = db
        .provenance()
        .map(|p| p.username.clone())
        .filter(|u| !u.is_empty())
        .or_else(|| settings.identity().user);
    let _ = write!(
        body,
        "<td>{}</td><td class=\"where\">{}</td><td class=\"where\">{}</td>",
        db.kind().as_str(),
        esc(&settings.location()),
        esc(user.as_deref().unwrap_or(""))
    );
    credential_cell(body, db);
    match db.lease_status().await {
        Some(lease) => {
            let left = lease
                .expires_in
                .map_or_else(|| "no expiry".to_owned(), |d| format!("{} left", human(d)));
            let _ = write!(
                body,
                "<td class=\"lease\">{} · {left} · {} · renewed {}×</td>",
                esc(&lease.source),
                if lease.renewable {
                    "renewable"
                } else {
                    "not renewable"
                },
                lease.renewals
            );
        }
        None => body.push_str("<td class=\"unknown\">none</td>"),
    }
    let pool = db.pool_stats();
    let _ = write!(
        body,
        "<td class=\"num\">{}</td><td class=\"pool\">size {} · idle {}<br>max {} · waiting {}</td>\
         <td class=\"ok\">open</td>",
        db.rotations(),
        pool.size,
        pool.idle,
        pool.max,
        pool.waiting
    );
}

/// Which source supplied the credential and where it found it, or why none did.
fn credential_cell(body: &mut String, db: &DatabaseConnection) {
    if let Some(p) = db.provenance() {
        let _ = write!(
            body,
            "<td class=\"credential\"><b class=\"source\">{}</b> <span class=\"origin\">{}</span></td>",
            esc(&p.source),
            esc(&redact(&p.origin))
        );
        return;
    }
    if !db.kind().uses_credentials() {
        body.push_str("<td class=\"unknown\">none needed</td>");
        return;
    }
    body.push_str("<td class=\"credential\">none found");
    if db.attempts().is_empty() {
        body.push_str(" <span class=\"origin\">(no source configured)</span>");
    }
    for a in db.attempts() {
        let _ = write!(
            body,
            "<br><span class=\"origin\">{}: {} ({})</span>",
            esc(&a.source),
            a.outcome,
            esc(&redact(&a.detail))
        );
    }
    body.push_str("</td>");
}

/// A target that is not open: what its settings say, and its error (or that it is opening).
fn closed_row(body: &mut String, targets: &Targets, name: &str, failure: Option<&OpenFailure>) {
    match targets.settings(name) {
        Ok(settings) => {
            let _ = write!(
                body,
                "<td>{}</td><td class=\"where\">{}</td><td class=\"where\">{}</td>",
                settings.kind().map_or("?", |k| k.as_str()),
                esc(&settings.location()),
                esc(settings.identity().user.as_deref().unwrap_or(""))
            );
        }
        Err(_) => body.push_str("<td></td><td></td><td></td>"),
    }
    // The error takes the cells an open target fills (credential to status).
    match failure {
        Some(f) => {
            let _ = write!(
                body,
                "<td colspan=\"5\" class=\"error\"><span class=\"kind\">{}</span>{}</td>",
                esc(f.kind),
                esc(&f.message)
            );
        }
        None => {
            let _ = write!(
                body,
                "<td colspan=\"5\" class=\"unknown\">still opening after {} s (reload to see \
                 it)</td>",
                OPEN_WAIT.as_secs()
            );
        }
    }
}

/// A duration as an operator reads it: `1h 02m`, `4m 05s`, `12s`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_an_operator_says_them() {
        assert_eq!(human(Duration::from_secs(12)), "12s");
        assert_eq!(human(Duration::from_secs(245)), "4m 05s");
        assert_eq!(human(Duration::from_secs(3720)), "1h 02m");
    }
}
