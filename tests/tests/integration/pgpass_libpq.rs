//! Differential test against libpq: for hand-picked and generated pgpass files and targets, the
//! password dbcore's pgpass source chooses is the one `psql` (libpq) authenticates with against
//! the same server.
//!
//! Method: for each file and target, dbcore's `PgpassSource` looks the target up (its own
//! defaulting included) and chooses a password, or none. The role's password on the server is
//! then set to dbcore's choice and `psql -w` connects with `PGPASSFILE` pointing at the file,
//! given exactly what the target gives dbcore: no `port` when the target has none, no `dbname`
//! when it has none, an empty `host`, no host, or the default socket directory as the target
//! says, so that libpq applies its own defaults (5432, the user name, `localhost`). The server
//! is reached at those defaults through forwarders: Unix sockets `.s.PGSQL.5432` and
//! `.s.PGSQL.<port>` in a private directory and in libpq's default socket directory, and TCP
//! 127.0.0.1:5432, each used only when it could be bound. Every line of a file has a distinct
//! password, so psql succeeds exactly when libpq chose the same line; when dbcore chooses
//! nothing, psql must fail with "no password supplied". Set `DBCORE_PGPASS_SEED` to replay a
//! generated run (on a machine where the same default addresses could be bound: targets whose
//! address is unreachable are drawn again).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use adapters::credentials::pgpass::{DEFAULT_SOCKET_DIR, PgpassSource};
use domain::{CredentialSource, DbKind, ExposeSecret, Lookup, MapEnv, TargetIdentity};
use tests::pg::{PgCluster, cluster, quote_ident, quote_literal};

const ROLES: &[&str] = &["alice", "bob", "we:ird\\u"];
const DATABASES: &[&str] = &["app", "oth:er"];
/// libpq's default port (`DEF_PGPORT`).
const DEFAULT_PORT: u16 = 5432;

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

/// What a target gives dbcore (and, unchanged, psql).
#[derive(Debug, Clone)]
struct Target {
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    user: String,
}

impl Target {
    fn new(host: Option<&str>, port: Option<u16>, database: Option<&str>, user: &str) -> Self {
        Self {
            host: host.map(str::to_owned),
            port,
            database: database.map(str::to_owned),
            user: user.to_owned(),
        }
    }

    /// Where libpq will connect: a Unix socket path, or `host:port`.
    fn address(&self) -> String {
        let port = self.port.unwrap_or(DEFAULT_PORT);
        match self.host.as_deref() {
            None | Some("") => format!("{DEFAULT_SOCKET_DIR}/.s.PGSQL.{port}"),
            Some(dir) if dir.starts_with('/') => format!("{dir}/.s.PGSQL.{port}"),
            Some(host) => format!("{host}:{port}"),
        }
    }

    /// The conninfo string: only what the target has.
    fn conninfo(&self) -> String {
        let mut out = String::from("sslmode=disable connect_timeout=5");
        if let Some(host) = &self.host {
            out.push_str(&format!(" host={}", conninfo_value(host)));
        }
        if let Some(port) = self.port {
            out.push_str(&format!(" port={port}"));
        }
        if let Some(database) = &self.database {
            out.push_str(&format!(" dbname={}", conninfo_value(database)));
        }
        out.push_str(&format!(" user={}", conninfo_value(&self.user)));
        out
    }
}

/// Values a generated line's field is built from for `target`: the target's own value, what
/// libpq defaults it to, and near misses that a wrong defaulting rule would match instead.
fn candidates(target: &Target, port: u16) -> [Vec<String>; 3] {
    let hosts = match target.host.as_deref() {
        None | Some("") => vec!["localhost", "", DEFAULT_SOCKET_DIR, "127.0.0.1"],
        Some(DEFAULT_SOCKET_DIR) => vec!["localhost", DEFAULT_SOCKET_DIR, ""],
        Some(h) if h.starts_with('/') => vec![h, "localhost"],
        Some("localhost") => vec!["localhost", "127.0.0.1"],
        Some(h) => vec![h, "localhost"],
    };
    let ports = match target.port {
        None => vec!["5432".to_owned(), String::new(), port.to_string()],
        Some(p) => vec![p.to_string(), "5432".to_owned()],
    };
    let databases = match target.database.as_deref() {
        None | Some("") => vec![target.user.clone(), String::new(), "postgres".to_owned()],
        Some(d) => vec![d.to_owned(), target.user.clone()],
    };
    [
        hosts.into_iter().map(str::to_owned).collect(),
        ports,
        databases,
    ]
}

