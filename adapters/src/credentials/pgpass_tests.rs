//! The pgpass reader's tests: libpq's line rules, lookup values, and what the source says.

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
