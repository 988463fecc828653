//! Tokens, role ids, secret ids and JWTs, from files or the environment, checked before use.
//!
//! Files are read with [`crate::fs::read_regular`]: a FIFO, a device or a directory is refused
//! at once, a file over 1 MiB is refused. One trailing line break (`\n` or `\r\n`, as `echo`
//! and editors leave) is removed; what remains must be one non-empty line of visible ASCII
//! (`!`..`~`) no longer than the kind's limit. Vault itself only issues such values, and an HTTP
//! header cannot carry anything else; a value that is not one is refused with a message that
//! says what is wrong and where, and never contains the value.

use std::path::Path;

use domain::{Env, SecretString, SourceError};

use crate::fs::{FileKind, expand_home, read_regular};

/// What a value is, for messages and its length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueKind {
    pub what: &'static str,
    pub max_len: usize,
}

impl ValueKind {
    /// Vault service tokens are ~100 characters, batch tokens a few hundred.
    pub const TOKEN: ValueKind = ValueKind {
        what: "token",
        max_len: 4096,
    };
    pub const ROLE_ID: ValueKind = ValueKind {
        what: "role id",
        max_len: 4096,
    };
    pub const SECRET_ID: ValueKind = ValueKind {
        what: "secret id",
        max_len: 4096,
    };
    /// Kubernetes service-account tokens are 1–2 KiB; OIDC tokens with many claims a few KiB.
    pub const JWT: ValueKind = ValueKind {
        what: "jwt",
        max_len: 64 * 1024,
    };
}

/// What is wrong with a value; never holds the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("is empty")]
    Empty,
    #[error("is {len} bytes long, over the {max} limit for a vault {what}")]
    TooLong {
        len: usize,
        max: usize,
        what: &'static str,
    },
    #[error("has a line break at character {at} (only one at the very end is allowed)")]
    LineBreak { at: usize },
    #[error("has a space at character {at}")]
    Space { at: usize },
    #[error("has a control character at character {at}")]
    Control { at: usize },
    #[error("has a non-ASCII character at character {at}")]
    NonAscii { at: usize },
    #[error("is not UTF-8 text")]
    NotUtf8,
}

/// Trims one trailing `\n` or `\r\n` and checks the rest (see the module documentation).
pub fn validate(raw: &str, kind: ValueKind) -> Result<SecretString, ValueError> {
    let value = raw
        .strip_suffix("\r\n")
        .or_else(|| raw.strip_suffix('\n'))
        .unwrap_or(raw);
    check(value, kind)?;
    Ok(SecretString::from(value.to_owned()))
}

/// Checks a value as it is (nothing trimmed): for a value that already is a `SecretString`,
/// such as a token from a login answer, so that it is not copied to be checked.
pub fn check(value: &str, kind: ValueKind) -> Result<(), ValueError> {
    if value.is_empty() {
        return Err(ValueError::Empty);
    }
    if value.len() > kind.max_len {
        return Err(ValueError::TooLong {
            len: value.len(),
            max: kind.max_len,
            what: kind.what,
        });
    }
    for (i, c) in value.chars().enumerate() {
        let at = i + 1;
        match c {
            '\n' | '\r' => return Err(ValueError::LineBreak { at }),
            ' ' => return Err(ValueError::Space { at }),
            c if c.is_ascii_control() => return Err(ValueError::Control { at }),
            c if !c.is_ascii() => return Err(ValueError::NonAscii { at }),
            _ => {}
        }
    }
    Ok(())
}

/// A value from the environment variable `var`; `Ok(None)` when it is unset or empty.
pub fn from_env(
    env: &dyn Env,
    var: &str,
    kind: ValueKind,
) -> Result<Option<SecretString>, SourceError> {
    match env.non_empty(var) {
        None => Ok(None),
        Some(raw) => validate(&raw, kind).map(Some).map_err(|e| {
            SourceError::Misconfigured(format!(
                "{var} {e}; a vault {} is one line of visible ASCII characters",
                kind.what
            ))
        }),
    }
}

