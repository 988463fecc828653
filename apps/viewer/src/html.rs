//! Markup: every byte printed is escaped here, every link segment percent-encoded here, and
//! every page (error pages included) is built by [`page`].

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::style::STYLESHEET;

/// How much of a visitor's input an error message quotes: enough to recognise it, never a
/// whole hostile string.
const SHOWN_CHARS: usize = 32;

pub(crate) fn esc(text: &str) -> String {
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
pub(crate) fn enc(text: &str) -> String {
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

/// A visitor's input as an error message quotes it: at most [`SHOWN_CHARS`] characters, control
/// characters as `?`, and `…` when cut (the caller escapes the message as a whole).
pub(crate) fn shown(input: &str) -> String {
    let mut out: String = input
        .chars()
        .take(SHOWN_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if input.chars().nth(SHOWN_CHARS).is_some() {
        out.push('…');
    }
    out
}

pub(crate) fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\"><title>{t}</title>\
         <link rel=\"stylesheet\" href=\"{STYLESHEET}\"></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    ))
}

/// The longest value a cell shows whole; a longer one shows its first [`SHORT_CHARS`]
/// characters, and the whole value when opened.
pub(crate) const LONG_CHARS: usize = 80;
pub(crate) const SHORT_CHARS: usize = 60;

/// A value as a table cell shows it, escaped: whole when short, else its first
/// [`SHORT_CHARS`] characters (never part of one) in a `<details>` that holds the whole value.
pub(crate) fn long_text(value: &str) -> String {
    if value.chars().nth(LONG_CHARS).is_none() {
        return esc(value);
    }
    let short: String = value.chars().take(SHORT_CHARS).collect();
    format!(
        "<details><summary>{}…</summary><div class=\"whole\">{}</div></details>",
        esc(&short),
        esc(value)
    )
}

/// An error page: `message` is escaped; it must never hold a secret or a whole visitor input.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        page("error", &format!("<p id=\"error\">{}</p>", esc(message))),
    )
        .into_response()
}

/// A refused request: its status and a message for the error page (same rules as [`error`]).
#[derive(Debug, Clone)]
pub(crate) struct Refusal(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.0, &self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_input_is_bounded_and_has_no_control_characters() {
        assert_eq!(shown("id"), "id");
        assert_eq!(shown("a\0b\r\nc"), "a?b??c");
        let long = "é".repeat(1000);
        assert_eq!(shown(&long).chars().count(), SHOWN_CHARS + 1);
        assert!(shown(&long).ends_with('…'));
    }

    #[test]
    fn long_values_are_cut_by_characters_and_kept_whole() {
        assert_eq!(long_text("<b>"), "&lt;b&gt;");
        let exact = "é".repeat(LONG_CHARS);
        assert_eq!(long_text(&exact), exact);
        let long = format!("{}<&>", "€".repeat(LONG_CHARS));
        let shown = long_text(&long);
        let summary = format!("<summary>{}…</summary>", "€".repeat(SHORT_CHARS));
        assert!(shown.contains(&summary), "{shown}");
        assert!(shown.contains(&format!("{}&lt;&amp;&gt;</div>", "€".repeat(LONG_CHARS))));
    }

    #[test]
    fn markup_and_links_are_escaped() {
        assert_eq!(
            esc("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
        assert_eq!(enc("a b/é"), "a%20b%2F%C3%A9");
    }
}
