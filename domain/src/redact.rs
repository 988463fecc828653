//! Recognising secrets inside text that is not supposed to hold one.
//!
//! Design decision: one detector for every place text crosses a trust line. Settings refuse a
//! value this finds a secret in (target files never hold secrets, and a host or a list item is
//! not a place for one either), and whatever dbcore prints from its environment (`explain`)
//! goes through [`redact`] first. Three shapes are recognised, because they are how secrets
//! actually end up in connection settings:
//!
//! - userinfo in a URL, with or without a password (`https://token@host`, `postgres://u:pw@h`);
//! - userinfo without a scheme (`app:pw@db`, as in `host = "app:pw@db"`);
//! - a key-value password (`password=…`, `passwd=…`, `pwd=…`, libpq and ODBC style), in any
//!   case and with spaces around `=`.
//!
//! The detector errs on the side of refusing: an `@` after a `user:` shape is refused even
//! where it might be innocent, because the cost of a false refusal is one clear error and the
//! cost of a miss is a password on a screen.

/// The shape of secret found in a text, for error messages that describe it without showing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretShape {
    /// `scheme://user[:password]@host`
    UrlUserinfo,
    /// `user:password@host`
    Userinfo,
    /// `password=…`
    PasswordAssignment,
}

impl SecretShape {
    pub fn describe(self) -> &'static str {
        match self {
            SecretShape::UrlUserinfo => "a URL with user information (user:password@)",
            SecretShape::Userinfo => "user information (user:password@host)",
            SecretShape::PasswordAssignment => "a password assignment (password=…)",
        }
    }
}

/// Key words that introduce a password in `key=value` strings (libpq, ODBC, JDBC).
const PASSWORD_WORDS: &[&str] = &["password", "passwd", "pwd"];

/// The first secret shape in `text`, if any.
pub fn find_secret(text: &str) -> Option<SecretShape> {
    if url_userinfo(text).is_some() {
        return Some(SecretShape::UrlUserinfo);
    }
    if bare_userinfo(text).is_some() {
        return Some(SecretShape::Userinfo);
    }
    if password_assignment(text).is_some() {
        return Some(SecretShape::PasswordAssignment);
    }
    None
}

/// `text` with every secret shape replaced by `***`, for printing values that came from the
/// environment or any other place dbcore does not control.
pub fn redact(text: &str) -> String {
    let mut out = text.to_owned();
    // Each pass removes one occurrence; the number of passes is bounded by the text's length.
    for _ in 0..=text.len() {
        let next = url_userinfo(&out)
            .or_else(|| bare_userinfo(&out))
            .or_else(|| password_assignment(&out));
        match next {
            Some(range) => out.replace_range(range, "***"),
            None => break,
        }
    }
    out
}

/// Characters that end a token around an `@` (a URL's authority, a host list item).
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '/' | ',' | ';' | '"' | '\'' | '<' | '>' | '(' | ')')
}

/// The byte range of the userinfo (before its `@`) of the first URL whose authority has one.
/// Userinfo that is already `***` is skipped, so that redacting twice finds nothing new.
fn url_userinfo(text: &str) -> Option<std::ops::Range<usize>> {
    let mut from = 0;
    while let Some(at) = text[from..].find("://") {
        let start = from + at + 3;
        let authority_end = text[start..]
            .find(|c: char| is_separator(c) || matches!(c, '?' | '#'))
            .map_or(text.len(), |i| start + i);
        let authority = &text[start..authority_end];
        if let Some(last_at) = authority.rfind('@')
            && !authority.starts_with("***@")
        {
            return Some(start..start + last_at);
        }
        from = start;
    }
    None
}

/// The byte range of a schemeless `user:password` before an `@` (the part before `@` holds a
/// `:`).
fn bare_userinfo(text: &str) -> Option<std::ops::Range<usize>> {
    for (at, _) in text.match_indices('@') {
        let token_start = text[..at].rfind(|c: char| is_separator(c)).map_or(0, |i| {
            i + text[i..].chars().next().map_or(1, char::len_utf8)
        });
        let token = &text[token_start..at];
        if token.contains(':') && token != "***" && !token.ends_with(":***") {
            return Some(token_start..at);
        }
    }
    None
}

