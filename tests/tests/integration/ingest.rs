//! `ingest` as a user runs it, on PostgreSQL, MariaDB and SQLite.

use tests::bin::{ConfigDir, run};

const GOOD: &str = "id,name,amount,seen\n1,apple,1.50,2026-01-01\n2,\"pear, green\",,\n3,\"say \"\"hi\"\"\",3,2026-01-03\n";
const MORE: &str = "id,name,amount,seen\n4,fig,4,2026-01-04\n5,kiwi,x,\n6,lime,6,2026-01-06\n";
const BAD_IN_THE_MIDDLE: &str = "id,name,amount,seen\n1,apple,1.50,2026-01-01\n2,pear,not-a-number,2026-01-02\n3,plum,3,2026-01-03\n";

/// Loads GOOD, then BAD_IN_THE_MIDDLE (all-or-nothing: nothing written, line named), a dry
/// run, then the bad file with --max-errors 1 (the bad row goes to the reject file).
/// How a kind writes rows, which decides how a refused row is named.
#[derive(Debug, Clone, Copy)]
enum Writes {
    /// PostgreSQL: one `COPY … FROM STDIN`.
    Copy,
    /// MySQL and SQLite: batched multi-row inserts.
    Inserts,
}

async fn scenario(
    config: &ConfigDir,
    target: &str,
    env: &[(&str, &str)],
    amount_type: &str,
    writes: Writes,
    count: impl AsyncFn() -> i64,
) {
    let good = config.secret_file("good.csv", GOOD);
    let bad = config.secret_file("bad.csv", BAD_IN_THE_MIDDLE);
    let dir = config.path_str();
    let first = run(
        "dbcore-ingest",
        &["--config-dir", dir, target, "items", &good],
        env,
    );
    assert_eq!(first.code, Some(0), "{first:?}");
    assert!(
        first
            .stdout
            .contains("dbcore-ingest: 3 rows read, 3 written, 0 rejected"),
        "{}",
        first.stdout
    );
    assert_eq!(count().await, 3);

    let refused = run(
        "dbcore-ingest",
        &["--config-dir", dir, target, "items", &bad],
        env,
    );
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("line 3, column amount: \"not-a-number\" is not a number"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("nothing was written"),
        "{}",
        refused.stderr
    );
    assert_eq!(count().await, 3, "all-or-nothing left the table unchanged");

    let dry = run(
        "dbcore-ingest",
        &[
            "--config-dir",
            dir,
            target,
            "items",
            &bad,
            "--dry-run",
            "--max-errors",
            "5",
        ],
        env,
    );
    assert_eq!(dry.code, Some(1), "a dry run fails on any bad row: {dry:?}");
    assert!(
        dry.stderr.contains("line 3, column amount"),
        "{}",
        dry.stderr
    );
    assert!(!config.path().join("bad.rejects.csv").exists());
    assert_eq!(count().await, 3, "a dry run writes nothing");

    // Keys clash with the rows already there, so load into a fresh table state first.
    let tolerant = run(
        "dbcore-ingest",
        &[
            "--config-dir",
            dir,
            target,
            "items",
            &bad,
            "--max-errors",
            "1",
            "--skip",
            "0",
        ],
        env,
    );
    assert_eq!(
        tolerant.code,
        Some(1),
        "ids 1 and 3 exist already: {tolerant:?}"
    );
    // PostgreSQL's COPY names the row (line 2, the first existing id); inserts name the batch.
    // Each kind must use its own way: a PostgreSQL load that fell back to inserts fails here.
    let expected = match writes {
        Writes::Copy => "the server refused line 2:",
        Writes::Inserts => "the server refused the rows of lines 2–4",
    };
    assert!(tolerant.stderr.contains(expected), "{}", tolerant.stderr);
    assert_eq!(count().await, 3);
    assert!(
        !config.path().join("bad.rejects.csv").exists(),
        "a failed all-or-nothing load leaves no reject file"
    );

    // New ids: the good rows load, the bad one goes to the reject file with its reason.
    let more = config.secret_file("more.csv", MORE);
    let tolerant = run(
        "dbcore-ingest",
        &[
            "--config-dir",
            dir,
            target,
            "items",
            &more,
            "--max-errors",
            "1",
        ],
        env,
    );
    assert_eq!(tolerant.code, Some(0), "{tolerant:?}");
    assert_eq!(count().await, 5);
    let rejects = std::fs::read_to_string(config.path().join("more.rejects.csv")).unwrap();
    assert_eq!(
        rejects,
        "id,name,amount,seen,_reject_reason\n5,kiwi,x,,\"line 3, column amount: \"\"x\"\" is not a number (column type {})\"\n"
            .replace("{}", amount_type),
    );
}

#[tokio::test]
async fn postgres_copy() {
    let Some(pg) = tests::pg::cluster() else {
        return;
    };
    pg.create_role_and_database("ingest_pg", "ingest-pw").await;
    let config = ConfigDir::new();
    config.target(
        "t",
        &format!("kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"ingest_pg\"\nuser = \"ingest_pg\"\nsources = [\"env\"]\nenv_prefix = \"I\"\n", pg.port()),
    );
    let options = sqlx::postgres::PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(pg.port())
        .username("ingest_pg")
        .password("ingest-pw")
        .database("ingest_pg");
    let pool = sqlx::PgPool::connect_with(options).await.unwrap();
    sqlx::query("create table items (id int primary key, name text not null, amount numeric(10,2), seen date)")
        .execute(&pool).await.unwrap();
    let count = async || -> i64 {
        sqlx::query_scalar("select count(*) from items")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    scenario(
        &config,
        "t",
        &[("I_PASSWORD", "ingest-pw")],
        "numeric(10,2)",
        Writes::Copy,
        count,
    )
    .await;
    let names: Vec<String> = sqlx::query_scalar("select name from items order by id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        names,
        vec!["apple", "pear, green", "say \"hi\"", "fig", "lime"]
    );
}

#[tokio::test]
async fn sqlite_inserts() {
    let config = ConfigDir::new();
    let pool = config.sqlite_target("t", "ingest.sqlite3").await;
    sqlx::query("create table items (id integer primary key, name text not null, amount numeric(10,2), seen date)")
        .execute(&pool).await.unwrap();
    let count = async || -> i64 {
        sqlx::query_scalar("select count(*) from items")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    scenario(&config, "t", &[], "numeric(10,2)", Writes::Inserts, count).await;
}

#[tokio::test]
async fn mariadb_inserts() {
    let Some(server) = tests::mariadb::server() else {
        return;
    };
    server
        .create_user_and_database("ingest_my", "ingest-pw")
        .await;
    let config = ConfigDir::new();
    config.target(
        "t",
        &format!("kind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"ingest_my\"\nuser = \"ingest_my\"\nsources = [\"mycnf\"]\nenv_prefix = \"I\"\n", server.port()),
    );
    config.secret_file(".my.cnf", "[client]\npassword = ingest-pw\n");
    let options = sqlx::mysql::MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(server.port())
        .username("ingest_my")
        .password("ingest-pw")
        .database("ingest_my");
    let pool = sqlx::MySqlPool::connect_with(options).await.unwrap();
    sqlx::query("create table items (id int primary key, name text not null, amount decimal(10,2), seen date)")
        .execute(&pool).await.unwrap();
    let count = async || -> i64 {
        sqlx::query_scalar("select count(*) from items")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    scenario(
        &config,
        "t",
        &[("HOME", config.path_str())],
        "decimal(10,2)",
        Writes::Inserts,
        count,
    )
    .await;
}
