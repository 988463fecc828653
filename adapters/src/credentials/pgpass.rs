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

use self::fgets::FgetsReader;
use crate::fs::{Stat, expand_home, mode_of, stat};

#[path = "pgpass_fgets.rs"]
mod fgets;

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

/// A matching line: its 1-based line number and the de-escaped password bytes. Its `Debug`
/// shows the line only.
#[derive(PartialEq, Eq)]
pub struct PgpassMatch {
    pub line: usize,
    pub password: Vec<u8>,
}

impl std::fmt::Debug for PgpassMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgpassMatch")
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
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

    /// A line names a host and port: each host of a multi-host target has its own, as in libpq.
    fn varies_by_host(&self) -> bool {
        true
    }

    fn watched_files(&self, _target: &TargetIdentity) -> Vec<PathBuf> {
        self.file().map(|(path, _)| path).into_iter().collect()
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
    let file = match open_pgpass(path, chosen_by)? {
        Opened::File(file) => file,
        Opened::Ignored(lookup) => return Ok(lookup),
    };
    let found = find_password_in(std::io::BufReader::new(file), key).map_err(|source| {
        SourceError::Read {
            path: path.to_owned(),
            source,
        }
    })?;
    answer(found, path, key)
}

/// A pgpass file opened, or the answer for a file that is not read.
enum Opened {
    File(std::fs::File),
    Ignored(Lookup),
}

/// Opens the file; one that is missing, not a plain file, or readable by group or world is
/// not read (libpq ignores the last two with a warning as well).
fn open_pgpass(path: &Path, chosen_by: &str) -> Result<Opened, SourceError> {
    let shown = path.display();
    let missing = || {
        Opened::Ignored(Lookup::not_found(format!(
            "{shown} does not exist ({chosen_by})"
        )))
    };
    let metadata = match stat(path)? {
        Stat::Missing => return Ok(missing()),
        Stat::File(metadata) => metadata,
    };
    if !metadata.is_file() {
        let reason = format!("{shown} is not a plain file; ignored");
        tracing::warn!(path = %shown, "pgpass file is not a plain file; ignored");
        return Ok(Opened::Ignored(Lookup::not_found(reason)));
    }
    let mode = mode_of(&metadata);
    if cfg!(unix) && mode & 0o077 != 0 {
        let reason = format!(
            "{shown} has group or world access (mode {mode:04o}); permissions should be u=rw (0600) or less; ignored"
        );
        tracing::warn!(path = %shown, mode = format_args!("{mode:04o}"), "pgpass file has group or world access; ignored");
        return Ok(Opened::Ignored(Lookup::not_found(reason)));
    }
    // Opened without blocking and checked again on the descriptor: the path may have been
    // swapped for a FIFO since the stat above. pgpass has no size cap (libpq has none); it is
    // streamed a line at a time instead.
    let unlimited = crate::fs::FileKind {
        what: "a pgpass file",
        limit: u64::MAX,
    };
    Ok(match crate::fs::open_regular(path, unlimited)? {
        Some((file, _)) => Opened::File(file),
        None => missing(),
    })
}

/// What the first matching line (if any) means for the lookup.
fn answer(found: Option<PgpassMatch>, path: &Path, key: &PgpassKey) -> Result<Lookup, SourceError> {
    let shown = path.display();
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
#[path = "pgpass_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "pgpass_model_tests.rs"]
mod model_tests;
