//! Hostile inputs: ingest. One test per class, each against SQLite and, where the class
//! involves a server, against real PostgreSQL and MariaDB. Every run's output and every reject
//! file are checked for the target's password (a canary given through the env source), and
//! for a panic.

use tests::bin::{ConfigDir, Run, run};
use tests::servers::random_token;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Postgres,
    MariaDb,
    Sqlite,
}

enum Pool {
    Pg(sqlx::PgPool),
    My(sqlx::MySqlPool),
    Lite(sqlx::SqlitePool),
}

/// A target `t` in a fresh config directory, a pool on the same database for checks, and the
/// canary password the target logs in with (empty for SQLite, which has none).
struct Target {
    kind: Kind,
    config: ConfigDir,
    canary: String,
    env: Vec<(String, String)>,
    pool: Pool,
}

impl Target {
    async fn postgres(name: &str) -> Option<Self> {
        let pg = tests::pg::cluster()?;
        let canary = format!("canary-{}", random_token(16));
        pg.create_role_and_database(name, &canary).await;
        let config = ConfigDir::new();
        config.target(
            "t",
            &format!("kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{name}\"\nuser = \"{name}\"\nsources = [\"env\"]\nenv_prefix = \"HI\"\n", pg.port()),
        );
        let options = sqlx::postgres::PgConnectOptions::new_without_pgpass()
            .host("127.0.0.1")
            .port(pg.port())
            .username(name)
            .password(&canary)
            .database(name);
        let pool = sqlx::PgPool::connect_with(options).await.unwrap();
        Some(Self::new(Kind::Postgres, config, canary, Pool::Pg(pool)))
    }

    async fn mariadb(name: &str) -> Option<Self> {
        let server = tests::mariadb::server()?;
        let canary = format!("canary-{}", random_token(16));
        server.create_user_and_database(name, &canary).await;
        let config = ConfigDir::new();
        config.target(
            "t",
            &format!("kind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{name}\"\nuser = \"{name}\"\nsources = [\"env\"]\nenv_prefix = \"HI\"\n", server.port()),
        );
        let options = sqlx::mysql::MySqlConnectOptions::new()
            .host("127.0.0.1")
            .port(server.port())
            .username(name)
            .password(&canary)
            .database(name);
        let pool = sqlx::MySqlPool::connect_with(options).await.unwrap();
        Some(Self::new(Kind::MariaDb, config, canary, Pool::My(pool)))
    }

    async fn sqlite() -> Self {
        let config = ConfigDir::new();
        let pool = config.sqlite_target("t", "hostile.sqlite3").await;
        Self::new(Kind::Sqlite, config, String::new(), Pool::Lite(pool))
    }

    fn new(kind: Kind, config: ConfigDir, canary: String, pool: Pool) -> Self {
        let env = vec![
            ("HOME".to_owned(), config.path_str().to_owned()),
            ("HI_PASSWORD".to_owned(), canary.clone()),
        ];
        Self {
            kind,
            config,
            canary,
            env,
            pool,
        }
    }

    /// The three kinds, each in a database of its own named after `name`.
    async fn all(name: &str) -> Vec<Self> {
        let mut all = vec![Self::sqlite().await];
        all.extend(Self::postgres(&format!("{name}_pg")).await);
        all.extend(Self::mariadb(&format!("{name}_my")).await);
        all
    }

    async fn exec(&self, sql: &str) {
        let safe = sqlx::AssertSqlSafe(sql.to_owned());
        match &self.pool {
            Pool::Pg(p) => sqlx::query(safe).execute(p).await.map(drop),
            Pool::My(p) => sqlx::query(safe).execute(p).await.map(drop),
            Pool::Lite(p) => sqlx::query(safe).execute(p).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("{:?}: {sql}: {e}", self.kind));
    }

