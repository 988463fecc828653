//! Hostile inputs: ingest. One test per class, each against SQLite and, where the class
//! involves a server, against real PostgreSQL and MariaDB. Every run's output and every reject
//! file are checked for the target's password (a canary given through the env source), and
//! for a panic.

use std::os::unix::fs::PermissionsExt;

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
        let out = run("ingest", &all, &env);
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

#[tokio::test]
async fn resume_is_exact_after_every_kind_of_error() {
    // (name, rows, flags, the hint a correct load gives); a clash is id 100, held already.
    let cases: Vec<(&str, Vec<Line>, &[&str], u64)> = vec![
        (
            "value errors past --max-errors",
            vec![good(1), good(2), good(3), good(4), bad(b"5,x"), bad(b"6,y")],
            &["--batch-size", "3", "--max-errors", "1"],
            3,
        ),
        (
            "a rejected row inside a committed batch",
            vec![
                good(1),
                bad(b"2,two"),
                good(3),
                good(4),
                good(5),
                bad(b"6,"),
            ],
            &["--batch-size", "3", "--max-errors", "1"],
            4,
        ),
        (
            "the server refuses a batch holding a rejected row",
            vec![
                good(1),
                good(2),
                good(3),
                good(4),
                bad(b"5,1.5"),
                clash(100),
                good(7),
            ],
            &["--batch-size", "3", "--max-errors", "5"],
            3,
        ),
        (
            "ragged rows and bad bytes past --max-errors",
            vec![
                good(1),
                good(2),
                good(3),
                good(4),
                bad(b"5"),
                bad(b"6,\xff\xfe"),
                good(7),
            ],
            &["--batch-size", "3", "--max-errors", "1"],
            3,
        ),
        (
            "a multi-byte value past --max-errors",
            vec![
                good(1),
                bad("2,2€".as_bytes()),
                good(3),
                bad("4,\u{10348}".as_bytes()),
            ],
            &["--batch-size", "1", "--max-errors", "1"],
            3,
        ),
    ];
    for target in Target::all("hi_resume").await {
        for (i, (name, lines, flags, hint)) in cases.iter().enumerate() {
            let table = format!("r{i}");
            target
                .exec(&format!(
                    "create table {table} (id int primary key, v int not null)"
                ))
                .await;
            target
                .exec(&format!("insert into {table} (id, v) values (100, 0)"))
                .await;
            let file = target.file(&format!("{table}.csv"), &csv(lines));
            let rejects = target.path(&format!("{table}.rejects.csv"));
            let what = format!("{:?}, {name}", target.kind);

            // All-or-nothing: nothing written, no reject file left behind.
            let mut args = vec![table.as_str(), file.as_str()];
            args.extend_from_slice(flags);
            let whole = target.ingest(&args);
            assert_eq!(whole.code, Some(1), "{what}: {whole:?}");
            assert!(
                whole.stderr.contains("nothing was written"),
                "{what}: {whole:?}"
            );
            assert_eq!(target.ids(&table).await, vec![100], "{what}");
            assert!(!rejects.exists(), "{what}: a failed load left {rejects:?}");

            // Per-batch: the hint names exactly the rows behind the committed batches.
            args.extend_from_slice(&["--mode", "per-batch"]);
            let first = target.ingest(&args);
            assert_eq!(first.code, Some(1), "{what}: {first:?}");
            let skip = skip_hint(&first);
            assert_eq!(skip, *hint, "{what}: {}", first.stderr);
            let behind = usize::try_from(skip).unwrap();
            let mut expected: Vec<i64> = lines[..behind].iter().filter_map(|l| l.good).collect();
            expected.push(100);
            expected.sort_unstable();
            assert_eq!(target.ids(&table).await, expected, "{what}: committed");
            let rejected_behind = lines[..behind].iter().filter(|l| l.good.is_none()).count();
            if rejected_behind == 0 {
                assert!(
                    !rejects.exists(),
                    "{what}: rejects of rolled-back batches kept"
                );
            } else {
                let kept = std::fs::read(&rejects).unwrap();
                let rows = kept
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count();
                assert_eq!(
                    rows,
                    1 + rejected_behind,
                    "{what}: {:?}",
                    String::from_utf8_lossy(&kept)
                );
                std::fs::rename(&rejects, target.path(&format!("{table}.first.csv"))).unwrap();
            }

            // The user clears the clash and resumes: every good row exactly once.
            target
                .exec(&format!("delete from {table} where id = 100"))
                .await;
            let skip = skip.to_string();
            let resumed = target.ingest(&[
                &table,
                &file,
                "--mode",
                "per-batch",
                "--max-errors",
                "10",
                "--skip",
                &skip,
            ]);
            assert_eq!(resumed.code, Some(0), "{what}: {resumed:?}");
            let mut all: Vec<i64> = lines
                .iter()
                .filter_map(|l| l.good)
                .chain(lines.iter().any(|l| l.bytes == b"100,100").then_some(100))
                .collect();
            all.sort_unstable();
            assert_eq!(target.ids(&table).await, all, "{what}: after resuming");
        }
    }
}

