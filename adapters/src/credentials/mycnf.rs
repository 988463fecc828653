//! `mycnf`: a MySQL option file (`~/.my.cnf`), read with the MySQL client's own syntax.
//!
//! Contract:
//! - File: `<PREFIX>_MYCNF`, else `~/.my.cnf`. A missing file is "not here".
//! - Groups `[client]` first, then the target's own group (`[<target name>]`); group names match
//!   case-insensitively and a later value overrides an earlier one, as in MySQL.
//! - The password is `password` or `passwd` (`-` and `_` are the same in option names).
//!   An empty password is "not here".
//! - When the groups set `host` or `user`, they must agree with the target (`localhost` and
//!   `127.0.0.1` are the same host); otherwise the file is "not here" for this target. A `user`
//!   the target does not set becomes the credential's user.
//! - Value syntax as in MySQL's `my_default.cc`: whitespace around keys and values trimmed; a
//!   value wrapped in matching `'` or `"` loses them; `\n \t \r \b \s \" \' \\` escapes (any
//!   other `\x` is kept as is); lines starting with `#` or `;` are comments; a `#` outside
//!   quotes ends the line. `!include` and `!includedir` are not followed (noted in the reason).
//! - A world-writable file, or one that is not a regular file, is ignored with a warning, as
//!   MySQL does. An option before any group, a `[` without `]`, or an unreadable file is a hard
//!   error naming the file and line (MySQL refuses such a file too).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use domain::{
    Credential, CredentialSource, Env, Lookup, SecretString, SourceError, TargetIdentity,
};

use crate::fs::{FileKind, Stat, expand_home, mode_of, read_regular, stat};

/// One option value and the line it came from. Its `Debug` leaves the value out: it may be
/// the password.
#[derive(Clone, PartialEq, Eq)]
pub struct OptionValue {
    pub value: String,
    pub line: usize,
    pub group: String,
}

impl std::fmt::Debug for OptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OptionValue")
            .field("line", &self.line)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// The options of the wanted groups, later values overriding earlier ones.
#[derive(Debug, Default)]
pub struct OptionFile {
    pub options: HashMap<String, OptionValue>,
    /// `!include` / `!includedir` lines that were seen and not followed.
    pub skipped_includes: Vec<usize>,
}

/// A parse error: 1-based line and message.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Parses `contents` and keeps the options of `groups` (compared case-insensitively).
pub fn parse(contents: &str, groups: &[&str]) -> Result<OptionFile, ParseError> {
    let mut file = OptionFile::default();
    let mut current: Option<String> = None;
    for (index, raw) in contents.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('!') {
            file.skipped_includes.push(line_no);
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(end) = rest.find(']') else {
                return Err(ParseError {
                    line: line_no,
                    message: "wrong group definition: `[` without `]`".into(),
                });
            };
            current = Some(rest[..end].trim_end().to_owned());
            continue;
        }
        let Some(group) = current.as_deref() else {
            return Err(ParseError {
                line: line_no,
                message: "option without a preceding group".into(),
            });
        };
        if !groups.iter().any(|g| g.eq_ignore_ascii_case(group)) {
            continue;
        }
        let line = remove_end_comment(line);
        let Some((key, value)) = line.split_once('=') else {
            continue; // an option without a value (`skip-ssl`): nothing we use
        };
        let key = key.trim_end().replace('_', "-").to_ascii_lowercase();
        file.options.insert(
            key,
            OptionValue {
                value: unquote_and_unescape(value.trim()),
                line: line_no,
                group: group.to_owned(),
            },
        );
    }
    Ok(file)
}

/// MySQL's `remove_end_comment`: a `#` outside quotes ends the line.
fn remove_end_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escape = false;
    for (i, c) in line.char_indices() {
        if (c == '\'' || c == '"') && !escape {
            match quote {
                None => quote = Some(c),
                Some(q) if q == c => quote = None,
                Some(_) => {}
            }
        }
        if quote.is_none() && c == '#' {
            return &line[..i];
        }
        escape = quote.is_some() && c == '\\' && !escape;
    }
    line
}