/// A field aimed at `values[0]` (the value that should match): mostly that value, carefully
/// escaped; sometimes another spelling, a wildcard, or a near miss from `values`.
fn aimed_field(rng: &mut Rng, values: &[String]) -> String {
    let value = if rng.chance(80) {
        &values[0]
    } else {
        &values[rng.below(values.len())]
    };
    match rng.below(20) {
        0..=2 => field(rng, value, &["db.example", "1"]),
        3 | 4 => "*".into(),
        _ => escape(value),
    }
}

fn generated_file(rng: &mut Rng, target: &Target, port: u16, hosts: &[&str]) -> String {
    let [host_values, port_values, database_values] = candidates(target, port);
    let mut out = String::new();
    let lines = 1 + rng.below(6);
    for n in 0..lines {
        let newline = if rng.chance(15) { "\r\n" } else { "\n" };
        match rng.below(14) {
            0 => out.push_str(&format!("#*:*:*:*:comment{n}{newline}")),
            1 => out.push_str(newline),
            2 => out.push_str(&format!("*:*:*:short{n}{newline}")),
            3 => out.push_str(&format!(" #*:*:*:*:notcomment{n}{newline}")),
            4 | 5 => {
                // A line about some other target.
                let (host, database, user) =
                    (rng.pick(hosts), rng.pick(DATABASES), rng.pick(ROLES));
                let host = field(rng, host, &["localhost", "db.example"]);
                let port_field = field(rng, &port.to_string(), &["5432", "1"]);
                let database = field(rng, database, &["postgres", "App"]);
                let user = field(rng, user, &["Alice", "carol"]);
                let (written, _) = password(rng, n);
                out.push_str(&format!(
                    "{host}:{port_field}:{database}:{user}:{written}{newline}"
                ));
            }
            _ => {
                // A line aimed at this target.
                let host = aimed_field(rng, &host_values);
                let port_field = aimed_field(rng, &port_values);
                let database = aimed_field(rng, &database_values);
                let user = if rng.chance(90) {
                    escape(&target.user)
                } else {
                    field(rng, &target.user, &["Alice", "carol"])
                };
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

/// Forwards every connection made to its listeners to the test cluster's TCP port, and
/// removes its socket files when dropped.
struct Forwarders {
    sockets: Vec<PathBuf>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The addresses (as [`Target::address`] spells them) that reach the cluster.
    reachable: Vec<String>,
}

impl Drop for Forwarders {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for socket in &self.sockets {
            let _ = std::fs::remove_file(socket);
        }
    }
}

impl Forwarders {
    fn new(pg: &PgCluster) -> Self {
        Self {
            sockets: Vec::new(),
            tasks: Vec::new(),
            reachable: vec![
                format!("127.0.0.1:{}", pg.port()),
                format!("localhost:{}", pg.port()),
                format!("{}/.s.PGSQL.{}", pg.socket_dir().display(), pg.port()),
            ],
        }
    }

    fn upstream(port: u16) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A Unix socket at `path`; a stale file (nobody listening) is replaced, a live one kept.
    fn unix(&mut self, path: &Path, upstream: u16) -> Result<(), String> {
        if path.exists() {
            match std::os::unix::net::UnixStream::connect(path) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path).map_err(|e| e.to_string())?;
                }
                Ok(_) => return Err("a server already listens there".into()),
                Err(e) => return Err(e.to_string()),
            }
        }
        let listener = tokio::net::UnixListener::bind(path).map_err(|e| e.to_string())?;
        self.sockets.push(path.to_owned());
        self.tasks.push(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut out) =
                        tokio::net::TcpStream::connect(Self::upstream(upstream)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
            }
        }));
        self.reachable.push(path.display().to_string());
        Ok(())
    }

    fn tcp(&mut self, port: u16, upstream: u16) -> Result<(), String> {
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
        self.tasks.push(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut out) =
                        tokio::net::TcpStream::connect(Self::upstream(upstream)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
            }
        }));
        self.reachable.push(format!("127.0.0.1:{port}"));
        Ok(())
    }

    fn reaches(&self, target: &Target) -> bool {
        self.reachable.contains(&target.address())
    }
}

