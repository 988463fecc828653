//! libpq's connection service file (`pg_service.conf`), read as libpq 15 reads it
//! (`parseServiceFile` in `fe-connect.c`), so that a service means the same to dbcore and to
//! `psql "service=NAME"`.
//!
//! Contract, libpq's rules:
//! - Lines: trailing and leading whitespace is dropped; an empty line or one starting with `#`
//!   is skipped. `[NAME]` starts a section; libpq compares the text after `[` with the service
//!   name and wants `]` right after it (so `[name] # note` still names `name`).
//! - Inside the wanted section each line is `key=value`, split at the first `=`, with nothing
//!   trimmed around it (`host = db` is the key `host ` — an error, as in libpq); a line without
//!   `=`, an unknown key, or `service=` (nesting) is an error naming the file and line.
//! - The section ends at the next `[`; the first value of a key wins.
//! - Files are searched in order and the first one that defines the service wins; a service
//!   defined in none is an error naming every file searched (the caller's job: it knows them).

use std::path::{Path, PathBuf};

use crate::fs::{FileKind, read_regular};

/// The keywords libpq 15 accepts in a service file (its connection options, `service`
/// excluded), and the two libpq 16 added that dbcore understands.
pub const LIBPQ_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "gssencmode",
    "krbsrvname",
    "gsslib",
    "replication",
    "target_session_attrs",
    "load_balance_hosts",
    "require_auth",
];

/// One `key=value` of the service, where it stands.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

impl std::fmt::Debug for ServiceEntry {
    // The value may be a password (`password=` is a libpq keyword): never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceEntry")
            .field("key", &self.key)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// A service as the file that defines it gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub file: PathBuf,
    pub entries: Vec<ServiceEntry>,
}

/// A service file that libpq would refuse, or one that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service file {}{}: {message}", file.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct ServiceFileError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

/// The first of `files` that defines `service`, with its entries; `None` when none does. A
/// missing file is skipped (libpq skips it too); one that exists and cannot be read, or that
/// libpq would refuse, is an error.
pub fn find(service: &str, files: &[PathBuf]) -> Result<Option<Service>, ServiceFileError> {
    for file in files {
        let bytes = match read_regular(file, FileKind::SETTINGS) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            Err(error) => {
                return Err(ServiceFileError {
                    file: file.clone(),
                    line: None,
                    message: error.to_string(),
                });
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        if let Some(entries) =
            parse(&text, service).map_err(|(line, message)| ServiceFileError {
                file: file.clone(),
                line: Some(line),
                message,
            })?
        {
            return Ok(Some(Service {
                file: file.clone(),
                entries,
            }));
        }
    }
    Ok(None)
}

/// The entries of `service` in one file's text (`None`: not defined here), or the line libpq
/// would stop at and why.
pub fn parse(text: &str, service: &str) -> Result<Option<Vec<ServiceEntry>>, (usize, String)> {
    let mut in_service = false;
    let mut found = false;
    let mut entries: Vec<ServiceEntry> = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line_no = index + 1;
        let line = raw.trim_matches(is_c_space);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            if in_service {
                // The end of the wanted section: libpq stops reading here.
                break;
            }
            in_service = rest
                .strip_prefix(service)
                .is_some_and(|after| after.starts_with(']'));
            found |= in_service;
            continue;
        }
        if !in_service {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err((
                line_no,
                "syntax error: a line in a service is `key=value`".into(),
            ));
        };
        if key == "service" {
            return Err((
                line_no,
                "nested service specifications are not supported".into(),
            ));
        }
        if !LIBPQ_KEYWORDS.contains(&key) {
            return Err((
                line_no,
                format!(
                    "syntax error: `{}` is not a libpq connection option (no spaces around `=`)",
                    key.escape_default()
                ),
            ));
        }
        if !entries.iter().any(|e| e.key == key) {
            entries.push(ServiceEntry {
                key: key.to_owned(),
                value: value.to_owned(),
                line: line_no,
            });
        }
    }
    Ok(found.then_some(entries))
}