#[tokio::test]
async fn multibyte_text_anywhere() {
    let values = [
        "2024-01-0€",
        "2024-01-€1",
        "€024-01-01",
        "2024-01-01 12:00:0€",
        "2024-01-01T12:€",
        "２０２４-01-01",
        "2024\u{2013}01\u{2013}01",
        "1€",
        "１２",
        "e\u{301}",
        "\u{1F600}",
        "123e4567-e89b-12d3-a456-42661417400€",
    ];
    for target in Target::all("hi_mb").await {
        let ts = if target.kind == Kind::MariaDb {
            "datetime"
        } else {
            "timestamp"
        };

        target
            .exec(&format!(
                "create table m (id int primary key, d date, ts {ts}, n numeric(8,2), i int, u uuid)"
            ))
            .await;
        for column in ["d", "ts", "n", "i", "u"] {
            let mut csv = format!("id,{column}\n");
            let mut jsonl = String::new();
            for (i, v) in values.iter().enumerate() {
                csv.push_str(&format!("{i},{v}\n"));
                jsonl.push_str(&format!(
                    "{{\"id\":{i},\"{column}\":{}}}\n",
                    serde_json::json!(v)
                ));
            }
            for (ext, body) in [("csv", csv), ("jsonl", jsonl)] {
                let file = target.file(&format!("m_{column}.{ext}"), body.as_bytes());
                let what = format!("{:?}, column {column}, {ext}", target.kind);
                let dry = target.ingest(&["m", &file, "--dry-run"]);
                assert_eq!(dry.code, Some(1), "{what}: {dry:?}");
                let first = if ext == "csv" { 2 } else { 1 };
                for line in first..first + values.len() {
                    assert!(
                        dry.stderr
                            .contains(&format!("line {line}, column {column}:")),
                        "{what}: line {line} not reported:\n{}",
                        dry.stderr
                    );
                }
                let load = target.ingest(&["m", &file, "--max-errors", "100"]);
                assert_eq!(load.code, Some(0), "{what}: {load:?}");
                assert!(
                    load.stdout
                        .contains(&format!("0 written, {} rejected", values.len())),
                    "{what}: {load:?}"
                );
                std::fs::remove_file(target.path(&format!("m_{column}.rejects.{ext}"))).unwrap();
            }
        }
        // Multi-byte column names in the header and the keys: an error naming line 1.
        let file = target.file("m_head.csv", "id,d€\n1,2024-01-01\n".as_bytes());
        let head = target.ingest(&["m", &file]);
        assert_eq!(head.code, Some(1), "{head:?}");
        assert!(head.stderr.contains("line 1"), "{head:?}");
        let file = target.file("m_head.jsonl", "{\"id\":1,\"€\":2}\n".as_bytes());
        let head = target.ingest(&["m", &file]);
        assert_eq!(head.code, Some(1), "{head:?}");
        assert!(head.stderr.contains("line 1"), "{head:?}");
        assert!(target.ids("m").await.is_empty());
    }
}

