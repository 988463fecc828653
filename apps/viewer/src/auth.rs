//! Who may use the viewer: the `Host` check, the token exchanged for a session cookie, and the
//! headers every answer carries.
//!
//! Design decision: the token is shown once, at `/login`, and a session cookie carries the
//! session from then on, so the token is never in a link, a page, a `Referer` or the history
//! of pages after the login. The cookie value is a random session secret made at start, not
//! the token; it is `HttpOnly` (no script reads it) and `SameSite=Strict` (no other site's page
//! makes the browser send it). It is not `Secure`: the viewer speaks plain HTTP, and browsers
//! do not store a `Secure` cookie set over plain HTTP on every loopback name; put a TLS proxy
//! in front to serve it beyond the machine.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Result, bail};
use axum::extract::{Form, Query, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq as _;

use crate::App;
use crate::html::{error, esc, page};
use crate::token::{Token, random_hex};

const COOKIE: &str = "dbcore_viewer_session";
/// The longest `next` carried through the login form; longer ones go to `/`.
const MAX_NEXT: usize = 2048;

/// The rules every request passes.
pub(crate) struct Guard {
    /// Exact `Host` values served, lowercase.
    hosts: Vec<String>,
    /// How the viewer names itself in messages.
    origin: String,
    token: Token,
    /// The session cookie's value: 64 random hex characters, made at start.
    session: String,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// The `Host` values served: the bound address; on loopback also `localhost`,
    /// `127.0.0.1` and `[::1]` with the bound port; and every `--allow-host`. Listening on
    /// an unspecified address (`0.0.0.0`, `::`) needs at least one `--allow-host`, since no
    /// request can name that address.
    pub(crate) fn new(bound: SocketAddr, allow: &[String], token: Token) -> Result<Guard> {
        let port = bound.port();
        let with_port = |name: &str| {
            if port == 80 {
                vec![format!("{name}:80"), name.to_owned()]
            } else {
                vec![format!("{name}:{port}")]
            }
        };
        let mut hosts = Vec::new();
        let bound_name = match bound {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        if !bound.ip().is_unspecified() {
            hosts.extend(with_port(&bound_name));
        }
        if bound.ip().is_loopback() {
            for name in ["localhost", "127.0.0.1", "[::1]"] {
                hosts.extend(with_port(name));
            }
        }
        for extra in allow {
            let (extra, has_port) = allowed_host(extra)?;
            if has_port {
                hosts.push(extra);
            } else {
                hosts.extend(with_port(&extra));
            }
        }
        // How messages name the viewer: its address, or the first name given for it.
        let origin = if bound.ip().is_unspecified() {
            match hosts.first() {
                Some(h) => format!("http://{h}"),
                None => bail!(
                    "listening on {bound} accepts any address, so the viewer cannot tell which \
                     one browsers use: name it with --allow-host (for example --allow-host \
                     myhost.lan:{port})"
                ),
            }
        } else {
            format!("http://{bound_name}:{port}")
        };
        hosts.sort();
        hosts.dedup();
        Ok(Guard {
            hosts,
            origin,
            token,
            session: random_hex(32)?,
        })
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn token(&self) -> &Token {
        &self.token
    }

    /// One `Host` header naming this viewer, and no other authority in the request line.
    fn host_ok(&self, headers: &HeaderMap, uri: &Uri) -> bool {
        let mut all = headers.get_all(header::HOST).iter();
        let (Some(host), None) = (all.next(), all.next()) else {
            return false;
        };
        let Ok(host) = host.to_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        if let Some(authority) = uri.authority()
            && !authority.as_str().eq_ignore_ascii_case(&host)
        {
            return false;
        }
        self.hosts.contains(&host)
    }

    /// The session cookie, or `Authorization: Bearer <token>` (for scripts).
    fn session_ok(&self, headers: &HeaderMap) -> bool {
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| {
                name == COOKIE && bool::from(value.as_bytes().ct_eq(self.session.as_bytes()))
            });
        let bearer = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix("Bearer "))
            .any(|t| self.token.matches(t));
        cookie || bearer
    }
}

/// One `--allow-host`, lowercase, and whether it names its port (else the bound one is added).
fn allowed_host(extra: &str) -> Result<(String, bool)> {
    let extra = extra.to_ascii_lowercase();
    if extra.is_empty()
        || !extra.bytes().all(|b| b.is_ascii_graphic())
        || extra.contains(['/', '@', '\\'])
    {
        bail!("--allow-host takes a host name or address, with an optional :port");
    }
    let has_port = extra
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && !h.ends_with(':') && p.parse::<u16>().is_ok());
    Ok((extra, has_port))
}

