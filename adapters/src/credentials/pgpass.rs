//! `pgpass`: the PostgreSQL password file, read exactly as libpq reads it.
//!
//! Contract (libpq's `passwordFromFile` and `pwdfMatchesString`, PostgreSQL 15):
//! - File: `<PREFIX>_PGPASS`, else `PGPASSFILE`, else `~/.pgpass`; empty values count as unset.
//!   A file named by a variable that has no matching line does *not* fall back to `~/.pgpass`.
//! - Lines are `hostname:port:database:username:password`. `\` escapes the next character in
//!   every field. The password ends at the first unescaped `:`; anything after it is ignored.
//!   A line with fewer than five fields never matches.
//! - `*` is a wildcard only when it is the whole field, and only in the first four fields.
//! - A line is a comment only when `#` is in column 0. Trailing CR/LF are stripped, blank
//!   lines skipped, lines may be of any length. The first matching line wins.
//! - Lookup values are built as libpq builds them: an empty host is `localhost`; a host that is
//!   the default Unix-socket directory (`/var/run/postgresql`, configurable) is `localhost`,
//!   any other socket path is matched literally; an empty port is `5432`; an empty database is
//!   the user name. Matching is byte for byte (no case folding, `05432` is not `5432`).
//! - On Unix a file with any group or world permission bit, or that is not a regular file, is
//!   ignored with a warning naming the path and the mode ("not here"). A missing file is "not
//!   here". A matching line with an empty password ends the search without a password, as
//!   in libpq ("not here", naming the line). A file that exists but cannot be read, or a matching password that is not UTF-8,
//!   is a hard error (libpq would silently ignore the first; we would rather say so).
//! - Even libpq's reading quirks are kept: lines are read through the same growing buffer
//!   with `fgets`, so a NUL byte truncates a line exactly where libpq truncates it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use domain::{
    Credential, CredentialSource, Env, Lookup, SecretString, SourceError, TargetIdentity,
};

use crate::fs::{Stat, expand_home, mode_of, stat};

/// libpq's `DEFAULT_PGSOCKET_DIR` on Debian and most Linux distributions.
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// The four values a pgpass line is matched against, already defaulted as libpq does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgpassKey {
    pub host: String,
    pub port: String,
    pub database: String,
    pub user: String,
}

impl PgpassKey {
    /// Builds the lookup values from a target's settings with libpq's defaulting rules.
    pub fn for_connection(
        host: Option<&str>,
        port: Option<u16>,
        database: Option<&str>,
        user: &str,
        default_socket_dir: &str,
    ) -> Self {
        let host = match host {
            None | Some("") => "localhost".to_owned(),
            Some(h) if is_unix_socket_path(h) && h == default_socket_dir => "localhost".to_owned(),
            Some(h) => h.to_owned(),
        };
        let port = port.map_or_else(|| "5432".to_owned(), |p| p.to_string());
        let database = match database {
            None | Some("") => user.to_owned(),
            Some(d) => d.to_owned(),
        };
        Self {
            host,
            port,
            database,
            user: user.to_owned(),
        }
    }
}

/// libpq's `is_unixsock_path`: an absolute path, or `@` for Linux's abstract namespace.
fn is_unix_socket_path(host: &str) -> bool {
    host.starts_with('/') || host.starts_with('@')
}

/// A matching line: its 1-based line number and the de-escaped password bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct PgpassMatch {
    pub line: usize,
    pub password: Vec<u8>,
}

/// Finds the first line of `contents` that matches `key`, exactly as libpq does.
pub fn find_password(contents: &[u8], key: &PgpassKey) -> Option<PgpassMatch> {
    // Reading from memory cannot fail.
    find_password_in(contents, key).unwrap_or(None)
}