#[tokio::test]
async fn planted_or_existing_reject_files_are_never_touched() {
    let target = Target::sqlite().await;
    target
        .exec("create table p (id int primary key, v int not null)")
        .await;
    let file = target.file("p.csv", b"id,v\n1,1\n2,two\n3,3\n");
    let rejects = target.path("p.rejects.csv");
    let victim = target.file("victim.txt", b"precious\n");

    // A symlink planted where the reject file goes: an error, the link's target untouched.
    for planted in [victim.clone(), target.path("absent").display().to_string()] {
        std::os::unix::fs::symlink(&planted, &rejects).unwrap();
        for mode in ["all-or-nothing", "per-batch"] {
            let out = target.ingest(&["p", &file, "--max-errors", "5", "--mode", mode]);
            assert_eq!(out.code, Some(1), "{out:?}");
            assert!(out.stderr.contains("p.rejects.csv"), "{out:?}");
            assert!(out.stderr.contains("exists"), "{out:?}");
            assert!(
                out.stderr.contains("move it") || out.stderr.contains("remove it"),
                "{out:?}"
            );
            assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");
            assert!(
                !target.path("absent").exists(),
                "a dangling link was followed"
            );
            assert!(target.ids("p").await.is_empty(), "nothing loaded: {out:?}");
        }
        std::fs::remove_file(&rejects).unwrap();
    }

    // An existing reject file (an earlier run's): kept as it was.
    std::fs::write(&rejects, b"earlier\n").unwrap();
    let out = target.ingest(&["p", &file, "--max-errors", "5"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("exists"), "{out:?}");
    assert_eq!(std::fs::read(&rejects).unwrap(), b"earlier\n");
    std::fs::remove_file(&rejects).unwrap();

    // A dry run writes no reject file, reports every bad row and fails.
    let many = target.file("q.csv", b"id,v\n1,x\n2,2\n3,\n4,4.5\n");
    let dry = target.ingest(&["p", &many, "--dry-run"]);
    assert_eq!(dry.code, Some(1), "{dry:?}");
    for line in [2, 4, 5] {
        assert!(dry.stderr.contains(&format!("line {line}")), "{dry:?}");
    }
    assert!(!target.path("q.rejects.csv").exists());
    let dry = target.ingest(&["p", &many, "--dry-run", "--max-errors", "10"]);
    assert_eq!(dry.code, Some(1), "{dry:?}");
    assert!(!target.path("q.rejects.csv").exists());

    // A real load: a new file, mode 0600, each row with its reason.
    let out = target.ingest(&["p", &many, "--max-errors", "10"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let made = target.path("q.rejects.csv");
    let mode = std::fs::metadata(&made).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&made).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,v,_reject_reason"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(
        rows[0].starts_with("1,x,") && rows[0].contains("line 2"),
        "{text}"
    );
    assert!(
        rows[1].starts_with("3,,") && rows[1].contains("NOT NULL"),
        "{text}"
    );
    assert!(
        rows[2].starts_with("4,4.5,") && rows[2].contains("line 5"),
        "{text}"
    );
    assert_eq!(target.ids("p").await, vec![2]);
}

#[tokio::test]
async fn numeric_flags_at_their_edges() {
    let target = Target::sqlite().await;
    target
        .exec("create table n (id int primary key, v int not null)")
        .await;
    let file = target.file("n.csv", b"id,v\n1,1\n2,x\n");
    let huge = i64::MAX.to_string();
    let over = u64::MAX.to_string() + "0";
    for flag in ["--batch-size", "--max-errors", "--skip"] {
        for value in ["-1", huge.as_str(), over.as_str(), "1e3", "", " 3"] {
            let out = target.ingest(&["n", &file, "--dry-run", flag, value]);
            assert_eq!(out.code, Some(2), "{flag} {value:?}: {out:?}");
            assert!(out.stderr.contains(flag), "{flag} {value:?}: {out:?}");
        }
    }
    for dry in [true, false] {
        let mut args = vec!["n", file.as_str(), "--batch-size", "0"];
        if dry {
            args.push("--dry-run");
        }
        let out = target.ingest(&args);
        assert_eq!(out.code, Some(2), "--batch-size 0: {out:?}");
        assert!(out.stderr.contains("--batch-size"), "{out:?}");
    }
    // Zero is a fine --skip and --max-errors; skipping past the end is an error that says so.
    let out = target.ingest(&["n", &file, "--skip", "0", "--max-errors", "0", "--dry-run"]);
    assert_eq!(out.code, Some(1), "row 2 is bad: {out:?}");
    let out = target.ingest(&["n", &file, "--skip", "5"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("--skip 5"), "{out:?}");
    assert!(target.ids("n").await.is_empty());
    let out = target.ingest(&["n", &file, "--skip", "1", "--batch-size", "1000000"]);
    assert_eq!(out.code, Some(1), "row 2 is bad: {out:?}");
}

/// Spellings a server takes and ingest documents that it refuses: hexadecimal floats, dates
/// not written `YYYY-MM-DD`, MariaDB's zero dates, integers written as decimals.
const STRICTER: &[&str] = &[
    "0x1p3",
    "2024-1-5",
    "20240105",
    "2024-00-10",
    "2024-01-00",
    "0000-01-01",
    "7.0",
    "1e3",
    "2024-01-01 12",
];

/// Values at and past the edges of each type, per kind: what --dry-run accepts the server
/// accepts, and what it rejects the server refuses (but for the documented `STRICTER`).
#[tokio::test]
async fn out_of_range_values_are_rejected_as_the_server_would() {
    let ints = [
        "0",
        "-1",
        "32767",
        "32768",
        "-32768",
        "-32769",
        "127",
        "128",
        "-128",
        "-129",
        "255",
        "256",
        "65535",
        "65536",
        "8388607",
        "8388608",
        "16777215",
        "16777216",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "4294967295",
        "4294967296",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999",
        " 7",
        "+7",
        "7.0",
        "0x10",
        "1e3",
        "٣",
    ];
    let decimals = [
        "999.99",
        "-999.99",
        "1000",
        "999.994",
        "999.995",
        "-999.995",
        "0.001",
        "1e2",
        "1e3",
        "1E-2",
        ".5",
        "5.",
        "-.5",
        "+1",
        "1e999999999999",
        "1e-999999999999",
        "NaN",
        "Infinity",
        "-inf",
        "1,5",
        "1.2.3",
        "",
        "e5",
        "1e",
    ];
    let floats = [
        "1.5",
        "-0",
        "3.4e38",
        "3.5e38",
        "1e39",
        "1.7e308",
        "1.8e308",
        "1e-30",
        "1e-50",
        "1e-400",
        "NaN",
        "inf",
        "-Infinity",
        "0x1p3",
        "1_000",
    ];
    let dates = [
        "2024-02-29",
        "2023-02-29",
        "2024-02-30",
        "2024-04-31",
        "2024-13-01",
        "2024-00-10",
        "2024-01-00",
        "0000-01-01",
        "0001-01-01",
        "9999-12-31",
        "2024-1-5",
        "20240105",
        "2024-01-01 ",
    ];
    let timestamps = [
        "2024-02-29 23:59:59",
        "2023-02-29 00:00:00",
        "2024-01-01 24:00:01",
        "2024-01-01 23:60:00",
        "2024-01-01T12:00:00",
        "2024-01-01 12:00:00.123456",
        "2024-01-01 12:00",
        "2024-01-01",
        "2024-01-01 12",
        "2024-01-01 12:00:00+02",
        "2024-01-01 12:00:00Z",
        "2024-01-01 12:00:00 junk",
    ];
    let uuids = [
        "123e4567-e89b-12d3-a456-426614174000",
        "123E4567-E89B-12D3-A456-426614174000",
        "123e4567e89b12d3a456426614174000",
        "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
        "123e4567-e89b-12d3-a456-42661417400",
        "123e4567-e89b-12d3-a456-4266141740000",
        "g23e4567-e89b-12d3-a456-426614174000",
    ];
    let pg: Vec<(&str, &[&str])> = vec![
        ("smallint", &ints),
        ("integer", &ints),
        ("bigint", &ints),
        ("numeric(5,2)", &decimals),
        ("numeric(3,0)", &decimals),
        ("numeric", &decimals),
        ("real", &floats),
        ("double precision", &floats),
        ("date", &dates),
        ("timestamp", &timestamps),
        ("timestamptz", &timestamps),
        ("uuid", &uuids),
        ("interval", &["1 day", "2 hours", "1", "x"]),
        ("point", &["(1,2)", "1,2", "x"]),
        ("int4range", &["[1,5)", "x"]),
        ("boolean", &["t", "yes", "OFF", "1", "maybe", "2"]),
    ];
    let my: Vec<(&str, &[&str])> = vec![
        ("tinyint", &ints),
        ("tinyint unsigned", &ints),
        ("smallint", &ints),
        ("smallint unsigned", &ints),
        ("mediumint", &ints),
        ("mediumint unsigned", &ints),
        ("int", &ints),
        ("int unsigned", &ints),
        ("bigint", &ints),
        ("bigint unsigned", &ints),
        ("decimal(5,2)", &decimals),
        ("decimal(3,0)", &decimals),
        ("date", &dates),
        ("datetime", &timestamps),
        ("uuid", &uuids),
        ("point", &["x"]),
    ];
    let mut targets = Vec::new();
    targets.extend(Target::postgres("hi_range_pg").await.map(|t| (t, pg)));
    targets.extend(Target::mariadb("hi_range_my").await.map(|t| (t, my)));
    let mut all_disagree = Vec::new();
    for (target, columns) in targets {
        for (i, (ty, values)) in columns.iter().enumerate() {
            let table = format!("v{i}");
            target
                .exec(&format!(
                    "create table {table} (id int primary key, x {ty})"
                ))
                .await;
            let mut csv = "id,x\n".to_owned();
            for (row, v) in values.iter().enumerate() {
                // A quoted value, so that an empty one is '' and not NULL.
                csv.push_str(&format!("{row},\"{v}\"\n"));
            }
            let file = target.file(&format!("{table}.csv"), csv.as_bytes());
            let dry = target.ingest(&[&table, &file, "--dry-run"]);
            let mut disagree = Vec::new();
            for (row, v) in values.iter().enumerate() {
                if v.is_empty() {
                    continue; // an empty field is NULL, for ingest as for COPY
                }
                let line = row + 2;
                let rejected = dry.stderr.contains(&format!("line {line}, column x:"));
                let server = target.server_accepts(&table, "x", v).await;
                // Types ingest does not check are the server's to refuse, never ingest's.
                let checked = !["interval", "point", "int4range"].contains(ty);
                let false_approval = !rejected && !server && checked;
                let false_rejection = rejected && server && !STRICTER.contains(v);
                if false_approval || false_rejection {
                    disagree.push(format!(
                        "{v:?}: server {}, --dry-run {}",
                        if server { "accepts" } else { "refuses" },
                        if rejected { "rejects" } else { "accepts" }
                    ));
                }
            }
            all_disagree.extend(
                disagree
                    .into_iter()
                    .map(|d| format!("{:?} {ty}: {d}", target.kind)),
            );
            // And a real load with --max-errors loads exactly what the server accepts.
            if ["interval", "point", "int4range"].contains(ty) {
                continue;
            }
            let load = target.ingest(&[&table, &file, "--max-errors", "1000"]);
            if load.code != Some(0) {
                all_disagree.push(format!("{:?} {ty}: the load failed: {load:?}", target.kind));
            }
        }
    }
    assert!(all_disagree.is_empty(), "{}", all_disagree.join("\n"));
}

#[tokio::test]
async fn ragged_rows_bad_bytes_and_long_lines() {
    let long = "x".repeat(20_000);
    for target in Target::all("hi_rag").await {
        target
            .exec("create table g (id int primary key, name text, v int)")
            .await;
        let mut csv = b"id,name,v\n1,a,1\n2,b\n3,c,3,extra\n4,\xff\xfeoops,4\n5,\"multi\nline\",5\n6,\n7,g,7\n8,\xc3,8\n9,\"unterminated\n".to_vec();
        csv.extend_from_slice(format!("10,{long},10\n").as_bytes());
        let file = target.file("g.csv", &csv);
        let what = format!("{:?} csv", target.kind);
        let dry = target.ingest(&["g", &file, "--dry-run"]);
        assert_eq!(dry.code, Some(1), "{what}: {dry:?}");
        for line in [3, 4, 5, 8, 10, 11] {
            assert!(
                dry.stderr.contains(&format!("line {line}")),
                "{what}: line {line}:\n{}",
                dry.stderr
            );
        }
        let load = target.ingest(&["g", &file, "--max-errors", "20"]);
        assert_eq!(load.code, Some(0), "{what}: {load:?}");
        assert_eq!(target.ids("g").await, vec![1, 5, 7], "{what}: {load:?}");
        let rejects = std::fs::read(target.path("g.rejects.csv")).unwrap();
        assert!(
            rejects.windows(2).any(|w| w == b"\xff\xfe"),
            "the reject file keeps the raw bytes"
        );
        target.exec("delete from g").await;

        let mut jsonl = String::new();
        jsonl.push_str("{\"id\":1,\"name\":\"a\",\"v\":1}\n");
        jsonl.push_str(&format!("{{\"id\":2,\"name\":\"{long}\",\"v\":2}}\n"));
        jsonl.push_str(&format!("{{\"id\":3,\"name\":\"{long}\",\"v\":\"x\"}}\n"));
        jsonl.push_str(&format!("{{\"id\":4,\"name\":\"{long}\n"));
        jsonl.push_str("\n{\"id\":6,\"v\":6}\n");
        let mut bytes = jsonl.into_bytes();
        bytes.extend_from_slice(b"{\"id\":7,\"name\":\"\xff\"}\n[1,2]\n{\"id\":9}");
        let file = target.file("g.jsonl", &bytes);
        let what = format!("{:?} jsonl", target.kind);
        let dry = target.ingest(&["g", &file, "--dry-run"]);
        assert_eq!(dry.code, Some(1), "{what}: {dry:?}");
        for line in [3, 4, 7, 8] {
            assert!(
                dry.stderr.contains(&format!("line {line}")),
                "{what}: line {line}:\n{}",
                dry.stderr
            );
        }
        let load = target.ingest(&["g", &file, "--max-errors", "20"]);
        assert_eq!(load.code, Some(0), "{what}: {load:?}");
        assert_eq!(target.ids("g").await, vec![1, 2, 6, 9], "{what}: {load:?}");
    }
}

/// A JSON value arrives as written: a number is its digits (never rounded through a float, in
/// a text column or an exact numeric one), and a key given twice in one line is a bad row (which
/// of the two values is meant is not for ingest to guess), never a silent choice.
#[tokio::test]
async fn json_values_arrive_exactly_and_repeated_keys_are_bad_rows() {
    for target in Target::all("hi_jx").await {
        let (text, exact) = match target.kind {
            Kind::Sqlite => ("text", "text"),
            _ => ("varchar(200)", "numeric(60,25)"),
        };
        target
            .exec(&format!(
                "create table j (id int primary key, t {text}, x {exact})"
            ))
            .await;
        let digits = [
            "12345678901234567890123",
            "123456789012345678901234567890.1234567890123456789012345",
            "0.1000000000000000055511151",
            "9007199254740993",
            "-0.0000000000000000000000001",
        ];
        let mut jsonl = String::new();
        for (i, d) in digits.iter().enumerate() {
            jsonl.push_str(&format!("{{\"id\":{i},\"t\":{d},\"x\":{d}}}\n"));
        }
        jsonl.push_str("{\"id\":10,\"t\":\"a\",\"t\":\"b\"}\n");
        jsonl.push_str("{\"id\":11,\"id\":12}\n");
        let file = target.file("j.jsonl", jsonl.as_bytes());
        let what = format!("{:?}", target.kind);
        let dry = target.ingest(&["j", &file, "--dry-run"]);
        assert_eq!(dry.code, Some(1), "{what}: {dry:?}");
        for line in [6, 7] {
            assert!(
                dry.stderr.contains(&format!("line {line}")),
                "{what}: line {line} not reported: {dry:?}"
            );
        }
        let load = target.ingest(&["j", &file, "--max-errors", "2"]);
        assert_eq!(load.code, Some(0), "{what}: {load:?}");
        assert_eq!(
            target.ids("j").await,
            vec![0, 1, 2, 3, 4],
            "{what}: {load:?}"
        );
        let cast = match target.kind {
            Kind::MariaDb => "cast(t as char)",
            Kind::Postgres => "t::text",
            Kind::Sqlite => "t",
        };
        let sql = format!("select {cast} from j order by id");
        let got: Vec<String> = match &target.pool {
            Pool::Pg(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(p)
                    .await
            }
            Pool::My(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(p)
                    .await
            }
            Pool::Lite(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(p)
                    .await
            }
        }
        .unwrap();
        assert_eq!(
            got, digits,
            "{what}: text columns hold the digits as written"
        );
        if target.kind == Kind::Postgres {
            let Pool::Pg(p) = &target.pool else {
                unreachable!()
            };
            let exact: Vec<bool> = sqlx::query_scalar("select x = t::numeric from j order by id")
                .fetch_all(p)
                .await
                .unwrap();
            assert!(
                exact.iter().all(|e| *e),
                "{what}: numeric columns exact: {exact:?}"
            );
        }
    }
}

/// A CSV record is read under the same cap as a JSON line: a file with no newline (or one
/// quoted field that never ends, like /dev/zero or `yes` behind a quote) ends the load with
/// a message naming the cap, instead of being gathered in memory until the process dies.
#[tokio::test]
async fn an_endless_csv_record_is_refused_at_the_cap_not_read_into_memory() {
    let target = Target::sqlite().await;
    target
        .exec("create table e (id int primary key, name text)")
        .await;
    let cap = 64 << 20;
    for (what, mut body) in [
        ("no newline", b"id,name\n1,".to_vec()),
        ("an open quote", b"id,name\n1,\"".to_vec()),
    ] {
        let fill: &[u8] = if what == "no newline" { b"a" } else { b"y\n" };
        while body.len() < cap + (1 << 20) {
            body.extend(std::iter::repeat_n(fill, 1 << 16).flatten());
        }
        let file = target.file("e.csv", &body);
        let load = target.ingest(&["e", &file, "--max-errors", "5"]);
        assert_eq!(load.code, Some(1), "{what}: {load:?}");
        assert!(load.stderr.contains("64 MiB"), "{what}: {load:?}");
        assert!(target.ids("e").await.is_empty(), "{what}");
    }
}

/// An ingest run in the background, fed through its standard input, whose stderr is collected
/// as it comes, so that a test can wait for a bad row to have been read or a batch committed.
struct Live {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Live {
    fn start(target: &Target, args: &[&str]) -> Self {
        use std::io::Read as _;
        let mut command = std::process::Command::new(tests::bin::path("ingest"));
        command
            .args(["--config-dir", target.config.path_str(), "t", "t", "-"])
            .args(["--format", "csv"])
            .args(args)
            .current_dir(target.config.path())
            .env_clear()
            .envs(target.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stdin = child.stdin.take();
        let mut pipe = child.stderr.take().unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let collected = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                collected
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self {
            child,
            stdin,
            stderr,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        use std::io::Write as _;
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (up to a minute) until ingest has reported `n` skipped rows.
    fn wait_skipped(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.stderr().matches("ingest: skipped").count() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "ingest did not report {n} skipped rows:\n{}",
                self.stderr()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The exit code (None when a signal ended the process) and everything on stderr.
    fn wait(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        drop(self.stdin.take());
        // The collecting thread ends with the pipe; give it the last bytes.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::sync::Arc::strong_count(&self.stderr) > 1 && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        (status.code(), self.stderr())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Target {
    /// Waits (up to a minute) until the table holds `n` rows: a batch has committed.
    async fn wait_rows(&self, n: i64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let ids = self.ids("t").await;
            if ids.len() >= usize::try_from(n).unwrap() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the table never held {n} rows: {ids:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Waits (up to a minute) until `ready` holds.
fn wait_until(ready: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited a minute in vain"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The data rows of a CSV reject file (without its header).
fn rejected_rows(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().skip(1).map(str::to_owned).collect()
}

#[tokio::test]
async fn sigterm_and_sigint_stop_with_the_exact_resume_hint() {
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        for target in Target::all(&format!("hi_sig{}", code)).await {
            let who = format!("{:?} SIG{signal}", target.kind);
            target.exec("create table t (id integer, d date)").await;
            let rejects = target.config.path().join("stdin.rejects.csv");
            let mut live = Live::start(
                &target,
                &[
                    "--mode",
                    "per-batch",
                    "--batch-size",
                    "2",
                    "--max-errors",
                    "50",
                ],
            );
            // Batch 1: rows 1 and 3, with line 2 rejected inside it; committed.
            live.send(b"id,d\n1,2024-01-01\n2,bad\n3,2024-01-03\n");
            target.wait_rows(2).await;
            // Batch 2 is open: row 4 read, then bad rows read and set aside.
            live.send(b"4,2024-01-04\n");
            let mut open = Vec::new();
            for i in 0..40 {
                open.extend_from_slice(format!("{},not-a-date-{i:0>200}\n", 100 + i).as_bytes());
            }
            live.send(&open);
            live.wait_skipped(41);
            live.signal(signal);
            let (exit, stderr) = live.wait();
            assert_eq!(exit, Some(code), "{who}:\n{stderr}");
            let hint_at = stderr
                .find("--skip ")
                .unwrap_or_else(|| panic!("no hint:\n{stderr}"));
            let hint: u64 = stderr[hint_at + 7..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap();
            assert_eq!(hint, 3, "{who}:\n{stderr}");
            assert_eq!(target.ids("t").await, vec![1, 3], "{who}");
            let kept = rejected_rows(&rejects);
            assert_eq!(kept.len(), 1, "{who}: {kept:?}");
            assert!(kept[0].starts_with("2,bad,"), "{who}: {kept:?}");
            // Resume with the hint on the whole input: the rest is loaded exactly once.
            std::fs::rename(&rejects, target.config.path().join("first.rejects.csv")).unwrap();
            let mut whole = b"id,d\n1,2024-01-01\n2,bad\n3,2024-01-03\n4,2024-01-04\n".to_vec();
            whole.extend_from_slice(&open);
            whole.extend_from_slice(b"5,2024-01-05\n");
            let input = target.config.path().join("whole.csv");
            std::fs::write(&input, &whole).unwrap();
            let resumed = target.ingest(&[
                "t",
                input.to_str().unwrap(),
                "--mode",
                "per-batch",
                "--batch-size",
                "2",
                "--max-errors",
                "50",
                "--skip",
                &hint.to_string(),
            ]);
            assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
            assert_eq!(target.ids("t").await, vec![1, 3, 4, 5], "{who}");
            let again = rejected_rows(&target.config.path().join("whole.rejects.csv"));
            assert_eq!(again.len(), 40, "{who}");
        }
    }
}

/// Enough bad rows to pass any write buffer.
fn many_bad_rows() -> Vec<u8> {
    let mut open = Vec::new();
    for i in 0..200 {
        open.extend_from_slice(format!("{},not-a-date-{i:0>200}\n", 100 + i).as_bytes());
    }
    open
}

#[tokio::test]
async fn sigkill_never_leaves_rejects_of_uncommitted_batches() {
    let open = many_bad_rows();
    // Per-batch, killed right after the first commit and killed mid-batch.
    for mid_batch in [false, true] {
        for target in Target::all(&format!("hi_kill{}", u8::from(mid_batch))).await {
            target.exec("create table t (id integer, d date)").await;
            let rejects = target.config.path().join("stdin.rejects.csv");
            let mut live = Live::start(
                &target,
                &[
                    "--mode",
                    "per-batch",
                    "--batch-size",
                    "2",
                    "--max-errors",
                    "1000",
                ],
            );
            live.send(b"id,d\n1,2024-01-01\n2,bad\n3,2024-01-03\n");
            target.wait_rows(2).await;
            // The batch's rejects are written just after its commit (a crash in between loses
            // them, never a row, as documented): wait for them too.
            wait_until(|| !rejected_rows(&rejects).is_empty());
            if mid_batch {
                live.send(b"4,2024-01-04\n");
                live.send(&open);
                live.wait_skipped(201);
            }
            live.signal("KILL");
            let (exit, _) = live.wait();
            assert_eq!(exit, None);
            assert_eq!(target.ids("t").await, vec![1, 3]);
            let kept = rejected_rows(&rejects);
            assert_eq!(
                kept.len(),
                1,
                "mid batch {mid_batch}: the reject file holds rows of an uncommitted batch"
            );
            assert!(kept[0].starts_with("2,bad,"), "{:?} {kept:?}", target.kind);
        }
    }
}

#[tokio::test]
async fn sigkill_mid_way_through_all_or_nothing_leaves_no_reject_file() {
    let open = many_bad_rows();
    let target = Target::sqlite().await;
    target.exec("create table t (id integer, d date)").await;
    let mut live = Live::start(&target, &["--max-errors", "1000"]);
    live.send(b"id,d\n1,2024-01-01\n");
    live.send(&open);
    live.wait_skipped(200);
    live.signal("KILL");
    let (exit, _) = live.wait();
    assert_eq!(exit, None);
    assert_eq!(target.ids("t").await, Vec::<i64>::new());
    let left: Vec<String> = std::fs::read_dir(target.config.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("stdin.rejects"))
        .collect();
    assert!(
        left.is_empty(),
        "a killed all-or-nothing load left {left:?}"
    );
}
