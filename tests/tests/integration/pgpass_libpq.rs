//! Differential test against libpq: for hand-picked and generated pgpass files, the password
//! dbcore's pgpass source chooses is the one `psql` (libpq) authenticates with against the
//! same server.
//!
//! Method: for each file and connection key, dbcore chooses a password (or none). The role's
//! password on the server is then set to dbcore's choice and `psql -w` connects with
//! `PGPASSFILE` pointing at the file. Every line of a file has a distinct password, so psql
//! succeeds exactly when libpq chose the same line; when dbcore chooses nothing, psql must
//! fail with "no password supplied". Set `DBCORE_PGPASS_SEED` to replay a generated run.

use std::process::Command;

use adapters::credentials::pgpass::{PgpassKey, find_password};
use tests::pg::{PgCluster, cluster, quote_ident, quote_literal};

const ROLES: &[&str] = &["alice", "bob", "we:ird\\u"];
const DATABASES: &[&str] = &["app", "oth:er"];

/// xorshift64*: enough randomness for test generation, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Escapes `:` and `\` as a careful pgpass writer would.
fn escape(field: &str) -> String {
    field.replace('\\', "\\\\").replace(':', "\\:")
}

/// A field that matches `value` in one of several spellings, or one that does not.
fn field(rng: &mut Rng, value: &str, others: &[&str]) -> String {
    match rng.below(10) {
        0 | 1 => "*".into(),
        2 => {
            // escaping an ordinary character is allowed and matches it
            let mut out = String::new();
            for c in value.chars() {
                if rng.chance(30) || c == ':' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        }
        3 => value.replace('\\', "\\\\"), // an unescaped `:` still matches a `:` in the value
        4 => rng.pick(others).to_owned(),
        5 => "\\*".into(),
        6 => format!("{value}x"),
        _ => escape(value),
    }
}

fn password(rng: &mut Rng, line_no: usize) -> (String, String) {
    // (as written in the file, as libpq reads it); unique per line through the line number
    let base = format!("pw{line_no}-{}", rng.below(1000));
    match rng.below(8) {
        0 => (format!("{base}\\:x"), format!("{base}:x")),
        1 => (format!("{base}\\\\y"), format!("{base}\\y")),
        2 => (format!("{base}:ignored:more"), base),
        3 => (format!("\\{base}"), base),
        4 => (format!("{base} with space"), format!("{base} with space")),
        _ => (base.clone(), base),
    }
}

fn generated_file(rng: &mut Rng, hosts: &[&str], port: &str) -> String {
    let mut out = String::new();
    let lines = 1 + rng.below(8);
    for n in 0..lines {
        let newline = if rng.chance(15) { "\r\n" } else { "\n" };
        match rng.below(12) {
            0 => out.push_str(&format!("#*:*:*:*:comment{n}{newline}")),
            1 => out.push_str(newline),
            2 => out.push_str(&format!("*:*:*:short{n}{newline}")),
            3 => out.push_str(&format!(" #*:*:*:*:notcomment{n}{newline}")),
            _ => {
                let host = rng.pick(hosts);
                let host = field(rng, host, &["localhost", "db.example", "127.0.0.2"]);
                let port_field = field(rng, port, &["5432", "1"]);
                let database = rng.pick(DATABASES);
                let database = field(rng, database, &["postgres", "App"]);
                let user = rng.pick(ROLES);
                let user = field(rng, user, &["Alice", "carol"]);
                let (written, _) = password(rng, n);
                out.push_str(&format!(
                    "{host}:{port_field}:{database}:{user}:{written}{newline}"
                ));
            }
        }
    }
    if rng.chance(20) && out.ends_with('\n') {
        out.pop(); // last line without a newline
        if out.ends_with('\r') {
            out.pop();
        }
    }
    out
}

/// libpq's conninfo quoting.
fn conninfo_value(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

struct Psql<'a> {
    pg: &'a PgCluster,
    dir: tempfile::TempDir,
}

impl Psql<'_> {
    /// Connects with libpq and the given pgpass file; `Ok` when authentication succeeded.
    fn connect(&self, file: &str, key: &PgpassKey, host: &str) -> Result<(), String> {
        let path = self.dir.path().join("pgpass");
        std::fs::write(&path, file).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let conninfo = format!(
            "host={} port={} dbname={} user={} sslmode=disable connect_timeout=5",
            conninfo_value(host),
            key.port,
            conninfo_value(&key.database),
            conninfo_value(&key.user)
        );
        let psql = if self.pg.bin("psql").exists() {
            self.pg.bin("psql")
        } else {
            "psql".into()
        };
        let out = Command::new(psql)
            .args(["-w", "-X", "-A", "-t", "-c", "select 1", &conninfo])
            .env_clear()
            .env("PGPASSFILE", &path)
            .env("HOME", self.dir.path())
            .output()
            .expect("psql runs");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

#[tokio::test]
async fn pgpass_choices_agree_with_libpq() {
    let Some(pg) = cluster() else { return };
    let superuser = pg.superuser().await;
    for role in ROLES {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "create role {} login",
            quote_ident(role)
        )))
        .execute(&superuser)
        .await
        .unwrap();
    }
    for database in DATABASES {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "create database {}",
            quote_ident(database)
        )))
        .execute(&superuser)
        .await
        .unwrap();
    }
    let psql = Psql {
        pg,
        dir: tempfile::tempdir().unwrap(),
    };
    let port = pg.port().to_string();
    let socket = pg.socket_dir().display().to_string();
    let hosts = ["127.0.0.1", socket.as_str()];

    let mut cases: Vec<(String, &str, &str, &str)> = vec![
        (
            format!("127.0.0.1:{port}:app:alice:plain\n"),
            "127.0.0.1",
            "app",
            "alice",
        ),
        (
            format!("*:*:*:*:first\n127.0.0.1:{port}:app:alice:second\n"),
            "127.0.0.1",
            "app",
            "alice",
        ),
        (
            format!("127.0.0.1:{port}:oth\\:er:we\\:ird\\\\u:esc\\:aped\\\\pw\n"),
            "127.0.0.1",
            "oth:er",
            "we:ird\\u",
        ),
        (
            format!("127.0.0.1:{port}:oth:er:we:ird\\\\u:unescaped-colons\n"),
            "127.0.0.1",
            "oth:er",
            "we:ird\\u",
        ),
        (
            format!("{socket}:{port}:app:bob:via-socket\n"),
            socket.as_str(),
            "app",
            "bob",
        ),
        (
            format!("localhost:{port}:app:bob:not-for-a-socket\n"),
            socket.as_str(),
            "app",
            "bob",
        ),
        (
            format!(
                "#127.0.0.1:{port}:app:alice:commented\n #x:1:2:3:4\r\n\r\n*:{port}:app:alice:after-blank\r\n"
            ),
            "127.0.0.1",
            "app",
            "alice",
        ),
        (
            format!("127.0.0.1:{port}:app:alice\n*:*:*:alice:five-fields"),
            "127.0.0.1",
            "app",
            "alice",
        ),
        (
            format!("127.0.0.1:{port}:app:alice:pw:with:colons\n"),
            "127.0.0.1",
            "app",
            "alice",
        ),
        (
            format!("127.0.0.1:{port}:app:ali*:star-in-field\n"),
            "127.0.0.1",
            "app",
            "alice",
        ),
        (
            format!("127.0.0.1:{port}:app:alice:trailing\\\n"),
            "127.0.0.1",
            "app",
            "alice",
        ),
        (
            format!("{}:*:*:*:long-line\n*:*:*:*:after-long", "h".repeat(5000)),
            "127.0.0.1",
            "app",
            "alice",
        ),
    ];
    let seed = std::env::var("DBCORE_PGPASS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64 | 1)
        });
    let mut rng = Rng(seed);
    for _ in 0..300 {
        let file = generated_file(&mut rng, &hosts, &port);
        let host = rng.pick(&hosts);
        let database = rng.pick(DATABASES);
        let user = rng.pick(ROLES);
        cases.push((file, host, database, user));
    }

    let (mut matched, mut unmatched) = (0, 0);
    for (file, host, database, user) in &cases {
        let key = PgpassKey::for_connection(
            Some(host),
            Some(pg.port()),
            Some(database),
            user,
            "/var/run/postgresql",
        );
        let ours =
            find_password(file.as_bytes(), &key).map(|m| String::from_utf8(m.password).unwrap());
        let context = format!("seed {seed}, key {key:?}, file {file:?}, ours {ours:?}");
        match ours.as_deref() {
            Some(password) if !password.is_empty() => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "alter role {} password {}",
                    quote_ident(user),
                    quote_literal(password)
                )))
                .execute(&superuser)
                .await
                .unwrap();
                if let Err(e) = psql.connect(file, &key, host) {
                    panic!("libpq chose another password: {e}\n{context}");
                }
                matched += 1;
            }
            _ => {
                // No password, or an empty one, which libpq treats as none.
                let err = psql.connect(file, &key, host).expect_err(&context);
                assert!(err.contains("no password supplied"), "{err}\n{context}");
                unmatched += 1;
            }
        }
    }
    eprintln!(
        "pgpass differential: {} cases ({matched} with a password, {unmatched} without), seed {seed}",
        cases.len()
    );
    assert!(
        matched > 20 && unmatched > 10,
        "the generator should produce both kinds of case"
    );
}