/// The byte range of the value of the first `password=` (any case, spaces allowed).
fn password_assignment(text: &str) -> Option<std::ops::Range<usize>> {
    let lower = text.to_ascii_lowercase();
    for word in PASSWORD_WORDS {
        for (start, _) in lower.match_indices(word) {
            // A whole word: not the tail of `no_password` or `mypwd`.
            if lower[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                continue;
            }
            let rest = &text[start + word.len()..];
            let trimmed = rest.trim_start();
            let Some(value) = trimmed.strip_prefix('=') else {
                continue;
            };
            let value_start = text.len() - value.trim_start().len();
            let value_end = text[value_start..]
                .find(|c: char| c.is_whitespace() || c == ';' || c == '&')
                .map_or(text.len(), |i| value_start + i);
            if &text[value_start..value_end] == "***" {
                continue;
            }
            return Some(value_start..value_end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shape_is_found_wherever_it_sits() {
        let cases: &[(&str, Option<SecretShape>)] = &[
            ("db.internal", None),
            ("/var/run/postgresql", None),
            ("http://127.0.0.1:8200", None),
            ("app:pw@db", Some(SecretShape::Userinfo)),
            ("replica, app:pw@db", Some(SecretShape::Userinfo)),
            ("postgres://u:pw@h/db", Some(SecretShape::UrlUserinfo)),
            ("https://token@vault", Some(SecretShape::UrlUserinfo)),
            ("see http://u:p@h/x?y", Some(SecretShape::UrlUserinfo)),
            (
                "host=db password=hunter2",
                Some(SecretShape::PasswordAssignment),
            ),
            ("PASSWORD = x", Some(SecretShape::PasswordAssignment)),
            ("Pwd=x;Server=y", Some(SecretShape::PasswordAssignment)),
            ("no_password=1", None),
            ("password_file", None),
            ("user@example.com", None),
            ("€:€@€", Some(SecretShape::Userinfo)),
        ];
        for (text, expected) in cases {
            assert_eq!(find_secret(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn redaction_removes_the_secret_and_keeps_the_rest() {
        assert_eq!(
            redact("VAULT_ADDR=http://u:pw@vault:8200/v1"),
            "VAULT_ADDR=http://***@vault:8200/v1"
        );
        assert_eq!(redact("app:pw@db"), "***@db");
        assert_eq!(
            redact("host=db password=hunter2 port=1"),
            "host=db password=*** port=1"
        );
        assert_eq!(
            redact("a http://x:y@h and http://p:q@i"),
            "a http://***@h and http://***@i"
        );
        assert_eq!(redact("plain"), "plain");
        for text in ["http://u:pw@h", "app:pw@db", "password=pw"] {
            let once = redact(text);
            assert!(!once.contains("pw"), "{once}");
            assert_eq!(redact(&once), once, "redaction is idempotent");
            assert_eq!(find_secret(&once), None, "{once}");
        }
    }

    proptest::proptest! {
        #[test]
        fn redaction_never_panics_and_leaves_no_shape(text in "\\PC{0,80}") {
            let out = redact(&text);
            proptest::prop_assert_eq!(find_secret(&out), None, "{:?} -> {:?}", text, out);
        }

        #[test]
        fn redaction_converges_on_text_made_of_shape_fragments(
            text in "(password|PWD|://|:|@|=| |,|a|€|\\*|/){0,40}",
        ) {
            let out = redact(&text);
            proptest::prop_assert_eq!(find_secret(&out), None, "{:?} -> {:?}", text, out);
        }

        #[test]
        fn shapes_built_from_any_parts_are_found(
            user in "[a-zA-Z0-9€]{1,8}",
            secret in "[a-zA-Z0-9€!#$%]{1,12}",
            host in "[a-z0-9.€]{1,12}",
        ) {
            let url = format!("postgres://{user}:{secret}@{host}/db");
            let bare = format!("{user}:{secret}@{host}");
            let assignment = format!("host={host} password={secret}");
            for text in [url, bare, assignment] {
                proptest::prop_assert!(find_secret(&text).is_some(), "{}", text);
                let needle = format!(":{secret}@");
                proptest::prop_assert!(!redact(&text).contains(&needle));
            }
        }
    }
}