fn unquote_and_unescape(value: &str) -> String {
    let bytes = value.as_bytes();
    let inner = if bytes.len() > 1
        && (bytes[0] == b'"' || bytes[0] == b'\'')
        && bytes[0] == bytes[bytes.len() - 1]
    {
        &value[1..value.len() - 1]
    } else {
        value
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => out.push('\\'), // a trailing backslash is kept
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('s') => out.push(' '),
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

fn same_host(a: &str, b: &str) -> bool {
    let canonical = |h: &str| {
        if h.eq_ignore_ascii_case("localhost") {
            "127.0.0.1".to_owned()
        } else {
            h.to_ascii_lowercase()
        }
    };
    canonical(a) == canonical(b)
}

/// The my.cnf source. See the module documentation for its contract.
pub struct MyCnfSource {
    prefix: String,
    env: Arc<dyn Env>,
}

impl std::fmt::Debug for MyCnfSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MyCnfSource")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl MyCnfSource {
    pub fn new(prefix: impl Into<String>, env: Arc<dyn Env>) -> Self {
        Self {
            prefix: prefix.into(),
            env,
        }
    }

    fn file(&self) -> Option<PathBuf> {
        option_file_path(&self.prefix, self.env.as_ref())
    }
}

/// The option file a target with `prefix` reads: `<PREFIX>_MYCNF`, else `~/.my.cnf`.
pub fn option_file_path(prefix: &str, env: &dyn Env) -> Option<PathBuf> {
    let own = format!("{prefix}_MYCNF");
    match env.non_empty(&own) {
        Some(path) => Some(expand_home(&path, env)),
        None => env.home_dir().map(|home| home.join(".my.cnf")),
    }
}

/// The options of `groups` in the option file at `path`, read with the source's rules (a
/// missing, world-writable or irregular file is `None`); for settings the MySQL client also
/// takes from it (`ssl-ca`, `ssl-cert`, `ssl-key`, `ssl-mode`).
pub fn read_options(path: &std::path::Path, groups: &[&str]) -> Result<Option<OptionFile>, String> {
    let shown = path.display().to_string();
    let bytes = match read_option_file(path, &shown).map_err(|e| e.to_string())? {
        Opened::Bytes(bytes) => bytes,
        Opened::Ignored(_) => return Ok(None),
    };
    let contents = String::from_utf8_lossy(&bytes);
    parse(&contents, groups)
        .map(Some)
        .map_err(|e| format!("{shown} line {}: {}", e.line, e.message))
}

#[async_trait]
impl CredentialSource for MyCnfSource {
    fn name(&self) -> &str {
        "mycnf"
    }

    /// A `host` option in the file is checked against the target's host.
    fn varies_by_host(&self) -> bool {
        true
    }

    fn watched_files(&self, _target: &TargetIdentity) -> Vec<PathBuf> {
        self.file().into_iter().collect()
    }

    async fn lookup(&self, target: &TargetIdentity) -> Result<Lookup, SourceError> {
        let Some(path) = self.file() else {
            return Ok(Lookup::not_found("no option file: HOME is not set"));
        };
        let shown = path.display().to_string();
        let bytes = match read_option_file(&path, &shown)? {
            Opened::Bytes(bytes) => bytes,
            Opened::Ignored(lookup) => return Ok(lookup),
        };
        let contents = String::from_utf8_lossy(&bytes);
        let groups = ["client", target.name.as_str()];
        let parsed = parse(&contents, &groups).map_err(|e| SourceError::Malformed {
            path: path.clone(),
            message: format!("line {}: {}", e.line, e.message),
        })?;
        Ok(answer(&parsed, target, &shown))
    }
}

/// An option file read, or the answer for a file that is not read.
enum Opened {
    Bytes(Vec<u8>),
    Ignored(Lookup),
}

/// The option file's bytes; a file that is missing, not a regular file or world-writable is
/// not read (MySQL ignores the last two as well).
fn read_option_file(path: &std::path::Path, shown: &str) -> Result<Opened, SourceError> {
    let metadata = match stat(path)? {
        Stat::Missing => {
            return Ok(Opened::Ignored(Lookup::not_found(format!(
                "{shown} does not exist"
            ))));
        }
        Stat::File(metadata) => metadata,
    };
    if !metadata.is_file() {
        tracing::warn!(path = %shown, "option file is not a regular file; ignored");
        return Ok(Opened::Ignored(Lookup::not_found(format!(
            "{shown} is not a regular file; ignored"
        ))));
    }
    let mode = mode_of(&metadata);
    if cfg!(unix) && mode & 0o002 != 0 {
        tracing::warn!(path = %shown, mode = format_args!("{mode:04o}"), "world-writable option file is ignored");
        return Ok(Opened::Ignored(Lookup::not_found(format!(
            "{shown} is world-writable (mode {mode:04o}); ignored, as MySQL does"
        ))));
    }
    // Checked again on the opened descriptor: the path may have changed since the stat.
    Ok(match read_regular(path, FileKind::OPTION_FILE)? {
        Some(bytes) => Opened::Bytes(bytes),
        None => Opened::Ignored(Lookup::not_found(format!("{shown} does not exist"))),
    })
}

/// The credential the parsed file gives the target: none when its host or user is another
/// one, or when it has no password (or an empty one).
fn answer(parsed: &OptionFile, target: &TargetIdentity, shown: &str) -> Lookup {
    let includes_note = if parsed.skipped_includes.is_empty() {
        String::new()
    } else {
        "; !include lines are not followed".to_owned()
    };
    let at = |v: &OptionValue| format!("{shown} line {} [{}]", v.line, v.group);

    if let (Some(file_host), Some(target_host)) = (parsed.options.get("host"), &target.host)
        && !same_host(&file_host.value, target_host)
    {
        return Lookup::not_found(format!(
            "host {} at {} is not the target's host {target_host}{includes_note}",
            file_host.value,
            at(file_host)
        ));
    }
    let file_user = parsed.options.get("user");
    if let (Some(file_user), Some(target_user)) = (file_user, &target.user)
        && file_user.value != *target_user
    {
        return Lookup::not_found(format!(
            "user {} at {} is not the target's user {target_user}{includes_note}",
            file_user.value,
            at(file_user)
        ));
    }
    let password = [parsed.options.get("password"), parsed.options.get("passwd")]
        .into_iter()
        .flatten()
        .max_by_key(|v| v.line);
    match password {
        None => Lookup::not_found(format!(
            "no password in [client] or [{}] of {shown}{includes_note}",
            target.name
        )),
        Some(p) if p.value.is_empty() => {
            Lookup::not_found(format!("the password at {} is empty", at(p)))
        }
        Some(p) => Lookup::Found(Credential::new(
            match (&target.user, file_user) {
                (None, Some(u)) => Some(u.value.clone()),
                _ => None,
            },
            SecretString::from(p.value.clone()),
            "mycnf",
            at(p),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{DbKind, ExposeSecret, MapEnv};

    #[test]
    fn debug_leaves_values_out() {
        let parsed = parse("[client]\npassword = canary-pw\n", &["client"]).expect("parses");
        let shown = format!("{parsed:?}");
        assert!(!shown.contains("canary"), "{shown}");
        assert!(shown.contains("line: 2"), "{shown}");
    }

    fn value(contents: &str, key: &str) -> Option<String> {
        parse(contents, &["client", "laptop"])
            .expect("parses")
            .options
            .get(key)
            .map(|v| v.value.clone())
    }

    #[test]
    fn value_syntax_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("[client]\npassword=pw\n", Some("pw")),
            ("[client]\n  password  =   pw  \n", Some("pw")),
            ("[client]\npassword=\"p w\"\n", Some("p w")),
            ("[client]\npassword='p#w'\n", Some("p#w")),
            ("[client]\npassword=p#w\n", Some("p")),
            ("[client]\npassword=p;w\n", Some("p;w")),
            (
                "[client]\npassword=a\\nb\\tc\\\\d\\se\n",
                Some("a\nb\tc\\d e"),
            ),
            ("[client]\npassword=a\\qb\n", Some("a\\qb")),
            ("[client]\npassword=\"a\n", Some("\"a")),
            ("[client]\npassword='a\"\n", Some("'a\"")),
            ("[client]\n# password=c\n; password=d\n", None),
            ("[CLIENT]\npassword=upper\n", Some("upper")),
            ("[client]\npassword=a\n[laptop]\npassword=b\n", Some("b")),
            ("[laptop]\npassword=b\n[client]\npassword=a\n", Some("a")),
            ("[mysqld]\npassword=server\n", None),
            ("[client]\npassword = \n", Some("")),
            ("[client]\n!include /etc/other.cnf\npassword=x\n", Some("x")),
        ];
        for (contents, expected) in cases {
            assert_eq!(
                value(contents, "password").as_deref(),
                *expected,
                "contents: {contents:?}"
            );
        }
        assert_eq!(
            value("[client]\npass_word=x\n", "pass-word").as_deref(),
            Some("x")
        );
    }

    #[test]
    fn malformed_files_name_the_line() {
        assert_eq!(
            parse("password=x\n", &["client"]).unwrap_err(),
            ParseError {
                line: 1,
                message: "option without a preceding group".into()
            }
        );
        assert_eq!(parse("\n[client\n", &["client"]).unwrap_err().line, 2);
    }

    fn target(host: Option<&str>, user: Option<&str>) -> TargetIdentity {
        TargetIdentity {
            name: "laptop".into(),
            kind: DbKind::MySql,
            host: host.map(Into::into),
            port: Some(3306),
            database: Some("app".into()),
            user: user.map(Into::into),
        }
    }

    async fn lookup(contents: &str, mode: u32, t: TargetIdentity) -> Result<Lookup, SourceError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".my.cnf");
        std::fs::write(&path, contents).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let env = MapEnv::new().with("HOME", dir.path().to_str().unwrap());
        MyCnfSource::new("PROJECT_DB", Arc::new(env))
            .lookup(&t)
            .await
    }

    #[tokio::test]
    async fn host_and_user_must_agree() {
        let file = "[client]\nhost=localhost\nuser=app\npassword=pw\n";
        let found = lookup(file, 0o600, target(Some("127.0.0.1"), Some("app")))
            .await
            .unwrap();
        let Lookup::Found(c) = found else {
            panic!("localhost is 127.0.0.1")
        };
        assert_eq!(c.password.expose_secret(), "pw");
        assert!(
            c.origin.ends_with(".my.cnf line 4 [client]"),
            "{}",
            c.origin
        );

        let other_host = lookup(file, 0o600, target(Some("db.internal"), Some("app")))
            .await
            .unwrap();
        assert!(
            matches!(other_host, Lookup::NotFound { reason } if reason.contains("host localhost"))
        );
        let other_user = lookup(file, 0o600, target(Some("127.0.0.1"), Some("bob")))
            .await
            .unwrap();
        assert!(matches!(other_user, Lookup::NotFound { reason } if reason.contains("user app")));
    }

    #[tokio::test]
    async fn a_user_from_the_file_fills_an_unset_target_user() {
        let file = "[client]\nuser=fromfile\npasswd=pw\n";
        let Lookup::Found(c) = lookup(file, 0o600, target(None, None)).await.unwrap() else {
            panic!("expected found")
        };
        assert_eq!(c.username.as_deref(), Some("fromfile"));
    }

    #[tokio::test]
    async fn world_writable_is_ignored_but_group_readable_is_fine() {
        let file = "[client]\npassword=pw\n";
        assert!(matches!(
            lookup(file, 0o602, target(None, None)).await.unwrap(),
            Lookup::NotFound { reason } if reason.contains("world-writable (mode 0602)")
        ));
        assert!(matches!(
            lookup(file, 0o644, target(None, None)).await.unwrap(),
            Lookup::Found(_)
        ));
    }

    #[tokio::test]
    async fn a_malformed_file_is_a_hard_error_naming_file_and_line() {
        let err = lookup("password=canary-41\n", 0o600, target(None, None))
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(".my.cnf: line 1: option without a preceding group"),
            "{message}"
        );
        assert!(
            !message.contains("canary"),
            "the line's value is never echoed: {message}"
        );
    }
}