/// [`find_password`] over a stream, one line in memory at a time.
pub fn find_password_in(
    contents: impl std::io::BufRead,
    key: &PgpassKey,
) -> std::io::Result<Option<PgpassMatch>> {
    let mut reader = FgetsReader::new(contents);
    // libpq's PQExpBuffer starts at 256 bytes and is enlarged by at least 128 before each read.
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk: Vec<u8> = Vec::new();
    let mut maxlen: usize = 256;
    let mut line_no = 1usize;
    let mut line_start = 1usize;
    while !reader.eof {
        let needed = buf.len() + 128 + 1;
        while needed > maxlen {
            maxlen = maxlen.saturating_mul(2);
        }
        chunk.clear();
        if !reader.fgets(maxlen - buf.len(), &mut chunk)? {
            break;
        }
        line_no += chunk.iter().filter(|&&b| b == b'\n').count();
        // strlen(): a NUL byte ends what is kept of this read.
        let kept = chunk.iter().position(|&b| b == 0).unwrap_or(chunk.len());
        buf.extend_from_slice(&chunk[..kept]);
        if buf.last() != Some(&b'\n') && !reader.eof {
            continue;
        }
        if buf.first() != Some(&b'#') {
            let mut len = buf.len();
            while len > 0 && (buf[len - 1] == b'\n' || buf[len - 1] == b'\r') {
                len -= 1;
            }
            let line = &buf[..len];
            if len > 0
                && let Some(rest) = match_field(line, key.host.as_bytes())
                    .and_then(|t| match_field(t, key.port.as_bytes()))
                    .and_then(|t| match_field(t, key.database.as_bytes()))
                    .and_then(|t| match_field(t, key.user.as_bytes()))
            {
                return Ok(Some(PgpassMatch {
                    line: line_start,
                    password: unescape_password(rest),
                }));
            }
        }
        buf.clear();
        line_start = line_no;
    }
    Ok(None)
}

/// libpq's `pwdfMatchesString`: returns the rest of the line after the field and its `:`.
fn match_field<'a>(buf: &'a [u8], token: &[u8]) -> Option<&'a [u8]> {
    if buf.len() >= 2 && buf[0] == b'*' && buf[1] == b':' {
        return Some(&buf[2..]);
    }
    let mut i = 0;
    let mut t = 0;
    let mut backslash = false;
    while i < buf.len() {
        if buf[i] == b'\\' && !backslash {
            i += 1;
            backslash = true;
        }
        // After a trailing backslash libpq reads the terminating NUL, which ends the loop.
        let c = buf.get(i).copied().unwrap_or(0);
        if c == b':' && t == token.len() && !backslash {
            return Some(&buf[i + 1..]);
        }
        backslash = false;
        if t == token.len() || c == 0 {
            return None;
        }
        if c == token[t] {
            i += 1;
            t += 1;
        } else {
            return None;
        }
    }
    None
}

/// libpq's de-escaping of the password field: up to the first unescaped `:`.
fn unescape_password(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() && field[i] != b':' {
        if field[i] == b'\\' && i + 1 < field.len() {
            i += 1;
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

/// C's `fgets` over a buffered reader: at most `size - 1` bytes, stopping after a newline;
/// sets `eof` only when a read runs into the end, as stdio does. Streaming keeps memory to one
/// line however large the file is.
struct FgetsReader<R> {
    inner: R,
    eof: bool,
}

impl<R: std::io::BufRead> FgetsReader<R> {
    fn new(inner: R) -> Self {
        Self { inner, eof: false }
    }

    /// Appends the next read to `out`; `Ok(false)` when nothing was left to read.
    fn fgets(&mut self, size: usize, out: &mut Vec<u8>) -> std::io::Result<bool> {
        let mut limit = size.saturating_sub(1);
        let mut read_any = false;
        while limit > 0 {
            let available = match self.inner.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                self.eof = true;
                break;
            }
            let window = &available[..available.len().min(limit)];
            let (take, newline) = match window.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (window.len(), false),
            };
            out.extend_from_slice(&window[..take]);
            self.inner.consume(take);
            limit -= take;
            read_any = true;
            if newline {
                break;
            }
        }
        Ok(read_any)
    }
}

/// The pgpass source. See the module documentation for its contract.
pub struct PgpassSource {
    prefix: String,
    env: Arc<dyn Env>,
    default_socket_dir: String,
}

impl std::fmt::Debug for PgpassSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgpassSource")
            .field("prefix", &self.prefix)
            .field("default_socket_dir", &self.default_socket_dir)
            .finish_non_exhaustive()
    }
}