/// Refuses a request whose `Host` is not the viewer's (DNS rebinding) before anything else.
pub(crate) async fn check_host(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    if app.guard.host_ok(request.headers(), request.uri()) {
        return next.run(request).await;
    }
    error(
        StatusCode::MISDIRECTED_REQUEST,
        &format!(
            "this viewer answers only to requests for {} (the Host header names another address)",
            app.guard.origin
        ),
    )
}

/// Lets a request with a session through; any other gets the login page.
pub(crate) async fn require_session(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    if app.guard.session_ok(request.headers()) {
        return next.run(request).await;
    }
    // The page the visitor asked for is not carried into the login form: nothing a visitor
    // sends is reflected into a page before the login (a token put in a URL included).
    login_page(StatusCode::UNAUTHORIZED, "log in to use this viewer")
}

/// Headers on every answer: nothing cached (but the stylesheet, which says how long it may be
/// kept), no `Referer` sent, no framing, no sniffing, no script, styles only from the viewer.
pub(crate) async fn protective_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    for (name, value) in [
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn login_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        page(
            "log in",
            &format!(
                "<p id=\"error\">{}</p><p>Open the login address the viewer printed when it \
                 started, or enter its token:</p><form method=\"post\" action=\"/login\">\
                 <input type=\"password\" name=\"token\" autocomplete=\"off\"> \
                 <button>log in</button></form>",
                esc(message),
            ),
        ),
    )
        .into_response()
}

/// Where to go after the login: a path on this viewer, else `/`.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.len() <= MAX_NEXT
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n
        }
        _ => "/",
    }
}

fn login(app: &App, fields: &HashMap<String, String>) -> Response {
    let Some(token) = fields.get("token") else {
        return login_page(StatusCode::OK, "log in to use this viewer");
    };
    if !app.guard.token.matches(token) {
        return login_page(StatusCode::UNAUTHORIZED, "the token is wrong");
    }
    // The visitor has proven the token: a `next` holding it (in any part) is not followed, so
    // the token never reaches a `Location` or a later page's address.
    let next = safe_next(fields.get("next").map(String::as_str));
    let next = if next.contains(token.as_str()) {
        "/"
    } else {
        next
    };
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        app.guard.session
    );
    let (Ok(cookie), Ok(location)) = (HeaderValue::from_str(&cookie), HeaderValue::from_str(next))
    else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot build the session cookie",
        );
    };
    (
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, cookie), (header::LOCATION, location)],
    )
        .into_response()
}

/// `GET /login?token=…&next=/path`: the address the viewer prints at start.
pub(crate) async fn login_get(
    State(app): State<Arc<App>>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match query {
        Ok(Query(fields)) => login(&app, &fields),
        Err(_) => error(StatusCode::BAD_REQUEST, "the query string cannot be read"),
    }
}

/// `POST /login` from the login form.
pub(crate) async fn login_post(
    State(app): State<Arc<App>>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    match form {
        Ok(Form(fields)) => login(&app, &fields),
        Err(_) => error(StatusCode::BAD_REQUEST, "the login form cannot be read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(bound: &str, allow: &[&str]) -> Result<Guard> {
        let allow: Vec<String> = allow.iter().map(|s| (*s).to_owned()).collect();
        Guard::new(
            bound.parse().unwrap(),
            &allow,
            Token::parse("0123456789abcdef", "test").unwrap(),
        )
    }

    fn ok(g: &Guard, host: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        g.host_ok(&headers, &Uri::from_static("/"))
    }

    #[test]
    fn hosts_are_the_bound_address_or_loopback_names_with_its_port() {
        let g = guard("127.0.0.1:8080", &[]).unwrap();
        for good in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(ok(&g, good), "{good}");
        }
        for bad in [
            "localhost",
            "127.0.0.1:8081",
            "evil:8080",
            "localhost.:8080",
            "127.0.0.1:08080",
            "",
        ] {
            assert!(!ok(&g, bad), "{bad}");
        }
        let g = guard("[::1]:80", &[]).unwrap();
        assert!(ok(&g, "[::1]") && ok(&g, "localhost:80") && ok(&g, "localhost"));
        let g = guard("192.0.2.7:8080", &[]).unwrap();
        assert!(ok(&g, "192.0.2.7:8080") && !ok(&g, "localhost:8080"));
        assert!(guard("0.0.0.0:8080", &[]).is_err());
        let g = guard("0.0.0.0:8080", &["Viewer.lan"]).unwrap();
        assert!(ok(&g, "viewer.lan:8080") && !ok(&g, "0.0.0.0:8080"));
        assert!(guard("0.0.0.0:8080", &["a/b"]).is_err());
    }

    #[test]
    fn next_stays_on_the_viewer() {
        assert_eq!(safe_next(Some("/t/x?page=2")), "/t/x?page=2");
        for bad in ["//evil", "https://evil", "/\\evil", "evil", "/a b", "/\r\n"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
    }
}