/// C's `isspace` in the "C" locale, which libpq uses.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
}

/// Where libpq looks for services: `PGSERVICEFILE`, else `~/.pg_service.conf`; then
/// `PGSYSCONFDIR/pg_service.conf`, else the compiled-in system directory's.
pub fn search_path(
    service_file: Option<&str>,
    home: Option<&Path>,
    sysconf_dir: Option<&str>,
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    match service_file {
        Some(file) => files.push(PathBuf::from(file)),
        None => {
            if let Some(home) = home {
                files.push(home.join(".pg_service.conf"));
            }
        }
    }
    files.push(Path::new(sysconf_dir.unwrap_or(SYSTEM_SYSCONF_DIR)).join("pg_service.conf"));
    files
}

/// Debian's and Ubuntu's libpq (`pg_config --sysconfdir`); other builds use their own, which
/// `PGSYSCONFDIR` names.
pub const SYSTEM_SYSCONF_DIR: &str = "/etc/postgresql-common";

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(entries: &[ServiceEntry]) -> Vec<(&str, &str, usize)> {
        entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect()
    }

    #[test]
    fn the_wanted_section_is_read_as_libpq_reads_it() {
        let text = "# sites\n[other]\nhost=x\n\n  [app]  \n  host=db.internal \t\nport=5433\nhost=ignored\ndbname= spaced\n[next]\nport=1\n";
        let entries = parse(text, "app").unwrap().unwrap();
        assert_eq!(
            keys(&entries),
            [
                ("host", "db.internal", 6),
                ("port", "5433", 7),
                ("dbname", " spaced", 9)
            ]
        );
        assert_eq!(parse(text, "missing").unwrap(), None);
        // `[app] # note` still names `app`: libpq compares up to the `]`.
        assert!(parse("[app] # note\nport=1\n", "app").unwrap().is_some());
        // A prefix of the name is not the name.
        assert_eq!(parse("[apple]\nport=1\n", "app").unwrap(), None);
        // Defined but empty.
        assert_eq!(parse("[app]\n", "app").unwrap(), Some(Vec::new()));
    }

    #[test]
    fn what_libpq_refuses_is_refused_with_the_line() {
        let refused = |text: &str| parse(text, "app").unwrap_err();
        assert_eq!(refused("[app]\nhost = db\n").0, 2);
        assert!(refused("[app]\nhost = db\n").1.contains("`host `"));
        assert_eq!(refused("[app]\nnot a pair\n").0, 2);
        assert!(refused("[app]\nservice=other\n").1.contains("nested"));
        assert!(refused("[app]\nsurprise=1\n").1.contains("`surprise`"));
        // Lines of other sections are not looked at.
        assert!(parse("[other]\nnot a pair\n[app]\nport=1\n", "app").is_ok());
    }

    #[test]
    fn the_first_file_that_defines_the_service_wins() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user.conf");
        let system = dir.path().join("system.conf");
        std::fs::write(&user, "[a]\nport=1\n").unwrap();
        std::fs::write(&system, "[a]\nport=2\n[b]\nport=3\n").unwrap();
        let files = [
            dir.path().join("missing.conf"),
            user.clone(),
            system.clone(),
        ];
        let a = find("a", &files).unwrap().unwrap();
        assert_eq!((a.file, a.entries[0].value.as_str()), (user, "1"));
        let b = find("b", &files).unwrap().unwrap();
        assert_eq!((b.file, b.entries[0].value.as_str()), (system, "3"));
        assert_eq!(find("c", &files).unwrap(), None);
        assert_eq!(
            search_path(Some("/s.conf"), Some(Path::new("/home/u")), None),
            [
                PathBuf::from("/s.conf"),
                PathBuf::from("/etc/postgresql-common/pg_service.conf")
            ]
        );
        assert_eq!(
            search_path(None, Some(Path::new("/home/u")), Some("/etc/pg")),
            [
                PathBuf::from("/home/u/.pg_service.conf"),
                PathBuf::from("/etc/pg/pg_service.conf")
            ]
        );
    }
}
