//! Recognising secrets inside text that is not supposed to hold one.
//!
//! Design decision: one detector for every place text crosses a trust line. Settings refuse a
//! value this finds a secret in (target files never hold secrets, and a host or a list item is
//! not a place for one either), and whatever dbcore prints from its environment (`explain`)
//! goes through [`redact`] first. Three shapes are recognised, because they are how secrets
//! actually end up in connection settings:
//!
//! - userinfo in a URL, with or without a password (`https://token@host`, `postgres://u:pw@h`):
//!   everything between `://` and the last `@` before the path, query, fragment or line end,
//!   spaces and punctuation included (a password may hold any printable character);
//! - userinfo without a scheme (`app:pw@db`, as in `host = "app:pw@db"`): in one
//!   whitespace-separated word, everything before its last `@` when that holds a `:`;
//! - a secret key-value pair: a key that contains `password`, `passwd`, `passphrase`, `pwd`,
//!   `secret`, `token` or `api_key` (`sslpassword=`, `MYSQL_PWD=`, `client_secret=`) but does
//!   not end in `_file`, `_key`, `_path` or `_dir`, then `=` (or `:` after a quoted key, as in
//!   JSON), then a value: quoted (`'…'`, `"…"`), braced (ODBC `{…}`) or up to a space, `;`,
//!   `&` or `,`.
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
    /// `password=…`, `sslpassword='…'`, `"token": "…"`
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

/// Words that make a key name a secret's (`password=`, `sslpassword=`, `MYSQL_PWD=`,
/// `"client_secret":`, `X-Vault-Token:`), found anywhere in the key.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
];

/// Key endings that name where a secret is kept, not the secret (`password_file=`).
const NOT_SECRET_ENDINGS: &[&str] = &["_file", "_key", "_path", "_dir"];

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

/// Where a URL's authority ends: the path, query or fragment begins, or the line ends.
/// Spaces and punctuation do not end it: a pasted password may hold any of them.
fn ends_authority(c: char) -> bool {
    matches!(c, '/' | '?' | '#' | '\\') || c.is_control()
}

/// The byte range of the userinfo (before its last `@`) of the first URL whose authority has
/// one. Userinfo that is already `***` is skipped, so that redacting twice finds nothing new.
fn url_userinfo(text: &str) -> Option<std::ops::Range<usize>> {
    let mut from = 0;
    while let Some(at) = text[from..].find("://") {
        let start = from + at + 3;
        let authority_end = text[start..]
            .find(ends_authority)
            .map_or(text.len(), |i| start + i);
        let authority = &text[start..authority_end];
        if let Some(last_at) = authority.rfind('@')
            && &authority[..last_at] != "***"
        {
            return Some(start..start + last_at);
        }
        from = start;
    }
    None
}

/// The byte range of a `user:password` before an `@` inside one whitespace-separated word
/// (after its last `://`, if any): everything up to the word's last `@`, whatever punctuation
/// the password holds (`app:pa;ss/w"rd@db`).
fn bare_userinfo(text: &str) -> Option<std::ops::Range<usize>> {
    let mut next_word = 0;
    for word in text.split(char::is_whitespace) {
        let offset = next_word;
        // `split` drops each separator, one whitespace character: step over it.
        next_word += word.len();
        next_word += text[next_word..].chars().next().map_or(0, char::len_utf8);
        let rest_start = word.rfind("://").map_or(0, |i| i + 3);
        let rest = &word[rest_start..];
        let Some(last_at) = rest.rfind('@') else {
            continue;
        };
        let userinfo = &rest[..last_at];
        if userinfo.contains(':') && userinfo != "***" {
            let begin = offset + rest_start;
            return Some(begin..begin + last_at);
        }
    }
    None
}

/// Whether a key name (`sslpassword`, `MYSQL_PWD`, `client_secret`) names a secret.
fn is_secret_key_name(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    (SECRET_WORDS.iter().any(|w| key.contains(w)) || key == "pass")
        && !NOT_SECRET_ENDINGS.iter().any(|e| key.ends_with(e))
}

/// The byte length of a value starting `value`: a quoted (`'…'`, `"…"`, backslash escapes
/// honoured) or braced (`{…}`, ODBC) value up to and with its closing mark, else up to a
/// space, `;`, `&` or `,`.
fn value_len(value: &str) -> usize {
    let mut chars = value.char_indices();
    let close = match chars.next() {
        Some((_, q @ ('\'' | '"'))) => q,
        Some((_, '{')) => '}',
        _ => {
            return value
                .find(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | ','))
                .unwrap_or(value.len());
        }
    };
    let mut escaped = false;
    for (i, c) in chars {
        if escaped {
            escaped = false;
        } else if c == '\\' && close != '}' {
            escaped = true;
        } else if c == close {
            return i + c.len_utf8();
        }
    }
    value.len()
}

