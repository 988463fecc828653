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
//!   `~/.pg_service.conf` and the system file may be missing; a file `PGSERVICEFILE` names
//!   (even an empty name) must exist, or libpq fails with "service file not found".
//! - A line ends at a NUL byte, as C's strings do.
//!
//! Where dbcore is stricter than libpq, on purpose: a line starting with `ldap` (an LDAP
//! lookup in a libpq built with LDAP) is refused, not looked up; a line of the wanted section
//! that is not UTF-8 is refused (libpq would send its bytes as they are); an unknown key is
//! named only when it is a plain word (a URL pasted into the file must not be printed).

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

/// One place libpq looks for services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchedFile {
    pub path: PathBuf,
    /// `PGSERVICEFILE`'s file: libpq fails when it is missing, where it skips the others.
    pub must_exist: bool,
}

/// The first of `files` that defines `service`, with its entries; `None` when none does. A
/// missing file is skipped unless it must exist (as in libpq); one that exists and cannot be
/// read, or that libpq would refuse, is an error.
pub fn find(service: &str, files: &[SearchedFile]) -> Result<Option<Service>, ServiceFileError> {
    for searched in files {
        let file = &searched.path;
        let failed = |message: String| ServiceFileError {
            file: file.clone(),
            line: None,
            message,
        };
        let bytes = match read_regular(file, FileKind::SETTINGS) {
            Ok(Some(bytes)) => bytes,
            Ok(None) if searched.must_exist => {
                return Err(failed(
                    "not found (PGSERVICEFILE names it: libpq reads that file or fails, and \
                     so does dbcore)"
                        .into(),
                ));
            }
            Ok(None) => continue,
            Err(error) => return Err(failed(error.to_string())),
        };
        if let Some(entries) =
            parse_bytes(&bytes, service).map_err(|(line, message)| ServiceFileError {
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

/// [`parse`] over a file's bytes: a line that is not UTF-8 is refused only where it is read
/// (in the wanted section), and is blank elsewhere, as libpq never looks at it.
fn parse_bytes(bytes: &[u8], service: &str) -> Result<Option<Vec<ServiceEntry>>, (usize, String)> {
    let mut text = String::with_capacity(bytes.len());
    let mut not_utf8 = Vec::new();
    for (index, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if index > 0 {
            text.push('\n');
        }
        match std::str::from_utf8(line) {
            Ok(line) => text.push_str(line),
            Err(error) => {
                // A header or a comment is known by its first bytes: keep the valid start, so
                // that `[name]` or `#` still decide what the line is.
                let valid = &line[..error.valid_up_to()];
                text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                not_utf8.push(index + 1);
            }
        }
    }
    parse_checked(&text, service, &not_utf8)
}

/// The entries of `service` in one file's text (`None`: not defined here), or the line libpq
/// would stop at and why.
pub fn parse(text: &str, service: &str) -> Result<Option<Vec<ServiceEntry>>, (usize, String)> {
    parse_checked(text, service, &[])
}

fn parse_checked(
    text: &str,
    service: &str,
    not_utf8: &[usize],
) -> Result<Option<Vec<ServiceEntry>>, (usize, String)> {
    let mut in_service = false;
    let mut found = false;
    let mut entries: Vec<ServiceEntry> = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line_no = index + 1;
        // libpq's lines are C strings: a NUL ends one.
        let raw = raw.split('\0').next().unwrap_or_default();
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
        if not_utf8.contains(&line_no) {
            return Err((line_no, "is not UTF-8 text".into()));
        }
        if line.starts_with("ldap") {
            return Err((
                line_no,
                "an LDAP lookup (a line starting with `ldap`) is not supported: write the \
                 service's keys in the file"
                    .into(),
            ));
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
                    "syntax error: {} is not a libpq connection option (no spaces around `=`)",
                    describe_key(key)
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

/// An unknown key as an error may show it: quoted when it is a plain word (a misspelt
/// option), or one with spaces around it; otherwise only its length, because what comes
/// before an `=` may be a pasted URL with a password in it.
fn describe_key(key: &str) -> String {
    let plain = |k: &str| {
        !k.is_empty() && k.len() <= 40 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    let trimmed = key.trim_matches(is_c_space);
    if plain(key) {
        format!("`{key}`")
    } else if plain(trimmed) {
        format!("`{}`", key.escape_default())
    } else {
        format!("a key of {} characters", key.chars().count())
    }
}

/// C's `isspace` in the "C" locale, which libpq uses.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
}

/// Where libpq looks for services: `PGSERVICEFILE`, else `~/.pg_service.conf`; then
/// `PGSYSCONFDIR/pg_service.conf`, else the compiled-in system directory's.
///
/// Set variables are used as they are, even empty, as libpq uses them: an empty
/// `PGSERVICEFILE` names a file that cannot exist, an empty `PGSYSCONFDIR` the root.
pub fn search_path(
    service_file: Option<&str>,
    home: Option<&Path>,
    sysconf_dir: Option<&str>,
) -> Vec<SearchedFile> {
    let mut files = Vec::new();
    match service_file {
        Some(file) => files.push(SearchedFile {
            path: PathBuf::from(file),
            must_exist: true,
        }),
        None => {
            if let Some(home) = home {
                files.push(SearchedFile {
                    path: home.join(".pg_service.conf"),
                    must_exist: false,
                });
            }
        }
    }
    // libpq writes "%s/pg_service.conf".
    let dir = sysconf_dir.unwrap_or(SYSTEM_SYSCONF_DIR);
    files.push(SearchedFile {
        path: PathBuf::from(format!("{}/pg_service.conf", dir.trim_end_matches('/'))),
        must_exist: false,
    });
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
        let may_miss = |path: PathBuf| SearchedFile {
            path,
            must_exist: false,
        };
        let files = [
            may_miss(dir.path().join("missing.conf")),
            may_miss(user.clone()),
            may_miss(system.clone()),
        ];
        let a = find("a", &files).unwrap().unwrap();
        assert_eq!((a.file, a.entries[0].value.as_str()), (user, "1"));
        let b = find("b", &files).unwrap().unwrap();
        assert_eq!((b.file, b.entries[0].value.as_str()), (system, "3"));
        assert_eq!(find("c", &files).unwrap(), None);
        let paths = |files: Vec<SearchedFile>| {
            files
                .into_iter()
                .map(|f| (f.path.display().to_string(), f.must_exist))
                .collect::<Vec<_>>()
        };
        let searched = |service_file, sysconf| {
            paths(search_path(
                service_file,
                Some(Path::new("/home/u")),
                sysconf,
            ))
        };
        let system = ("/etc/postgresql-common/pg_service.conf".to_owned(), false);
        assert_eq!(
            searched(Some("/s.conf"), None),
            [("/s.conf".to_owned(), true), system.clone()]
        );
        assert_eq!(
            searched(None, Some("/etc/pg/")),
            [
                ("/home/u/.pg_service.conf".to_owned(), false),
                ("/etc/pg/pg_service.conf".to_owned(), false)
            ]
        );
        // Set and empty, as libpq takes them: no file, and the root directory.
        assert_eq!(
            searched(Some(""), Some("")),
            [
                (String::new(), true),
                ("/pg_service.conf".to_owned(), false)
            ]
        );
    }

    #[test]
    fn a_file_pgservicefile_names_must_exist_and_the_others_may_be_missing() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("system.conf");
        std::fs::write(&system, "[a]\nport=2\n").unwrap();
        let named = SearchedFile {
            path: dir.path().join("typo.conf"),
            must_exist: true,
        };
        let system = SearchedFile {
            path: system,
            must_exist: false,
        };
        let error = find("a", &[named.clone(), system.clone()]).unwrap_err();
        assert_eq!(error.file, named.path);
        assert!(error.to_string().contains("not found"), "{error}");
        let empty = SearchedFile {
            path: PathBuf::new(),
            must_exist: true,
        };
        assert!(find("a", &[empty, system]).is_err());
    }

    #[test]
    fn lines_end_at_nul_and_text_that_is_not_utf8_is_refused_only_where_it_is_read() {
        let entries = parse_bytes(b"[a]\nport=5433\0junk\n", "a")
            .unwrap()
            .unwrap();
        assert_eq!(keys(&entries), [("port", "5433", 2)]);
        // Latin-1 in a comment, in a header's comment and in another section: not read.
        let text = b"# caf\xe9\n[other]\nuser=j\xfcrgen\n[a] # caf\xe9\nport=1\n";
        let entries = parse_bytes(text, "a").unwrap().unwrap();
        assert_eq!(keys(&entries), [("port", "1", 5)]);
        // In the wanted section it would reach the server: refused, naming the line.
        let (line, message) = parse_bytes(b"[a]\nuser=j\xfcrgen\n", "a").unwrap_err();
        assert_eq!(line, 2);
        assert!(message.contains("UTF-8"), "{message}");
    }

    proptest::proptest! {
        /// Any bytes and any name: an answer, never a panic; and a line number it names is
        /// one of the file's.
        #[test]
        fn any_file_is_parsed_without_panicking(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            name in "[a-z\\[\\]=# é]{0,6}",
        ) {
            if let Err((line, _)) = parse_bytes(&bytes, &name) {
                let lines = bytes.split(|b| *b == b'\n').count();
                proptest::prop_assert!(line >= 1 && line <= lines);
            }
        }

        /// A section written from known keys and values reads back as written, the first
        /// value of each key kept, whatever other sections and comments surround it.
        #[test]
        fn a_written_section_reads_back(
            entries in proptest::collection::vec(
                (proptest::sample::select(vec!["host", "port", "dbname", "user", "sslmode"]),
                 "[a-zA-Z0-9 =.é#\\[]{0,12}"),
                0..8,
            ),
            before in "(# [a-z]{0,5}\n|\n|\\[x\\]\nhost=h\n){0,3}",
        ) {
            let mut text = format!("{before}[svc]\n");
            for (key, value) in &entries {
                text.push_str(&format!("{key}={value}\n"));
            }
            text.push_str("[after]\nbroken line\n");
            let read = parse(&text, "svc").unwrap().unwrap();
            let mut expected: Vec<(&str, String)> = Vec::new();
            for (key, value) in &entries {
                if !expected.iter().any(|(k, _)| k == key) {
                    // The line's end is trimmed; what follows `=` is kept as it is.
                    expected.push((key, value.trim_end_matches(is_c_space).to_owned()));
                }
            }
            let got: Vec<(&str, String)> =
                read.iter().map(|e| (e.key.as_str(), e.value.clone())).collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn an_unknown_key_is_shown_only_when_it_is_a_plain_word() {
        let refused = |text: &str| parse(text, "app").unwrap_err().1;
        assert!(refused("[app]\nsurprise=1\n").contains("`surprise`"));
        assert!(refused("[app]\nhost =db\n").contains("`host `"));
        let pasted = refused("[app]\npostgresql://app:hunter2@db/x?sslmode=require\n");
        assert!(!pasted.contains("hunter2"), "{pasted}");
        assert!(pasted.contains("a key of 37 characters"), "{pasted}");
        let ldap = refused("[app]\nldap://ldap.example/dc=x?uri?one?(cn=app)\n");
        assert!(ldap.contains("LDAP"), "{ldap}");
    }
}
