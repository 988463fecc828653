//! The one stylesheet, served by the viewer itself at [`STYLESHEET`].
//!
//! Design decision: the stylesheet holds no data, so it is served without a session (the
//! login page uses it too) but behind the `Host` check like every answer. Pages link it and
//! carry no inline style, so the Content-Security-Policy can say `style-src 'self'` and no
//! script of any origin runs. It is compiled in (no file to find, nothing fetched from
//! elsewhere) and cached for an hour, revalidated by its `ETag`. Light and dark follow the
//! browser's `prefers-color-scheme`; nothing needs JavaScript (long values open with
//! `<details>`).

use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Where pages link the stylesheet.
pub(crate) const STYLESHEET: &str = "/style.css";

const CSS: &str = r#":root{color-scheme:light dark;--fg:#1b1f24;--bg:#fdfdfc;--muted:#5f6670;
--line:#d0d4da;--head:#eef1f4;--stripe:#f6f7f9;--link:#0b57d0;--bad:#a4161a;--badbg:#fdecec;
--ok:#1a7f37;--code:#f0f2f5}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--bg:#16181c;--muted:#9aa3ad;
--line:#3a3f47;--head:#22262c;--stripe:#1c1f24;--link:#8ab4f8;--bad:#ffb4ab;--badbg:#3b1d1d;
--ok:#7ee2a0;--code:#23272e}}
html{background:var(--bg);color:var(--fg)}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em 2em}
h1{font-size:1.4em;margin:0 0 .6em}h2{font-size:1.1em;margin:1.2em 0 .4em}
a{color:var(--link)}a:visited{color:var(--link)}
table{border-collapse:collapse;margin:.4em 0}
td,th{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:var(--head);font-weight:600}
tr:nth-child(even) td{background:var(--stripe)}
th .type{display:block;font-weight:normal;font-size:.8em;color:var(--muted)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.null{color:var(--muted);font-style:italic;font-size:.85em;letter-spacing:.05em}
td.unknown{color:var(--muted)}
details summary{cursor:pointer}details[open] summary{color:var(--muted)}
.whole{white-space:pre-wrap;word-break:break-word;max-width:60em}
.pager{margin:.5em 0}.pager a{margin-right:1em}
.kind{display:inline-block;font:.8em ui-monospace,monospace;padding:0 .4em;border-radius:3px;
background:var(--badbg);color:var(--bad);margin-right:.4em}
td.error{color:var(--bad);overflow-wrap:anywhere}td.ok{color:var(--ok)}
td.where{overflow-wrap:anywhere;min-width:11em;max-width:24em}td.pool{white-space:nowrap}
.muted,.origin{color:var(--muted);font-size:.9em}
#error{color:var(--bad)}
input,select,button{font:inherit;color:inherit;background:var(--bg);border:1px solid var(--line);
border-radius:3px;padding:1px 4px}
"#;

/// FNV-1a of the stylesheet: its `ETag`, changed by any edit.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const HASH: u64 = fnv1a(CSS.as_bytes());

/// `GET /style.css`: the stylesheet, or 304 when the browser holds this version.
pub(crate) async fn css(headers: HeaderMap) -> Response {
    let etag = format!("\"{HASH:016x}\"");
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag);
    let Ok(etag) = HeaderValue::from_str(&etag) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let cache = (
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    if fresh {
        return (StatusCode::NOT_MODIFIED, [cache, (header::ETAG, etag)]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            cache,
            (header::ETAG, etag),
        ],
        CSS,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_has_both_schemes_and_the_classes_pages_use() {
        assert!(CSS.contains("prefers-color-scheme:dark"));
        for class in ["td.num", "td.null", ".kind", ".pager", ".type", ".whole"] {
            assert!(CSS.contains(class), "{class}");
        }
        assert!(!CSS.contains("url("), "the stylesheet fetches nothing");
    }
}
