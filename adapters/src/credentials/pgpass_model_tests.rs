//! The pgpass reader against a small reference model written from libpq's documentation, on
//! generated files; and the reader and the my.cnf parser on arbitrary bytes.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;

/// libpq's pgpass rules as the documentation states them, written plainly: lines split at
/// `\n`, trailing CR/LF stripped, `#` in column 0 a comment, `\` escapes the next character,
/// `*` alone a wildcard in the first four fields, the password ends at an unescaped `:`.
fn model(contents: &[u8], key: &PgpassKey) -> Option<(usize, Vec<u8>)> {
    for (index, raw) in contents.split(|&b| b == b'\n').enumerate() {
        let mut line = raw;
        while let [rest @ .., b'\r' | b'\n'] = line {
            line = rest;
        }
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let mut rest = line;
        let mut matched = true;
        for token in [&key.host, &key.port, &key.database, &key.user] {
            let Some((raw_field, value, after)) = key_field(rest) else {
                matched = false;
                break;
            };
            if raw_field != b"*" && value != token.as_bytes() {
                matched = false;
                break;
            }
            rest = after;
        }
        if matched {
            return Some((index + 1, password(rest)));
        }
    }
    None
}

/// One key field: (its raw bytes, its unescaped value, what follows its `:`); `None` when the
/// line ends before an unescaped `:`.
fn key_field(text: &[u8]) -> Option<(&[u8], Vec<u8>, &[u8])> {
    let mut value = Vec::new();
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\\' => {
                value.push(*text.get(i + 1)?);
                i += 2;
            }
            b':' => return Some((&text[..i], value, &text[i + 1..])),
            c => {
                value.push(c);
                i += 1;
            }
        }
    }
    None
}

fn password(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() && text[i] != b':' {
        if text[i] == b'\\' && i + 1 < text.len() {
            i += 1;
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

/// Field text from an alphabet full of the characters pgpass treats specially.
fn field() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[ab*:\\\\#\r é]{0,4}").unwrap()
}

/// A key field as a file would write it for `value`: escaped, or a wildcard.
fn written(value: &str, wildcard: bool) -> String {
    if wildcard {
        return "*".into();
    }
    value
        .chars()
        .flat_map(|c| match c {
            ':' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        // Noise: anything, including comments, escapes and CRs.
        proptest::string::string_regex("[ab*:\\\\#\r é]{0,16}").unwrap(),
        // Five fields built from the same alphabet, joined by colons.
        proptest::collection::vec(field(), 5).prop_map(|f| f.join(":")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn choices_agree_with_the_reference_model(
        host in "[ab:\\\\*]{1,3}",
        port in "[0-9]{1,2}",
        database in "[ab:\\\\]{1,3}",
        user in "[ab:é]{1,3}",
        noise in proptest::collection::vec(line(), 0..6),
        matching in proptest::collection::vec((proptest::bool::ANY, proptest::bool::ANY, proptest::bool::ANY, proptest::bool::ANY, "[a-z:\\\\]{0,4}"), 0..3),
        positions in proptest::collection::vec(0usize..8, 0..3),
        crlf in proptest::bool::ANY,
        trailing_newline in proptest::bool::ANY,
    ) {
        let key = PgpassKey { host, port, database, user };
        let mut lines = noise;
        for ((wh, wp, wd, wu, pw), at) in matching.into_iter().zip(positions) {
            let line = format!(
                "{}:{}:{}:{}:{pw}",
                written(&key.host, wh),
                written(&key.port, wp),
                written(&key.database, wd),
                written(&key.user, wu)
            );
            let at = at.min(lines.len());
            lines.insert(at, line);
        }
        let newline = if crlf { "\r\n" } else { "\n" };
        let mut contents = lines.join(newline);
        if trailing_newline {
            contents.push_str(newline);
        }
        let ours = find_password(contents.as_bytes(), &key).map(|m| (m.line, m.password));
        prop_assert_eq!(ours, model(contents.as_bytes(), &key), "file {:?}", contents);
    }

    #[test]
    fn any_bytes_are_read_without_a_panic(
        contents in proptest::collection::vec(proptest::num::u8::ANY, 0..2048),
        key in ("\\PC{0,4}", "\\PC{0,4}", "\\PC{0,4}", "\\PC{0,4}"),
    ) {
        let key = PgpassKey { host: key.0, port: key.1, database: key.2, user: key.3 };
        let _ = find_password(&contents, &key);
        // A file read through a reader that hands out one byte at a time agrees with one read
        // whole: the streaming fgets keeps libpq's buffer arithmetic.
        let one_at_a_time = std::io::BufReader::with_capacity(1, contents.as_slice());
        let streamed = find_password_in(one_at_a_time, &key).unwrap();
        prop_assert_eq!(
            streamed.map(|m| (m.line, m.password)),
            find_password(&contents, &key).map(|m| (m.line, m.password))
        );
    }

    #[test]
    fn option_files_of_any_text_parse_or_fail_without_a_panic(
        contents in "(\\PC|\\[|\\]|=|!|#|;|\"|'|\\\\|\n| ){0,400}",
    ) {
        let _ = crate::credentials::mycnf::parse(&contents, &["client", "t"]);
    }
}