/// A value from a file (`~/` expanded); `Ok(None)` when the file does not exist.
pub fn from_file(
    path: &Path,
    kind: ValueKind,
    env: &dyn Env,
) -> Result<Option<SecretString>, SourceError> {
    let path = expand_home(&path.display().to_string(), env);
    let file_kind = FileKind {
        what: match kind.what {
            "token" => "a vault token file",
            "role id" => "a vault role id file",
            "secret id" => "a vault secret id file",
            _ => "a vault jwt file",
        },
        limit: FileKind::SECRET.limit,
    };
    let Some(bytes) = read_regular(&path, file_kind)? else {
        return Ok(None);
    };
    let invalid = |e: ValueError| {
        SourceError::Misconfigured(format!(
            "the vault {} file {} {e}; it must hold one line of visible ASCII characters",
            kind.what,
            path.display()
        ))
    };
    let text = String::from_utf8(bytes).map_err(|_| invalid(ValueError::NotUtf8))?;
    validate(&text, kind).map(Some).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use domain::{ExposeSecret, MapEnv};

    use super::*;

    #[test]
    fn one_trailing_line_break_is_trimmed() {
        for raw in ["hvs.abc", "hvs.abc\n", "hvs.abc\r\n"] {
            let v = validate(raw, ValueKind::TOKEN).unwrap();
            assert_eq!(v.expose_secret(), "hvs.abc", "{raw:?}");
        }
    }

    #[test]
    fn everything_else_is_refused_by_what_it_is() {
        let long = "a".repeat(4097);
        for (raw, expected) in [
            ("", ValueError::Empty),
            ("\n", ValueError::Empty),
            ("\r\n", ValueError::Empty),
            ("abc\n\n", ValueError::LineBreak { at: 4 }),
            ("ab\ncd", ValueError::LineBreak { at: 3 }),
            ("abc\r", ValueError::LineBreak { at: 4 }),
            ("\nabc", ValueError::LineBreak { at: 1 }),
            (" abc", ValueError::Space { at: 1 }),
            ("abc ", ValueError::Space { at: 4 }),
            ("a\tb", ValueError::Control { at: 2 }),
            ("a\u{0}b", ValueError::Control { at: 2 }),
            ("a\u{7f}b", ValueError::Control { at: 2 }),
            ("a\u{1b}[2J", ValueError::Control { at: 2 }),
            ("\u{e9}t\u{e9}", ValueError::NonAscii { at: 1 }),
            ("ab\u{a0}", ValueError::NonAscii { at: 3 }),
            ("ab\u{2028}", ValueError::NonAscii { at: 3 }),
            (
                long.as_str(),
                ValueError::TooLong {
                    len: 4097,
                    max: 4096,
                    what: "token",
                },
            ),
        ] {
            assert_eq!(
                validate(raw, ValueKind::TOKEN).unwrap_err(),
                expected,
                "{raw:?}"
            );
        }
        assert!(validate(&"a".repeat(5000), ValueKind::JWT).is_ok());
    }

    #[test]
    fn errors_name_the_variable_and_never_the_value() {
        let env = MapEnv::new().with("VAULT_TOKEN", "hvs.canary\nsecond");
        let e = from_env(&env, "VAULT_TOKEN", ValueKind::TOKEN)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("VAULT_TOKEN has a line break at character 11"),
            "{e}"
        );
        assert!(!e.contains("canary") && !e.contains("second"), "{e}");
        assert!(
            from_env(&MapEnv::new(), "VAULT_TOKEN", ValueKind::TOKEN)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn files_are_read_safely() {
        let dir = tempfile::tempdir().unwrap();
        let env = MapEnv::new();
        let file = dir.path().join("token");
        std::fs::write(&file, "hvs.file\r\n").unwrap();
        let v = from_file(&file, ValueKind::TOKEN, &env).unwrap().unwrap();
        assert_eq!(v.expose_secret(), "hvs.file");
        assert!(
            from_file(&dir.path().join("none"), ValueKind::TOKEN, &env)
                .unwrap()
                .is_none()
        );
        std::fs::write(&file, b"hvs.\xffcanary").unwrap();
        let e = from_file(&file, ValueKind::TOKEN, &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not UTF-8") && !e.contains("canary"), "{e}");
        let e = from_file(Path::new("/dev/zero"), ValueKind::SECRET_ID, &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a character device"), "{e}");
        let e = from_file(dir.path(), ValueKind::JWT, &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a directory"), "{e}");
    }
}
