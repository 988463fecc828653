//! What a viewer page may do to the database, on PostgreSQL and on MariaDB: read only, under a
//! statement timeout that the server enforces, and only through columns the table has.

use std::time::Duration;

use tests::bin::ConfigDir;

use super::viewer::{Reply, TOKEN_VAR, Viewer};

/// A viewer on a config holding `target` as `t`, with its password in the environment, and a
/// session cookie for it. The config directory lives as long as the first value.
fn logged_in(target: &str, password: (&str, &str)) -> (ConfigDir, Viewer, String) {
    let config = ConfigDir::new();
    config.target("t", target);
    let cache = config.path().join("cache");
    let token = tests::servers::random_token(32);
    let viewer = Viewer::start(
        &config,
        &[],
        &[
            password,
            ("PROJECT_CACHE_DIR", cache.to_str().unwrap()),
            (TOKEN_VAR, &token),
        ],
    );
    let (_, cookie) = viewer.login(&token).expect("a session cookie");
    (config, viewer, cookie)
}

/// The page machinery works: a plain table's rows are shown, sorted.
fn plain_rows_are_shown(get: &impl Fn(&str) -> Reply, schema: &str) {
    let plain = get(&format!("/t/t/{schema}/plain/rows?sort=id&dir=desc"));
    assert_eq!(plain.status, 200, "{}", plain.body);
    assert!(
        plain.body.contains("<td class=\"num\">2</td><td>two</td>"),
        "{}",
        plain.body
    );
}

/// Each query names a sort or filter column the table does not have: 400, before any SQL.
fn unknown_columns_are_refused(get: &impl Fn(&str) -> Reply, schema: &str, queries: &[&str]) {
    for query in queries {
        let refused = get(&format!("/t/t/{schema}/plain/rows?{query}"));
        assert_eq!(refused.status, 400, "{query}: {}", refused.body);
        assert!(
            refused.body.contains("no column"),
            "{query}: {}",
            refused.body
        );
    }
}

/// The viewer's promises about what a page may do to the database, against PostgreSQL: rows are
/// read in a read-only transaction (a view whose function writes is refused by the server, and
/// nothing is written), under a server-side statement timeout (a view that sleeps for ten
/// minutes is cancelled by PostgreSQL, not merely abandoned by the viewer while its backend
/// goes on), and a sort or filter column the table does not have is refused before any SQL.
#[tokio::test]
async fn pages_are_read_only_time_limited_and_name_only_real_columns() {
    let Some(pg) = tests::pg::cluster() else {
        return;
    };
    pg.create_role_and_database("viewer_ro", "viewer-ro-pw")
        .await;
    let options = sqlx::postgres::PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(pg.port())
        .username("viewer_ro")
        .password("viewer-ro-pw")
        .database("viewer_ro");
    let pool = sqlx::PgPool::connect_with(options).await.unwrap();
    sqlx::raw_sql(
        "create table written (n int);
         create table plain (id int primary key, label text);
         insert into plain values (1, 'one'), (2, 'two');
         create function writes() returns int language sql volatile
             as 'insert into written values (1) returning n';
         create view writer as select writes() as w;
         create function sleeps() returns int language sql volatile
             as 'select 1 from pg_sleep(600)';
         create view sleeper as select sleeps() as s;",
    )
    .execute(&pool)
    .await
    .unwrap();

    let target = format!(
        "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"viewer_ro\"\nuser = \"viewer_ro\"\nsources = [\"env\"]\nenv_prefix = \"V\"\n",
        pg.port()
    );
    let (_config, viewer, cookie) = logged_in(&target, ("V_PASSWORD", "viewer-ro-pw"));
    let get = |path: &str| viewer.browse(path, Some(&cookie));
    plain_rows_are_shown(&get, "public");

    // Read-only: the server refuses the write and nothing was written.
    let writer = get("/t/t/public/writer/rows");
    assert_eq!(writer.status, 502, "{}", writer.body);
    assert!(
        writer.body.contains("read-only transaction"),
        "{}",
        writer.body
    );
    let written: i64 = sqlx::query_scalar("select count(*) from written")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(written, 0, "a page wrote to the database");

    // Time-limited: the page fails, and PostgreSQL itself cancelled the statement. A viewer
    // that only stopped waiting would leave the backend sleeping for ten minutes.
    let sleeper = get("/t/t/public/sleeper/rows");
    assert_eq!(sleeper.status, 502, "{}", sleeper.body);
    let mut sleeping: i64 = 1;
    for _ in 0..300 {
        sleeping = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = 'viewer_ro' and state = 'active' and query like '%sleeper%'
               and pid <> pg_backend_pid()",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if sleeping == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        sleeping, 0,
        "the sleeping statement is still running on the server a minute later"
    );

    // Only real columns: refused with 400 before any SQL, whatever the name holds.
    unknown_columns_are_refused(
        &get,
        "public",
        &[
            "sort=nope",
            "sort=w",
            "sort=id%20desc%3B%20drop%20table%20plain",
            "sort=ID",
            "col=nope&eq=1",
            "col=label%20or%201%3D1&eq=x",
            "col=%22label%22&eq=one",
        ],
    );
    let rows: i64 = sqlx::query_scalar("select count(*) from plain")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 2);
    pool.close().await;
}

