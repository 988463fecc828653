//! `dbcore` and the standard API against a real, throwaway PostgreSQL.

use std::sync::Arc;

use domain::MapEnv;
use project_core::db::DatabaseConnection;
use project_core::{DbError, context_with, registry};
use sqlx::Postgres;
use tests::bin::{ConfigDir, run};
use tests::pg::{PgCluster, cluster};

/// Each target its own environment prefix: several are open in this process at once.
fn prefix(name: &str) -> String {
    format!("T_{}", name.to_uppercase())
}

/// A target file for a role/database of the same name, reached over TCP.
fn target_toml(pg: &PgCluster, name: &str, sources: &str) -> String {
    format!(
        "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{name}\"\nuser = \"{name}\"\nsources = [{sources}]\nenv_prefix = \"{}\"\n",
        pg.port(),
        prefix(name)
    )
}

#[tokio::test]
async fn ping_and_explain_with_a_pgpass_file() {
    let Some(pg) = cluster() else { return };
    pg.create_role_and_database("ping_ok", "right-pw").await;
    let config = ConfigDir::new();
    config.target("t", &target_toml(pg, "ping_ok", "\"env\", \"pgpass\""));
    let pgpass = config.secret_file(
        "pgpass",
        &format!(
            "# comment\n127.0.0.1:{}:ping_ok:ping_ok:right-pw\n",
            pg.port()
        ),
    );
    let env = [
        ("T_PING_OK_PGPASS", pgpass.as_str()),
        ("HOME", config.path_str()),
    ];

    let ping = run(
        "dbcore",
        &[
            "--config-dir",
            config.path_str(),
            "ping",
            "t",
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(ping.code, Some(0), "{ping:?}");
    let json = ping.json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["current_user"], "ping_ok");
    assert_eq!(json["database"], "ping_ok");
    assert!(
        json["server_version"]
            .as_str()
            .unwrap()
            .starts_with("PostgreSQL ")
    );
    assert_eq!(json["credential"]["source"], "pgpass");
    assert!(json["round_trip_ms"].as_f64().unwrap() > 0.0);

    let text = run(
        "dbcore",
        &["--config-dir", config.path_str(), "ping", "t"],
        &env,
    );
    assert_eq!(text.code, Some(0), "{text:?}");
    assert!(
        text.stdout.contains("user:       ping_ok"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains(&format!("credential: pgpass ({pgpass} line 2)")),
        "{}",
        text.stdout
    );

    let explain = run(
        "dbcore",
        &[
            "--config-dir",
            config.path_str(),
            "explain",
            "t",
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(explain.code, Some(0), "{explain:?}");
    let json = explain.json();
    assert_eq!(json["target"], "t");
    assert_eq!(json["kind"], "postgres");
    assert_eq!(
        json["settings"]["port"]["value"],
        pg.port(),
        "a port is a number"
    );
    assert_eq!(
        json["attempts"],
        serde_json::json!([
            {"source": "env", "outcome": "not_found", "detail": "T_PING_OK_PASSWORD is not set"},
            {"source": "pgpass", "outcome": "found", "detail": format!("found in {pgpass} line 2")},
        ])
    );
    assert_eq!(
        json["credential"],
        serde_json::json!({"source": "pgpass", "username": "ping_ok"})
    );

    let text = run(
        "dbcore",
        &["--config-dir", config.path_str(), "explain", "t"],
        &env,
    );
    assert!(
        text.stdout
            .contains(&format!("2. pgpass (found): found in {pgpass} line 2")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("1. env (not found): T_PING_OK_PASSWORD is not set"),
        "{}",
        text.stdout
    );
}

#[tokio::test]
async fn a_wrong_password_names_the_source_file_and_line() {
    let Some(pg) = cluster() else { return };
    pg.create_role_and_database("wrong_pw", "the-real-one")
        .await;
    let config = ConfigDir::new();
    config.target("t", &target_toml(pg, "wrong_pw", "\"pgpass\""));
    let pgpass = config.secret_file("pgpass", "*:*:*:wrong_pw:not-the-real-one\n");
    let run = run(
        "dbcore",
        &["--config-dir", config.path_str(), "ping", "t"],
        &[("T_WRONG_PW_PGPASS", pgpass.as_str())],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("authentication failed connecting to 127.0.0.1:"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("as user \"wrong_pw\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("password from pgpass ({pgpass} line 1)")),
        "{}",
        run.stderr
    );
    assert!(!run.all_output().contains("not-the-real-one"));
}

#[tokio::test]
async fn an_unknown_database_is_classified() {
    let Some(pg) = cluster() else { return };
    pg.create_role_and_database("no_db_user", "pw").await;
    let config = ConfigDir::new();
    config.target(
        "t",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"missing_db\"\nuser = \"no_db_user\"\nsources = [\"env\"]\nenv_prefix = \"T\"\n",
            pg.port()
        ),
    );
    let run = run(
        "dbcore",
        &[
            "--config-dir",
            config.path_str(),
            "ping",
            "t",
            "--format",
            "json",
        ],
        &[("T_PASSWORD", "pw")],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    let json = run.json();
    assert_eq!(json["error"]["kind"], "database_does_not_exist");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing_db")
    );
}

#[tokio::test]
async fn a_unix_socket_directory_as_host() {
    let Some(pg) = cluster() else { return };
    pg.create_role_and_database("sock_user", "sock-pw").await;
    let socket = pg.socket_dir().display().to_string();
    let config = ConfigDir::new();
    config.target(
        "t",
        &format!(
            "kind = \"postgres\"\nhost = \"{socket}\"\nport = {}\ndatabase = \"sock_user\"\nuser = \"sock_user\"\nsources = [\"pgpass\"]\nenv_prefix = \"T\"\n",
            pg.port()
        ),
    );
    // A socket path that is not the default directory is matched literally, as in libpq.
    let pgpass = config.secret_file(
        "pgpass",
        &format!(
            "localhost:*:*:*:wrong\n{socket}:{}:sock_user:sock_user:sock-pw\n",
            pg.port()
        ),
    );
    let run = run(
        "dbcore",
        &["--config-dir", config.path_str(), "ping", "t"],
        &[("T_PGPASS", pgpass.as_str())],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("line 2)"), "{}", run.stdout);
}

#[tokio::test]
async fn sqlx_never_reads_pgpassword_or_the_home_pgpass_behind_the_chain() {
    let Some(pg) = cluster() else { return };
    pg.create_role_and_database("no_fallback", "known-pw").await;
    let config = ConfigDir::new();
    config.target("t", &target_toml(pg, "no_fallback", "\"env\""));
    config.secret_file(".pgpass", "*:*:*:*:known-pw\n");
    let run = run(
        "dbcore",
        &["--config-dir", config.path_str(), "ping", "t"],
        &[
            ("PGPASSWORD", "known-pw"),
            ("HOME", config.path_str()),
            ("PGPASSFILE", ""),
        ],
    );
    assert_eq!(
        run.code,
        Some(1),
        "the chain found nothing, so no password is sent: {run:?}"
    );
    assert!(
        run.stderr.contains("authentication failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "no source supplied a password (env (not found): T_NO_FALLBACK_PASSWORD is not set)"
        ),
        "{}",
        run.stderr
    );
}

async fn open(pg: &PgCluster, name: &str, extra: &str) -> DatabaseConnection {
    pg.create_role_and_database(name, "lib-pw").await;
    let config = ConfigDir::new();
    config.target(
        name,
        &format!("{}{extra}", target_toml(pg, name, "\"env\"")),
    );
    let ctx = context_with(
        Some(config.path()),
        Arc::new(MapEnv::new().with(format!("{}_PASSWORD", prefix(name)), "lib-pw")),
    );
    registry::open(name, &ctx).await.expect("opens")
}

#[tokio::test]
async fn connection_options_reach_the_server() {
    let Some(pg) = cluster() else { return };
    let db = open(
        pg,
        "opts",
        "application_name = \"dbcore-test\"\nsearch_path = [\"app schema\", \"public\"]\nstatement_timeout = \"300ms\"\n[pool]\nmax_connections = 3\n",
    )
    .await;
    let pool = db.pool::<Postgres>().unwrap();
    let (app, path, timeout): (String, String, String) =
        sqlx::query_as("select current_setting('application_name'), current_setting('search_path'), current_setting('statement_timeout')")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(app, "dbcore-test");
    assert_eq!(path, "\"app schema\",\"public\"");
    assert_eq!(timeout, "300ms");
    let slow = sqlx::query("select pg_sleep(2)")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(slow.to_string().contains("statement timeout"), "{slow}");
    assert_eq!(pool.options().get_max_connections(), 3);
}

#[tokio::test]
async fn the_default_application_name_is_the_binary_name() {
    let Some(pg) = cluster() else { return };
    let db = open(pg, "appname", "").await;
    let name: String = sqlx::query_scalar("select current_setting('application_name')")
        .fetch_one(db.pool::<Postgres>().unwrap())
        .await
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    assert_eq!(name, exe.file_stem().unwrap().to_str().unwrap());
}

#[derive(Debug)]
struct Rejected;

impl From<DbError> for Rejected {
    fn from(_: DbError) -> Self {
        Rejected
    }
}

#[tokio::test]
async fn session_scope_on_postgres_commits_rolls_back_and_nests() {
    let Some(pg) = cluster() else { return };
    let db = open(pg, "scopes", "").await;
    sqlx::query("create table items(name text)")
        .execute(db.pool::<Postgres>().unwrap())
        .await
        .unwrap();
    let insert = async |tx: &mut project_core::db::Tx<Postgres>, name: &str| {
        sqlx::query("insert into items values ($1)")
            .bind(name.to_owned())
            .execute(&mut **tx)
            .await
            .map(|_| ())
            .map_err(|_| Rejected)
    };
    db.session_scope::<Postgres, _, Rejected, _>(async |tx| {
        insert(tx, "outer").await?;
        let inner = tx
            .scope::<(), Rejected, _>(async |tx| {
                insert(tx, "inner rolled back").await?;
                Err(Rejected)
            })
            .await;
        assert!(matches!(inner, Err(Rejected)), "{inner:?}");
        tx.scope::<(), Rejected, _>(async |tx| insert(tx, "inner kept").await)
            .await
    })
    .await
    .unwrap();
    let all = db
        .session_scope::<Postgres, (), Rejected, _>(async |tx| {
            insert(tx, "all rolled back").await?;
            Err(Rejected)
        })
        .await;
    assert!(matches!(all, Err(Rejected)), "{all:?}");
    let names: Vec<String> = sqlx::query_scalar("select name from items order by name")
        .fetch_all(db.pool::<Postgres>().unwrap())
        .await
        .unwrap();
    assert_eq!(names, vec!["inner kept", "outer"]);
}

/// A panic inside a nested scope rolls back to its savepoint: caught by the outer scope, the
/// outer transaction goes on and commits without the inner work; not caught, it unwinds
/// through the outer scope, which rolls everything back, and goes on to the caller.
#[tokio::test]
async fn a_panic_inside_a_nested_scope_rolls_back_to_its_savepoint_on_postgres() {
    use futures::FutureExt as _;
    let Some(pg) = cluster() else { return };
    let db = std::sync::Arc::new(open(pg, "scope_panics", "").await);
    sqlx::query("create table items(name text)")
        .execute(db.pool::<Postgres>().unwrap())
        .await
        .unwrap();
    let insert = async |tx: &mut project_core::db::Tx<Postgres>, name: &'static str| {
        sqlx::query("insert into items values ($1)")
            .bind(name)
            .execute(&mut **tx)
            .await
            .map(|_| ())
            .map_err(|_| Rejected)
    };
    db.session_scope::<Postgres, _, Rejected, _>(async |tx| {
        insert(tx, "outer").await?;
        let caught = std::panic::AssertUnwindSafe(tx.scope::<(), Rejected, _>(async |tx| {
            insert(tx, "inner before the panic").await?;
            panic!("the app panics inside a nested scope");
        }))
        .catch_unwind()
        .await;
        assert!(caught.is_err(), "the panic reaches the outer scope");
        insert(tx, "outer after the panic").await
    })
    .await
    .expect("the outer transaction commits");

    let db2 = db.clone();
    let joined = tokio::spawn(async move {
        let _: Result<(), Rejected> = db2
            .session_scope::<Postgres, _, Rejected, _>(async |tx| {
                insert(tx, "outer, unwound").await?;
                tx.scope::<(), Rejected, _>(async |tx| {
                    insert(tx, "inner, unwound").await?;
                    panic!("not caught");
                })
                .await
            })
            .await;
    })
    .await;
    assert!(joined.expect_err("the panic goes on").is_panic());
    let names: Vec<String> = sqlx::query_scalar("select name from items order by name")
        .fetch_all(db.pool::<Postgres>().unwrap())
        .await
        .unwrap();
    assert_eq!(names, vec!["outer", "outer after the panic"]);
}

#[tokio::test]
async fn tls_required_by_the_target_but_not_offered_by_the_server_is_a_tls_error() {
    let Some(pg) = cluster() else { return };
    pg.create_role_and_database("tls_user", "pw").await;
    let config = ConfigDir::new();
    config.target(
        "t",
        &format!(
            "{}sslmode = \"require\"\n",
            target_toml(pg, "tls_user", "\"env\"")
        ),
    );
    let run = run(
        "dbcore",
        &[
            "--config-dir",
            config.path_str(),
            "ping",
            "t",
            "--format",
            "json",
        ],
        &[("T_TLS_USER_PASSWORD", "pw")],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "tls", "{run:?}");
}

#[tokio::test]
async fn an_unknown_host_is_unreachable() {
    let config = ConfigDir::new();
    config.target(
        "t",
        "kind = \"postgres\"\nhost = \"no-such-host.invalid\"\nuser = \"u\"\ndatabase = \"d\"\nsources = []\n",
    );
    let run = run(
        "dbcore",
        &[
            "--config-dir",
            config.path_str(),
            "ping",
            "t",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "unreachable", "{run:?}");
    let message = run.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("no-such-host.invalid:5432/d"), "{message}");
}

// ---- SCRAM and user names (issue 10, item 8) ----
//
// PostgreSQL takes the user name from the startup packet; the one in SCRAM's client-first
// message is ignored, so libpq sends it empty. A client that writes the name there unescaped
// breaks on `,` and `=` (RFC 5802 syntax) and, through SASLprep, on names SASLprep refuses.

/// Role names that stress SCRAM's attribute syntax, SASLprep and multi-byte encoding.
const SCRAM_ROLES: &[&str] = &[
    "md5,role",
    "a=b",
    "a,=b",
    "x,r=forged-nonce",
    "zoë 東京 ü",
    "a role with spaces",
    "emoji 😀 role",
];

/// A libpq connection-string value, quoted.
fn conninfo_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A TOML basic string.
fn toml_quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `current_user` as `psql` (libpq) logs in with `password`, or its error.
fn psql_current_user(pg: &PgCluster, user: &str, password: &str) -> Result<String, String> {
    let psql = if pg.bin("psql").exists() {
        pg.bin("psql")
    } else {
        "psql".into()
    };
    let conninfo = format!(
        "host=127.0.0.1 port={} dbname=postgres user={} sslmode=disable connect_timeout=5",
        pg.port(),
        conninfo_quote(user)
    );
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(psql)
        .args([
            "-w",
            "-X",
            "-A",
            "-t",
            "-c",
            "select current_user",
            &conninfo,
        ])
        .env_clear()
        .env("PGPASSWORD", password)
        .env("HOME", home.path())
        .output()
        .expect("psql runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A login role with a SCRAM verifier for `password` (checked, so no test passes on md5).
async fn create_scram_role(pg: &PgCluster, role: &str, password: &str) {
    let pool = pg.superuser().await;
    sqlx::query("set password_encryption = 'scram-sha-256'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "create role {} login password {}",
        tests::pg::quote_ident(role),
        tests::pg::quote_literal(password)
    )))
    .execute(&pool)
    .await
    .unwrap();
    let verifier: String =
        sqlx::query_scalar("select rolpassword from pg_authid where rolname = $1")
            .bind(role.to_owned())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(verifier.starts_with("SCRAM-SHA-256$"), "{role}: {verifier}");
    pool.close().await;
}

/// A target `name` for `user` on the `postgres` database, password from the env source.
fn scram_target(pg: &PgCluster, user: &str, env_prefix: &str) -> String {
    format!(
        "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"postgres\"\nuser = {}\nsources = [\"env\", \"pgpass\"]\nenv_prefix = \"{env_prefix}\"\nsslmode = \"disable\"\n",
        pg.port(),
        toml_quote(user)
    )
}

/// Opens the target through the registry and returns `current_user`, or the error's text.
async fn dbcore_current_user(
    pg: &PgCluster,
    user: &str,
    password: &str,
    env_prefix: &str,
) -> Result<String, String> {
    let config = ConfigDir::new();
    let name = env_prefix.to_lowercase().replace('_', "-");
    config.target(&name, &scram_target(pg, user, env_prefix));
    let ctx = context_with(
        Some(config.path()),
        Arc::new(MapEnv::new().with(format!("{env_prefix}_PASSWORD"), password)),
    );
    let db = registry::open(&name, &ctx)
        .await
        .map_err(|e| e.to_string())?;
    let current: String = sqlx::query_scalar("select current_user::text")
        .fetch_one(db.pool::<Postgres>().unwrap())
        .await
        .map_err(|e| e.to_string())?;
    db.close().await;
    Ok(current)
}

#[tokio::test]
async fn scram_user_names_with_syntax_characters_log_in_as_with_psql() {
    let Some(pg) = cluster() else { return };
    let mut failures = Vec::new();
    for (i, role) in SCRAM_ROLES.iter().enumerate() {
        let password = format!("scram-pw-{i}");
        create_scram_role(pg, role, &password).await;
        assert_eq!(
            psql_current_user(pg, role, &password).as_deref(),
            Ok(*role),
            "psql, the oracle, logs in as {role:?}"
        );
        let dbcore = dbcore_current_user(pg, role, &password, &format!("SCRAM_NAME_{i}")).await;
        if dbcore.as_deref() != Ok(*role) {
            failures.push(format!("{role:?}: {dbcore:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "dbcore cannot log in as:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn scram_passwords_that_saslprep_refuses_are_used_as_is_like_libpq() {
    let Some(pg) = cluster() else { return };
    // A control character (SASLprep "prohibited"), a code point unassigned in Unicode 3.2, and
    // one that SASLprep maps (NFKC), so both the fallback and normalisation are exercised.
    let passwords = [
        "tab\there",
        "smile 😀 pw",
        "ﬁne ligature",
        "nbsp\u{a0}and\u{200b}zwsp",
    ];
    let mut failures = Vec::new();
    for (i, password) in passwords.iter().enumerate() {
        let role = format!("scram_pw_{i}");
        create_scram_role(pg, &role, password).await;
        assert_eq!(
            psql_current_user(pg, &role, password).as_deref(),
            Ok(role.as_str()),
            "psql, the oracle, logs in with password #{i}"
        );
        match dbcore_current_user(pg, &role, password, &format!("SCRAM_PW_{i}")).await {
            Ok(user) => assert_eq!(user, role),
            Err(e) => {
                for c in password
                    .chars()
                    .filter(|c| !c.is_ascii_alphanumeric() && *c != ' ')
                {
                    assert!(
                        !e.contains(c),
                        "the error shows a character of the password: {e}"
                    );
                }
                failures.push(format!("password #{i}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn admin_ping_as_a_role_with_a_comma_in_its_name() {
    let Some(pg) = cluster() else { return };
    let role = "ping,role=x";
    create_scram_role(pg, role, "ping-comma-pw").await;
    let config = ConfigDir::new();
    config.target("t", &scram_target(pg, role, "T_PING_COMMA"));
    let pgpass = config.secret_file(
        "pgpass",
        &format!("127.0.0.1:{}:postgres:{role}:ping-comma-pw\n", pg.port()),
    );
    let ping = run(
        "dbcore",
        &[
            "--config-dir",
            config.path_str(),
            "ping",
            "t",
            "--format",
            "json",
        ],
        &[
            ("T_PING_COMMA_PGPASS", pgpass.as_str()),
            ("HOME", config.path_str()),
        ],
    );
    assert_eq!(ping.code, Some(0), "{ping:?}");
    let json = ping.json();
    assert_eq!(json["current_user"], role);
    assert_eq!(json["credential"]["source"], "pgpass");
    assert!(!ping.all_output().contains("ping-comma-pw"));
}

/// How the fake server below ends a SCRAM exchange.
#[derive(Debug, Clone, Copy)]
enum ScramEnd {
    /// An `ErrorResponse` right after the client-first message, as PostgreSQL sends when it
    /// cannot parse it.
    ServerError {
        code: &'static str,
        message: &'static str,
        detail: &'static str,
    },
    /// The whole exchange, closed by a server signature that cannot be right: a server that
    /// does not know the password (or is not the server).
    WrongServerSignature,
}

async fn send_message(
    stream: &mut tokio::net::TcpStream,
    tag: u8,
    body: &[u8],
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut frame = vec![tag];
    frame.extend_from_slice(&i32::try_from(body.len() + 4).unwrap().to_be_bytes());
    frame.extend_from_slice(body);
    stream.write_all(&frame).await
}

async fn recv_body(stream: &mut tokio::net::TcpStream) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let len = usize::try_from(stream.read_i32().await?).unwrap();
    let mut body = vec![0; len - 4];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// One connection of the fake server; records each client-first message it receives.
async fn serve_scram(
    mut stream: tokio::net::TcpStream,
    end: ScramEnd,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt;
    // An SSLRequest is answered "N"; then the startup packet.
    while recv_body(&mut stream)
        .await?
        .starts_with(&80877103i32.to_be_bytes())
    {
        use tokio::io::AsyncWriteExt;
        stream.write_all(b"N").await?;
    }
    send_message(&mut stream, b'R', b"\0\0\0\x0aSCRAM-SHA-256\0\0").await?;
    assert_eq!(stream.read_u8().await?, b'p');
    let body = recv_body(&mut stream).await?;
    let nul = body.iter().position(|&b| b == 0).unwrap();
    let first = String::from_utf8_lossy(&body[nul + 5..]).into_owned();
    seen.lock().unwrap().push(first.clone());
    match end {
        ScramEnd::ServerError {
            code,
            message,
            detail,
        } => {
            let mut fields = Vec::new();
            for (field, value) in [
                (b'S', "FATAL"),
                (b'V', "FATAL"),
                (b'C', code),
                (b'M', message),
                (b'D', detail),
            ] {
                fields.push(field);
                fields.extend_from_slice(value.as_bytes());
                fields.push(0);
            }
            fields.push(0);
            send_message(&mut stream, b'E', &fields).await?;
        }
        ScramEnd::WrongServerSignature => {
            let nonce = first
                .split(',')
                .find_map(|attr| attr.strip_prefix("r="))
                .unwrap()
                .to_owned();
            let mut cont = 11i32.to_be_bytes().to_vec();
            cont.extend_from_slice(format!("r={nonce}fakeserver,s=c2FsdA==,i=4096").as_bytes());
            send_message(&mut stream, b'R', &cont).await?;
            assert_eq!(stream.read_u8().await?, b'p');
            recv_body(&mut stream).await?;
            let mut fin = 12i32.to_be_bytes().to_vec();
            fin.extend_from_slice(format!("v={}=", "A".repeat(43)).as_bytes());
            send_message(&mut stream, b'R', &fin).await?;
        }
    }
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.map(|_| ())
}

/// A fake PostgreSQL on a free port that ends every SCRAM exchange as `end` says.
async fn fake_scram_server(end: ScramEnd) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_scram(stream, end, Arc::clone(&recorded)));
        }
    });
    (port, seen)
}

#[tokio::test]
async fn a_failed_scram_exchange_says_why_and_sends_no_user_name() {
    let cases = [
        (
            ScramEnd::ServerError {
                code: "08P01",
                message: "malformed SCRAM message",
                detail: "Expected attribute \"r\" but found \"role\".",
            },
            "malformed SCRAM message (Expected attribute \"r\" but found \"role\".; SQLSTATE 08P01)",
        ),
        (
            ScramEnd::WrongServerSignature,
            "the server's SCRAM signature is wrong",
        ),
    ];
    for (i, (end, expected)) in cases.into_iter().enumerate() {
        let (port, seen) = fake_scram_server(end).await;
        let prefix = format!("SCRAM_FAKE_{i}");
        let config = ConfigDir::new();
        config.target(
            "fake",
            &format!(
                "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {port}\ndatabase = \"postgres\"\nuser = \"md5,role\"\nsources = [\"env\"]\nenv_prefix = \"{prefix}\"\nsslmode = \"disable\"\nconnect_timeout = \"10s\"\n"
            ),
        );
        let ctx = context_with(
            Some(config.path()),
            Arc::new(MapEnv::new().with(format!("{prefix}_PASSWORD"), "fake-pw")),
        );
        let error = match registry::open("fake", &ctx).await {
            Ok(_) => panic!("{end:?}: the fake server let dbcore in"),
            Err(DbError::Connect { error, .. }) => error,
            Err(other) => panic!("{end:?}: {other}"),
        };
        let text = error.to_string();
        assert_eq!(
            error.kind,
            domain::ConnectErrorKind::AuthenticationFailed,
            "{text}"
        );
        assert!(text.starts_with("authentication failed"), "{text}");
        assert!(text.contains(expected), "{end:?}: {text}");
        assert!(!text.contains("fake-pw"), "{text}");
        // The client-first message names no user: PostgreSQL takes it from the startup packet.
        let seen = seen.lock().unwrap().clone();
        assert!(!seen.is_empty());
        for first in seen {
            assert!(
                first.starts_with("n,,n=,r="),
                "client-first message {first:?}"
            );
        }
    }
}