impl PgpassSource {
    pub fn new(prefix: impl Into<String>, env: Arc<dyn Env>) -> Self {
        Self {
            prefix: prefix.into(),
            env,
            default_socket_dir: DEFAULT_SOCKET_DIR.to_owned(),
        }
    }

    /// Changes the socket directory that counts as `localhost` (libpq's compile-time default).
    pub fn with_default_socket_dir(mut self, dir: impl Into<String>) -> Self {
        self.default_socket_dir = dir.into();
        self
    }

    /// The file this source reads, and which setting chose it.
    pub fn file(&self) -> Option<(PathBuf, String)> {
        let own = format!("{}_PGPASS", self.prefix);
        if let Some(path) = self.env.non_empty(&own) {
            return Some((expand_home(&path, self.env.as_ref()), own));
        }
        if let Some(path) = self.env.non_empty("PGPASSFILE") {
            return Some((PathBuf::from(path), "PGPASSFILE".to_owned()));
        }
        self.env
            .home_dir()
            .map(|home| (home.join(".pgpass"), "default ~/.pgpass".to_owned()))
    }
}

#[async_trait]
impl CredentialSource for PgpassSource {
    fn name(&self) -> &str {
        "pgpass"
    }

    async fn lookup(&self, target: &TargetIdentity) -> Result<Lookup, SourceError> {
        let Some(user) = target.user.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(Lookup::not_found(
                "the target has no user, and pgpass lines are matched by user",
            ));
        };
        let Some((path, chosen_by)) = self.file() else {
            return Ok(Lookup::not_found(
                "no pgpass file: HOME is not set and neither is PGPASSFILE",
            ));
        };
        let key = PgpassKey::for_connection(
            target.host.as_deref(),
            target.port,
            target.database.as_deref(),
            user,
            &self.default_socket_dir,
        );
        lookup_in_file(&path, &chosen_by, &key)
    }
}