/// The same promises against MariaDB: rows are read in a read-only transaction (a view whose
/// function writes is refused by the server, error 1792 "Cannot execute statement in a READ
/// ONLY transaction", and nothing is written, even to a MyISAM table that no rollback could
/// undo), under a server-side statement timeout (a view whose function computes for about an
/// hour is cut off by MariaDB's `max_statement_time`, not merely abandoned by the viewer while
/// the server goes on), and a sort or filter column the table does not have is refused before
/// any SQL.
///
/// The long statement is a `BENCHMARK` loop, not `SLEEP`: MariaDB ends a `SLEEP` (and a
/// `GET_LOCK` wait) on its own once the client's socket is closed, so a viewer that merely
/// dropped its connection could pass with one; a loop stops only when the server kills it.
#[tokio::test]
async fn mariadb_pages_are_read_only_time_limited_and_name_only_real_columns() {
    let Some(server) = tests::mariadb::server() else {
        return;
    };
    server
        .create_user_and_database("viewer_ro_my", "viewer-ro-my-pw")
        .await;
    let options = sqlx::mysql::MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(server.port())
        .username("viewer_ro_my")
        .password("viewer-ro-my-pw")
        .database("viewer_ro_my");
    let pool = sqlx::MySqlPool::connect_with(options).await.unwrap();
    sqlx::raw_sql(
        "create table written (n int) engine = myisam;
         create table plain (id int primary key, label text);
         insert into plain values (1, 'one'), (2, 'two');
         analyze table plain;
         create function writes() returns int modifies sql data
             begin insert into written values (1); return 1; end;
         create view writer as select writes() as w;
         create function spins() returns int no sql
             begin do benchmark(10000000000, md5('spins')); return 1; end;
         create view spinner as select spins() as s;",
    )
    .execute(&pool)
    .await
    .unwrap();

    let target = format!(
        "kind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"viewer_ro_my\"\nuser = \"viewer_ro_my\"\nsources = [\"env\"]\nenv_prefix = \"VRM\"\nschemas = [\"viewer_ro_my\"]\n",
        server.port()
    );
    let (_config, viewer, cookie) = logged_in(&target, ("VRM_PASSWORD", "viewer-ro-my-pw"));
    let viewer = std::sync::Arc::new(viewer);
    let get = |path: &str| viewer.browse(path, Some(&cookie));
    plain_rows_are_shown(&get, "viewer_ro_my");
    // The server's estimate of a table's rows (InnoDB's table_rows; a view has none).
    let tables = get("/t/t");
    assert!(
        tables.body.contains(
            "<a href=\"/t/t/viewer_ro_my/plain\">plain</a></td><td>table</td><td class=\"num\">2</td>"
        ),
        "{}",
        tables.body
    );
    assert!(
        tables.body.contains(
            "<a href=\"/t/t/viewer_ro_my/writer\">writer</a></td><td>view</td><td class=\"num unknown\"></td>"
        ),
        "{}",
        tables.body
    );

    // Read-only: the server refuses the write and nothing was written.
    let writer = get("/t/t/viewer_ro_my/writer/rows");
    assert_eq!(writer.status, 502, "{}", writer.body);
    assert!(
        writer
            .body
            .contains("Cannot execute statement in a READ ONLY transaction"),
        "{}",
        writer.body
    );
    let written: i64 = sqlx::query_scalar("select count(*) from written")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(written, 0, "a page wrote to the database");

    // Time-limited: the statement is seen running while the page waits, the page fails, and
    // then MariaDB itself has ended the statement. A viewer that only stopped waiting would
    // leave the server computing for an hour. (Inside a function the process list shows the
    // function's current statement, and a prepared statement's command is `Execute`.)
    let running = async || -> i64 {
        sqlx::query_scalar(
            "select count(*) from information_schema.processlist
             where user = 'viewer_ro_my' and info like '%benchmark(%' and id <> connection_id()",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let page = std::thread::spawn({
        let (viewer, cookie) = (viewer.clone(), cookie.clone());
        move || viewer.browse("/t/t/viewer_ro_my/spinner/rows", Some(&cookie))
    });
    let mut seen = false;
    for _ in 0..600 {
        if running().await > 0 {
            seen = true;
            break;
        }
        if page.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let spinner = page.join().unwrap();
    assert!(
        seen,
        "the long statement never ran on the server: {}",
        spinner.body
    );
    assert_eq!(spinner.status, 502, "{}", spinner.body);
    assert!(
        spinner.body.contains("max_statement_time exceeded")
            || spinner.body.contains("the query took longer than 5 s"),
        "{}",
        spinner.body
    );
    let mut still = 1;
    for _ in 0..300 {
        still = running().await;
        if still == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        still, 0,
        "the long statement is still running on the server a minute later"
    );

    // Only real columns: refused with 400 before any SQL, whatever the name holds. MariaDB
    // itself would take `ID` for `id`; the viewer names only the columns the metadata has.
    unknown_columns_are_refused(
        &get,
        "viewer_ro_my",
        &[
            "sort=nope",
            "sort=w",
            "sort=id%20desc%3B%20drop%20table%20plain",
            "sort=ID",
            "sort=id%60%2C%20%60label",
            "col=nope&eq=1",
            "col=LABEL&eq=one",
            "col=label%20or%201%3D1&eq=x",
            "col=%60label%60&eq=one",
        ],
    );
    let rows: i64 = sqlx::query_scalar("select count(*) from plain")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 2);
    pool.close().await;
}