/// The byte range of the value of the first secret key-value pair: `password=…`,
/// `sslpassword = '…'`, `Pwd={…}`, `"password": "…"`, `X-Vault-Token: …` (any case).
fn password_assignment(text: &str) -> Option<std::ops::Range<usize>> {
    for (sep, _) in text.match_indices(['=', ':']) {
        // A URL's `scheme://` is not a key-value pair.
        if text[sep..].starts_with("://") {
            continue;
        }
        let before = text[..sep].trim_end();
        let unquoted = before.strip_suffix(['"', '\'']);
        // `key: value` is how messages are written (`VAULT_TOKEN: is empty`); only a quoted
        // key (`"password": …`, JSON and YAML) makes a `:` a key-value pair.
        if unquoted.is_none() && text[sep..].starts_with(':') {
            continue;
        }
        let before = unquoted.unwrap_or(before);
        let key_start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .map_or(0, |(i, c)| i + c.len_utf8());
        if !is_secret_key_name(&before[key_start..]) {
            continue;
        }
        let after = &text[sep + 1..];
        let value_start = text.len() - after.trim_start().len();
        let value_end = value_start + value_len(&text[value_start..]);
        if &text[value_start..value_end] == "***" {
            continue;
        }
        return Some(value_start..value_end);
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
            ("no_password=1", Some(SecretShape::PasswordAssignment)),
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

    /// Passwords are made of any printable characters: each one a separator of the old
    /// detector (`;`, `/`, `"`, `,`, `(`, a space, `#`, `@` itself) must not end the secret
    /// early, and keys that merely end in a password word (`sslpassword`, `MYSQL_PWD`) and
    /// quoted or braced values (libpq `'…'`, ODBC `{…}`) are passwords too.
    #[test]
    fn secrets_with_punctuation_quotes_and_prefixed_keys_are_found_and_removed_whole() {
        let secret = "CanArY";
        for punct in [
            ";", "/", "\"", "'", ",", "(", ")", "<", ">", "#", "?", "@", "&", "=", "%",
        ] {
            let password = format!("Can{punct}ArY");
            for text in [
                format!("app:{password}@db"),
                format!("replica app:{password}@db.internal:5432"),
                format!("postgres://u:{password}@db/x"),
                format!("VAULT_ADDR=http://u:{password}@127.0.0.1:8200"),
            ] {
                assert!(find_secret(&text).is_some(), "{text:?}");
                let out = redact(&text);
                for part in ["Can", "ArY"] {
                    assert!(!out.contains(part), "{text:?} -> {out:?}");
                }
            }
        }
        for text in [
            format!("http://u:Can {secret}@127.0.0.1"),
            format!("db sslpassword={secret}"),
            format!("MYSQL_PWD={secret} mysql"),
            format!("PGPASSWORD={secret}"),
            format!("db_password = {secret}"),
            format!("host=db password='Can {secret}' port=5"),
            format!("host=db password=\"Can {secret}\""),
            format!("Server=x;Pwd={{Can;{secret}}};"),
            format!("{{\"password\": \"Can {secret}\"}}"),
            format!("'password': '{secret}'"),
        ] {
            assert!(find_secret(&text).is_some(), "{text:?}");
            let out = redact(&text);
            assert!(!out.contains(secret), "{text:?} -> {out:?}");
            assert!(!out.contains("Can"), "{text:?} -> {out:?}");
            assert_eq!(redact(&out), out, "idempotent: {text:?}");
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

    #[test]
    fn each_shape_is_described_in_words() {
        assert_eq!(
            [
                SecretShape::UrlUserinfo,
                SecretShape::Userinfo,
                SecretShape::PasswordAssignment
            ]
            .map(SecretShape::describe),
            [
                "a URL with user information (user:password@)",
                "user information (user:password@host)",
                "a password assignment (password=…)",
            ]
        );
    }

    /// An unquoted value ends at a space, `;`, `&` or `,`; a quoted one with its closing quote,
    /// past backslash-escaped quotes; a braced one (ODBC) with the first `}`, where a backslash
    /// escapes nothing; an unclosed one at the end of the text.
    #[test]
    fn a_value_ends_where_its_syntax_says() {
        for (value, len) in [
            ("pw;host=db", 2),
            ("pw&next=1", 2),
            ("pw,next", 2),
            ("pw\tnext", 2),
            ("pw", 2),
            ("'a b' next", 5),
            ("'a\\'b' next", 6),
            ("\"a\\\"b\" next", 6),
            ("{a\\} next", 4),
            ("{a;b}", 5),
            ("'é'x", 4),
            ("'open", 5),
        ] {
            assert_eq!(value_len(value), len, "{value:?}");
        }
        assert_eq!(redact("password='a ' keep"), "password=*** keep");
        assert_eq!(password_assignment("x password = 'a b' y"), Some(13..18));
    }
}