fn lookup_in_file(path: &Path, chosen_by: &str, key: &PgpassKey) -> Result<Lookup, SourceError> {
    let shown = path.display();
    let metadata = match stat(path)? {
        Stat::Missing => {
            return Ok(Lookup::not_found(format!(
                "{shown} does not exist ({chosen_by})"
            )));
        }
        Stat::File(metadata) => metadata,
    };
    if !metadata.is_file() {
        let reason = format!("{shown} is not a plain file; ignored");
        tracing::warn!(path = %shown, "pgpass file is not a plain file; ignored");
        return Ok(Lookup::not_found(reason));
    }
    let mode = mode_of(&metadata);
    if cfg!(unix) && mode & 0o077 != 0 {
        let reason = format!(
            "{shown} has group or world access (mode {mode:04o}); permissions should be u=rw (0600) or less; ignored"
        );
        tracing::warn!(path = %shown, mode = format_args!("{mode:04o}"), "pgpass file has group or world access; ignored");
        return Ok(Lookup::not_found(reason));
    }
    // Opened without blocking and checked again on the descriptor: the path may have been
    // swapped for a FIFO since the stat above. pgpass has no size cap (libpq has none); it is
    // streamed a line at a time instead.
    let unlimited = crate::fs::FileKind {
        what: "a pgpass file",
        limit: u64::MAX,
    };
    let Some((file, _)) = crate::fs::open_regular(path, unlimited)? else {
        return Ok(Lookup::not_found(format!(
            "{shown} does not exist ({chosen_by})"
        )));
    };
    let found = find_password_in(std::io::BufReader::new(file), key).map_err(|source| {
        SourceError::Read {
            path: path.to_owned(),
            source,
        }
    })?;
    match found {
        None => Ok(Lookup::not_found(format!(
            "no line in {shown} matches {}:{}:{}:{}",
            key.host, key.port, key.database, key.user
        ))),
        // libpq takes the first match even when its password is empty, and then treats an
        // empty password as none: the lookup ends here without a password.
        Some(found) if found.password.is_empty() => Ok(Lookup::not_found(format!(
            "{shown} line {} matches but its password is empty (libpq sends no password then)",
            found.line
        ))),
        Some(found) => {
            let password =
                String::from_utf8(found.password).map_err(|_| SourceError::Malformed {
                    path: path.to_owned(),
                    message: format!("the password on line {} is not valid UTF-8", found.line),
                })?;
            Ok(Lookup::Found(Credential::new(
                None,
                SecretString::from(password),
                "pgpass",
                format!("{shown} line {}", found.line),
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{DbKind, ExposeSecret, MapEnv};

    fn key(host: &str, port: &str, database: &str, user: &str) -> PgpassKey {
        PgpassKey {
            host: host.into(),
            port: port.into(),
            database: database.into(),
            user: user.into(),
        }
    }

    fn found(contents: &str, k: &PgpassKey) -> Option<(usize, String)> {
        find_password(contents.as_bytes(), k).map(|m| {
            (
                m.line,
                String::from_utf8(m.password).expect("utf-8 in tests"),
            )
        })
    }

    #[test]
    fn line_rules_table() {
        let k = key("db.example", "5432", "app", "alice");
        // (file contents, expected (line, password))
        let cases: &[(&str, Option<(usize, &str)>)] = &[
            ("db.example:5432:app:alice:pw\n", Some((1, "pw"))),
            // first match wins
            (
                "*:*:*:*:first\ndb.example:5432:app:alice:second\n",
                Some((1, "first")),
            ),
            // wildcard only as a whole field
            ("db*:5432:app:alice:pw\n", None),
            ("*:*:*:*:pw", Some((1, "pw"))),
            // `*` in the password field is literal
            ("*:*:*:*:*\n", Some((1, "*"))),
            // an escaped star is not a wildcard
            ("\\*:*:*:*:pw\n", None),
            // backslash escapes `:` and `\` in any field
            (
                "db.example:5432:app:alice:p\\:w\\\\x\n",
                Some((1, "p:w\\x")),
            ),
            // the password ends at the first unescaped colon
            (
                "db.example:5432:app:alice:pw:ignored:too\n",
                Some((1, "pw")),
            ),
            // fewer than five fields never match
            ("db.example:5432:app:alice\n", None),
            // ... but an empty password field does match, with an empty password
            ("db.example:5432:app:alice:\n", Some((1, ""))),
            // comment only with `#` in column 0
            ("#db.example:5432:app:alice:c\n", None),
            (" #x:*:*:*:pw\n*:*:*:*:ok\n", Some((2, "ok"))),
            // CRLF stripped, blank lines skipped and counted
            ("\r\n\n*:*:*:*:pw\r\n", Some((3, "pw"))),
            // case matters, as in libpq
            ("DB.example:5432:app:alice:pw\n", None),
            ("db.example:05432:app:alice:pw\n", None),
            // a trailing backslash in the password is kept
            ("*:*:*:*:pw\\", Some((1, "pw\\"))),
            // a trailing backslash in a key field never matches
            ("db.example\\", None),
            // last line without a newline
            (
                "x:1:2:3:4\ndb.example:5432:app:alice:last",
                Some((2, "last")),
            ),
            // escaped characters in key fields match themselves
            ("db\\.example:5432:app:alice:pw\n", Some((1, "pw"))),
        ];
        for (contents, expected) in cases {
            let expected = expected.map(|(l, p)| (l, p.to_owned()));
            assert_eq!(found(contents, &k), expected, "contents: {contents:?}");
        }
    }

    #[test]
    fn escaped_colon_in_a_key_field() {
        let k = key("fe80::1", "5432", "app", "alice");
        assert_eq!(
            found("fe80\\:\\:1:5432:app:alice:v6\n", &k),
            Some((1, "v6".into()))
        );
        // libpq compares a `:` in the line with a `:` in the value before it looks for the end
        // of the field, so an unescaped IPv6 address matches too.
        assert_eq!(
            found("fe80::1:5432:app:alice:v6\n", &k),
            Some((1, "v6".into()))
        );
    }

    #[test]
    fn lines_of_any_length() {
        let long_password = "x".repeat(100_000);
        let contents = format!("{}:1:2:3:4\n*:*:*:*:{long_password}\n", "h".repeat(5000));
        let k = key("a", "5432", "b", "c");
        assert_eq!(found(&contents, &k), Some((2, long_password)));
    }

    #[test]
    fn a_nul_byte_truncates_the_line_as_in_libpq() {
        // fgets reads "*:*:*:*:ab\0cd\n"; strlen keeps "*:*:*:*:ab" and the buffer then has no
        // newline, so libpq glues the next read onto it: the password becomes "abnext".
        let contents = b"*:*:*:*:ab\0cd\nnext\n";
        let k = key("a", "5432", "b", "c");
        let m = find_password(contents, &k).expect("matches");
        assert_eq!(m.password, b"abnext");
    }

    #[test]
    fn lookup_values_are_defaulted_as_libpq_does() {
        let sock = DEFAULT_SOCKET_DIR;
        assert_eq!(
            PgpassKey::for_connection(None, None, None, "alice", sock),
            key("localhost", "5432", "alice", "alice")
        );
        assert_eq!(
            PgpassKey::for_connection(Some(""), Some(6543), Some(""), "alice", sock),
            key("localhost", "6543", "alice", "alice")
        );
        assert_eq!(
            PgpassKey::for_connection(Some("/var/run/postgresql"), None, Some("d"), "u", sock).host,
            "localhost"
        );
        assert_eq!(
            PgpassKey::for_connection(Some("/tmp/pg"), None, Some("d"), "u", sock).host,
            "/tmp/pg"
        );
        assert_eq!(
            PgpassKey::for_connection(Some("/tmp/pg"), None, Some("d"), "u", "/tmp/pg").host,
            "localhost",
            "the default socket directory is configurable"
        );
        assert_eq!(
            PgpassKey::for_connection(Some("127.0.0.1"), None, Some("d"), "u", sock).host,
            "127.0.0.1",
            "an address is never turned into localhost"
        );
    }

    // --- the source: file choice, permissions, provenance ---

    fn target(user: &str) -> TargetIdentity {
        TargetIdentity {
            name: "t".into(),
            kind: DbKind::Postgres,
            host: Some("127.0.0.1".into()),
            port: Some(5432),
            database: Some("app".into()),
            user: Some(user.into()),
        }
    }

    fn write(dir: &Path, name: &str, contents: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("write test file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .expect("chmod test file");
        }
        path
    }

    async fn lookup(env: MapEnv, user: &str) -> Result<Lookup, SourceError> {
        PgpassSource::new("PROJECT_DB", Arc::new(env))
            .lookup(&target(user))
            .await
    }

    #[tokio::test]
    async fn file_choice_prefix_then_pgpassfile_then_home() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), ".pgpass", "*:*:*:*:from-home\n", 0o600);
        let pgpassfile = write(dir.path(), "pgpassfile", "*:*:*:*:from-pgpassfile\n", 0o600);
        let own = write(dir.path(), "own", "*:*:*:*:from-prefix\n", 0o600);
        let home = dir.path().to_str().expect("utf-8 path");

        let password = |l: Lookup| match l {
            Lookup::Found(c) => c.password.expose_secret().to_owned(),
            other => panic!("expected found, got {other:?}"),
        };
        let env = MapEnv::new().with("HOME", home);
        assert_eq!(
            password(lookup(env.clone(), "u").await.unwrap()),
            "from-home"
        );
        let env = env.with("PGPASSFILE", pgpassfile.to_str().unwrap());
        assert_eq!(
            password(lookup(env.clone(), "u").await.unwrap()),
            "from-pgpassfile"
        );
        let env = env.with("PROJECT_DB_PGPASS", own.to_str().unwrap());
        assert_eq!(
            password(lookup(env.clone(), "u").await.unwrap()),
            "from-prefix"
        );
        // empty counts as unset
        let env = env.with("PROJECT_DB_PGPASS", "").with("PGPASSFILE", "");
        assert_eq!(password(lookup(env, "u").await.unwrap()), "from-home");
        // `~/` in our own variable is the home directory
        let env = MapEnv::new()
            .with("HOME", home)
            .with("PROJECT_DB_PGPASS", "~/own");
        assert_eq!(password(lookup(env, "u").await.unwrap()), "from-prefix");
    }

    #[tokio::test]
    async fn a_named_file_without_a_match_does_not_fall_back_to_home() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), ".pgpass", "*:*:*:*:from-home\n", 0o600);
        let own = write(dir.path(), "own", "other:*:*:*:x\n", 0o600);
        let env = MapEnv::new()
            .with("HOME", dir.path().to_str().unwrap())
            .with("PROJECT_DB_PGPASS", own.to_str().unwrap());
        match lookup(env, "u").await.unwrap() {
            Lookup::NotFound { reason } => {
                assert!(reason.contains("no line in"), "{reason}");
                assert!(reason.contains("127.0.0.1:5432:app:u"), "{reason}");
            }
            other => panic!("expected not found, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn missing_file_is_not_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = MapEnv::new().with("HOME", dir.path().to_str().unwrap());
        assert!(matches!(
            lookup(env, "u").await.unwrap(),
            Lookup::NotFound { reason } if reason.contains("does not exist")
        ));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn group_or_world_access_is_ignored_with_the_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        for mode in [0o640, 0o604, 0o610, 0o601, 0o660] {
            write(dir.path(), ".pgpass", "*:*:*:*:pw\n", mode);
            let env = MapEnv::new().with("HOME", dir.path().to_str().unwrap());
            match lookup(env, "u").await.unwrap() {
                Lookup::NotFound { reason } => {
                    assert!(reason.contains(&format!("mode {mode:04o}")), "{reason}");
                    assert!(reason.contains(".pgpass"), "{reason}");
                }
                other => panic!("mode {mode:o}: expected ignored, got {other:?}"),
            }
        }
        write(dir.path(), ".pgpass", "*:*:*:*:pw\n", 0o400);
        let env = MapEnv::new().with("HOME", dir.path().to_str().unwrap());
        assert!(matches!(lookup(env, "u").await.unwrap(), Lookup::Found(_)));
    }

    #[tokio::test]
    async fn a_directory_is_not_a_plain_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join(".pgpass")).unwrap();
        let env = MapEnv::new().with("HOME", dir.path().to_str().unwrap());
        assert!(matches!(
            lookup(env, "u").await.unwrap(),
            Lookup::NotFound { reason } if reason.contains("not a plain file")
        ));
    }

    #[tokio::test]
    async fn an_empty_password_on_the_first_match_ends_the_search_without_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), ".pgpass", "*:*:app:u:\n*:*:*:*:later\n", 0o600);
        let env = MapEnv::new().with("HOME", dir.path().to_str().unwrap());
        match lookup(env, "u").await.unwrap() {
            Lookup::NotFound { reason } => {
                assert!(
                    reason.contains("line 1 matches but its password is empty"),
                    "{reason}"
                )
            }
            other => panic!("expected not found, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn found_names_the_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            dir.path(),
            ".pgpass",
            "# c\nx:*:*:*:no\n*:*:app:u:yes\n",
            0o600,
        );
        let env = MapEnv::new().with("HOME", dir.path().to_str().unwrap());
        let Lookup::Found(c) = lookup(env, "u").await.unwrap() else {
            panic!("expected found")
        };
        assert_eq!(c.origin, format!("{} line 3", path.display()));
        assert_eq!(c.source, "pgpass");
        assert_eq!(c.username, None);
    }
}

#[cfg(test)]
#[path = "pgpass_model_tests.rs"]
mod model_tests;