    /// Whether the server itself accepts `value` into `table(column)` (the oracle for checks
    /// made before the server sees a value): inserted as text, as ingest sends it, and rolled
    /// back.
    async fn server_accepts(&self, table: &str, column: &str, value: &str) -> bool {
        match &self.pool {
            Pool::Pg(p) => {
                let mut tx = p.begin().await.unwrap();
                let sql = format!(
                    "insert into {table} (id, {column}) select 1000000, $1::text::{ty}",
                    ty = self.pg_type(table, column).await
                );
                let ok = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(value)
                    .execute(&mut *tx)
                    .await
                    .is_ok();
                tx.rollback().await.unwrap();
                ok
            }
            Pool::My(p) => {
                let mut tx = p.begin().await.unwrap();
                let sql = format!("insert into {table} (id, {column}) values (1000000, ?)");
                let ok = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(value)
                    .execute(&mut *tx)
                    .await
                    .is_ok();
                tx.rollback().await.unwrap();
                ok
            }
            Pool::Lite(_) => true,
        }
    }

    async fn pg_type(&self, table: &str, column: &str) -> String {
        let Pool::Pg(p) = &self.pool else {
            unreachable!()
        };
        sqlx::query_scalar(
            "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = $1::regclass and attname = $2",
        )
        .bind(table)
        .bind(column)
        .fetch_one(p)
        .await
        .unwrap()
    }

    async fn ids(&self, table: &str) -> Vec<i64> {
        let sql = sqlx::AssertSqlSafe(format!(
            "select cast(id as signed) from {table} order by id"
        ));
        let lite = sqlx::AssertSqlSafe(format!("select id from {table} order by id"));
        let pg = sqlx::AssertSqlSafe(format!("select id::int8 from {table} order by id"));
        match &self.pool {
            Pool::Pg(p) => sqlx::query_scalar(pg).fetch_all(p).await.unwrap(),
            Pool::My(p) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
            Pool::Lite(p) => sqlx::query_scalar(lite).fetch_all(p).await.unwrap(),
        }
    }

    fn file(&self, name: &str, contents: &[u8]) -> String {
        let path = self.config.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.config.path().join(name)
    }

    /// `ingest --config-dir DIR t ARGS…`, checked for a panic and for the canary.
    fn ingest(&self, args: &[&str]) -> Run {
        let mut all = vec!["--config-dir", self.config.path_str(), "t"];
        all.extend_from_slice(args);
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let out = run("dbcore-ingest", &all, &env);
        let printed = out.all_output();
        assert!(
            !printed.contains("panicked") && out.code != Some(101),
            "{:?} {args:?} panicked:\n{printed}",
            self.kind
        );
        if !self.canary.is_empty() {
            assert!(
                !printed.contains(&self.canary),
                "{:?} {args:?} printed the password:\n{printed}",
                self.kind
            );
            for entry in std::fs::read_dir(self.config.path()).unwrap() {
                let path = entry.unwrap().path();
                if path.to_string_lossy().contains(".rejects.") && path.is_file() {
                    let bytes = std::fs::read(&path).unwrap();
                    assert!(
                        !String::from_utf8_lossy(&bytes).contains(&self.canary),
                        "{} holds the password",
                        path.display()
                    );
                }
            }
        }
        out
    }
}

/// The N of "--skip N" in an error.
fn skip_hint(run: &Run) -> u64 {
    let rest = run
        .stderr
        .split("--skip ")
        .nth(1)
        .unwrap_or_else(|| panic!("no --skip hint:\n{}", run.stderr));
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// A data row of the resume scenarios: its id and whether it can be loaded.
struct Line {
    bytes: Vec<u8>,
    good: Option<i64>,
}

fn good(id: i64) -> Line {
    Line {
        bytes: format!("{id},{id}").into_bytes(),
        good: Some(id),
    }
}

fn bad(bytes: &[u8]) -> Line {
    Line {
        bytes: bytes.to_vec(),
        good: None,
    }
}

/// A row the checks pass and the server refuses (an id the table holds already).
fn clash(id: i64) -> Line {
    Line {
        bytes: format!("{id},{id}").into_bytes(),
        good: None,
    }
}

fn csv(lines: &[Line]) -> Vec<u8> {
    let mut out = b"id,v\n".to_vec();
    for line in lines {
        out.extend_from_slice(&line.bytes);
        out.push(b'\n');
    }
    out
}

mod interrupted;
mod resume_and_files;
mod values;