/// dbcore's choice for `target`: its pgpass source, as a chain would ask it.
async fn dbcore_choice(file: &Path, target: &Target) -> Result<Option<String>, String> {
    let env = MapEnv::new().with("PGPASSFILE", file.to_str().unwrap());
    let source = PgpassSource::new("PROJECT_DB_DIFF", Arc::new(env));
    let identity = TargetIdentity {
        name: "diff".into(),
        kind: DbKind::Postgres,
        host: target.host.clone(),
        port: target.port,
        database: target.database.clone(),
        user: Some(target.user.clone()),
    };
    match source.lookup(&identity).await {
        Ok(Lookup::Found(credential)) => Ok(Some(credential.password.expose_secret().to_owned())),
        Ok(Lookup::NotFound { .. }) => Ok(None),
        Ok(Lookup::Unavailable { reason }) => Err(format!("unavailable: {reason}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Connects with libpq and the pgpass file; `Ok` when authentication succeeded.
async fn psql(pg: &PgCluster, home: &Path, file: &Path, target: &Target) -> Result<(), String> {
    let psql = if pg.bin("psql").exists() {
        pg.bin("psql")
    } else {
        "psql".into()
    };
    let out = tokio::process::Command::new(psql)
        .args(["-w", "-X", "-A", "-t", "-c", "select 1", &target.conninfo()])
        .env_clear()
        .env("PGPASSFILE", file)
        .env("HOME", home)
        .output()
        .await
        .expect("psql runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    // A target without a database reaches the database named after its user.
    for database in DATABASES.iter().chain(ROLES) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "create database {}",
            quote_ident(database)
        )))
        .execute(&superuser)
        .await
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgpass");
    let private = tempfile::tempdir().unwrap();
    let private_dir = private.path().display().to_string();
    let port = pg.port();

    let mut forwarders = Forwarders::new(pg);
    let mut missing = Vec::new();
    for (path, listen) in [
        (private.path().to_owned(), port),
        (private.path().to_owned(), DEFAULT_PORT),
        (PathBuf::from(DEFAULT_SOCKET_DIR), port),
        (PathBuf::from(DEFAULT_SOCKET_DIR), DEFAULT_PORT),
    ] {
        let socket = path.join(format!(".s.PGSQL.{listen}"));
        if let Err(why) = forwarders.unix(&socket, port) {
            missing.push(format!("{}: {why}", socket.display()));
        }
    }
    if let Err(why) = forwarders.tcp(DEFAULT_PORT, port) {
        missing.push(format!("127.0.0.1:{DEFAULT_PORT}: {why}"));
    }
    // The private directory's sockets are ours alone: libpq's port and database defaulting is
    // always exercised there, whatever else this machine runs.
    assert!(
        missing.iter().all(|m| !m.starts_with(&private_dir)),
        "{missing:?}"
    );

    let socket = pg.socket_dir().display().to_string();
    let t = |host: &str, database: &str, user: &str| {
        Target::new(Some(host), Some(port), Some(database), user)
    };
    let mut cases: Vec<(String, Target)> = vec![
        (
            format!("127.0.0.1:{port}:app:alice:plain\n"),
            t("127.0.0.1", "app", "alice"),
        ),
        (
            format!("*:*:*:*:first\n127.0.0.1:{port}:app:alice:second\n"),
            t("127.0.0.1", "app", "alice"),
        ),
        (
            format!("127.0.0.1:{port}:oth\\:er:we\\:ird\\\\u:esc\\:aped\\\\pw\n"),
            t("127.0.0.1", "oth:er", "we:ird\\u"),
        ),
        (
            format!("127.0.0.1:{port}:oth:er:we:ird\\\\u:unescaped-colons\n"),
            t("127.0.0.1", "oth:er", "we:ird\\u"),
        ),
        (
            format!("{socket}:{port}:app:bob:via-socket\n"),
            t(&socket, "app", "bob"),
        ),
        (
            format!("localhost:{port}:app:bob:not-for-a-socket\n"),
            t(&socket, "app", "bob"),
        ),
        (
            format!(
                "#127.0.0.1:{port}:app:alice:commented\n #x:1:2:3:4\r\n\r\n*:{port}:app:alice:after-blank\r\n"
            ),
            t("127.0.0.1", "app", "alice"),
        ),
        (
            format!("127.0.0.1:{port}:app:alice\n*:*:*:alice:five-fields"),
            t("127.0.0.1", "app", "alice"),
        ),
        (
            format!("127.0.0.1:{port}:app:alice:pw:with:colons\n"),
            t("127.0.0.1", "app", "alice"),
        ),
        (
            format!("127.0.0.1:{port}:app:ali*:star-in-field\n"),
            t("127.0.0.1", "app", "alice"),
        ),
        (
            format!("127.0.0.1:{port}:app:alice:trailing\\\n"),
            t("127.0.0.1", "app", "alice"),
        ),
        (
            format!("{}:*:*:*:long-line\n*:*:*:*:after-long", "h".repeat(5000)),
            t("127.0.0.1", "app", "alice"),
        ),
        // libpq's defaults: no port is 5432, no database is the user, no host, an empty host
        // and the default socket directory are `localhost`; a field left empty matches nothing.
        (
            format!(
                "{private_dir}::alice:alice:empty-port\n{private_dir}:5432:alice:alice:defaults\n"
            ),
            Target::new(Some(&private_dir), None, None, "alice"),
        ),
        (
            format!("{private_dir}:5432::bob:empty-db\n{private_dir}:5432:bob:bob:db-is-user\n"),
            Target::new(Some(&private_dir), None, Some(""), "bob"),
        ),
        (
            format!("{private_dir}:{port}:app:bob:literal-socket\n"),
            Target::new(Some(&private_dir), Some(port), Some("app"), "bob"),
        ),
        (
            format!(":{port}:app:alice:empty-host\nlocalhost:{port}:app:alice:localhost\n"),
            Target::new(None, Some(port), Some("app"), "alice"),
        ),
        (
            format!(
                "{DEFAULT_SOCKET_DIR}:{port}:app:alice:literal-default\nlocalhost:{port}:app:alice:as-localhost\n"
            ),
            Target::new(Some(DEFAULT_SOCKET_DIR), Some(port), Some("app"), "alice"),
        ),
        (
            format!("localhost:{port}:app:bob:empty-is-localhost\n"),
            Target::new(Some(""), Some(port), Some("app"), "bob"),
        ),
        (
            "localhost:5432:alice:alice:all-defaults\n".to_owned(),
            Target::new(None, None, None, "alice"),
        ),
        (
            "127.0.0.1:5432:bob:bob:tcp-defaults\n".to_owned(),
            Target::new(Some("127.0.0.1"), None, None, "bob"),
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
    eprintln!("pgpass differential: seed {seed} (replay with DBCORE_PGPASS_SEED={seed})");
    let hand_picked = cases.len();
    let mut rng = Rng(seed);
    let hosts = [
        "127.0.0.1",
        "localhost",
        "",
        DEFAULT_SOCKET_DIR,
        private_dir.as_str(),
    ];
    let mut generated = 0;
    while generated < 300 {
        let host = rng.pick(&hosts);
        let host = if rng.chance(15) { None } else { Some(host) };
        let target_port = if rng.chance(40) { None } else { Some(port) };
        let database = match rng.below(5) {
            0 => None,
            1 => Some(""),
            _ => Some(rng.pick(DATABASES)),
        };
        let target = Target::new(host, target_port, database, rng.pick(ROLES));
        let file = generated_file(&mut rng, &target, port, &hosts);
        if forwarders.reaches(&target) {
            cases.push((file, target));
            generated += 1;
        }
    }

    let (mut matched, mut unmatched, mut generated_matched, mut skipped) = (0, 0, 0, 0);
    for (n, (contents, target)) in cases.iter().enumerate() {
        if !forwarders.reaches(target) {
            skipped += 1;
            continue;
        }
        std::fs::write(&file, contents).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ours = dbcore_choice(&file, target).await;
        let context = format!(
            "seed {seed}, case {n}, target {target:?} (psql: {}), file {contents:?}, ours {ours:?}",
            target.conninfo()
        );
        let ours = ours.unwrap_or_else(|e| panic!("dbcore failed: {e}\n{context}"));
        match ours.as_deref() {
            Some(password) if !password.is_empty() => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "alter role {} password {}",
                    quote_ident(&target.user),
                    quote_literal(password)
                )))
                .execute(&superuser)
                .await
                .unwrap();
                if let Err(e) = psql(pg, dir.path(), &file, target).await {
                    panic!("libpq chose another password: {e}\n{context}");
                }
                matched += 1;
                if n >= hand_picked {
                    generated_matched += 1;
                }
            }
            _ => {
                // No password, or an empty one, which libpq treats as none.
                let err = psql(pg, dir.path(), &file, target)
                    .await
                    .expect_err(&context);
                assert!(err.contains("no password supplied"), "{err}\n{context}");
                unmatched += 1;
            }
        }
    }
    let share = generated_matched * 100 / generated;
    eprintln!(
        "pgpass differential: {} cases ({matched} with a password, {unmatched} without, {skipped} hand-picked ones skipped: unreachable default address); generated cases with a password: {generated_matched} of {generated} ({share}%); seed {seed}",
        cases.len()
    );
    for m in &missing {
        eprintln!("pgpass differential: not reachable, cases there left out: {m}");
    }
    assert!(
        share >= 40 && unmatched > 10,
        "the generator should produce both kinds of case, at least 40% with a password (seed {seed})"
    );
}
