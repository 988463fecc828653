//! The viewer in a real headless Chromium: a 1,000-table target, paging and sorting a
//! 100,000-row table, a hostile filter value shown as text, and the token rule.

use std::time::{Duration, Instant};

use tests::bin::{Background, ConfigDir, chromium_dom, run};
use tests::servers::free_port;

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the viewer did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn a_big_target_in_a_real_browser() {
    let Some(pg) = tests::pg::cluster() else {
        return;
    };
    pg.create_role_and_database("viewer_pg", "viewer-pw").await;
    let options = sqlx::postgres::PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(pg.port())
        .username("viewer_pg")
        .password("viewer-pw")
        .database("viewer_pg");
    let pool = sqlx::PgPool::connect_with(options).await.unwrap();
    let mut ddl = String::new();
    for i in 0..1000 {
        ddl.push_str(&format!(
            "create table t{i:04} (id int primary key, v text);"
        ));
    }
    ddl.push_str("create table big (id int primary key, label text); insert into big select g, 'row ' || g from generate_series(1, 100000) g;");
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&pool)
        .await
        .unwrap();

    let config = ConfigDir::new();
    config.target(
        "t",
        &format!("kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"viewer_pg\"\nuser = \"viewer_pg\"\nsources = [\"env\"]\nenv_prefix = \"V\"\n", pg.port()),
    );
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let cache = config.path().join("cache");
    let _viewer = Background::start(
        "viewer",
        &["--config-dir", config.path_str(), "--listen", &listen],
        &[
            ("V_PASSWORD", "viewer-pw"),
            ("PROJECT_CACHE_DIR", cache.to_str().unwrap()),
        ],
    );
    wait_for(port);
    let base = format!("http://{listen}");

    let Some(tables) = chromium_dom(&format!("{base}/t/t")) else {
        return;
    };
    assert!(
        tables.contains("public (1001 tables)"),
        "{}",
        &tables[..tables.len().min(500)]
    );
    assert_eq!(tables.matches("<li><a href=\"/t/t/public/").count(), 1001);

    let first = chromium_dom(&format!("{base}/t/t/public/big/rows?sort=id&dir=asc")).unwrap();
    assert!(first.contains("<td>1</td><td>row 1</td>"), "{first}");
    assert!(first.contains("<td>50</td><td>row 50</td>"), "{first}");
    assert!(!first.contains("<td>51</td>"), "{first}");
    assert!(first.contains("id=\"next\""));
    let last = chromium_dom(&format!(
        "{base}/t/t/public/big/rows?sort=id&dir=asc&page=2000"
    ))
    .unwrap();
    assert!(
        last.contains("<td>99951</td>") && last.contains("<td>100000</td><td>row 100000</td>"),
        "{last}"
    );
    assert!(
        !last.contains("id=\"next\""),
        "the last page has no next link"
    );
    let sorted = chromium_dom(&format!("{base}/t/t/public/big/rows?sort=id&dir=desc")).unwrap();
    let first_cell = sorted.find("<td>").map(|i| &sorted[i..i + 16]).unwrap();
    assert_eq!(first_cell, "<td>100000</td><");

    let hostile = "<script>alert(1)</script>' or 1=1 --";
    let url = format!(
        "{base}/t/t/public/big/rows?col=label&eq={}",
        hostile
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    );
    let filtered = chromium_dom(&url).unwrap();
    assert!(
        filtered.contains("rows where label = &lt;script&gt;alert(1)&lt;/script&gt;' or 1=1 --"),
        "{filtered}"
    );
    assert!(
        !filtered.contains("<script>alert"),
        "the value reached the page as markup"
    );
    assert!(
        !filtered.contains("<td>1</td>"),
        "the value reached SQL as text: {filtered}"
    );
    let exact = chromium_dom(&format!("{base}/t/t/public/big/rows?col=label&eq=row%2042")).unwrap();
    assert!(exact.contains("<td>42</td><td>row 42</td>"), "{exact}");

    // Read-only by construction: the rows are read in a read-only transaction.
    let columns = chromium_dom(&format!("{base}/t/t/public/big")).unwrap();
    assert!(
        columns.contains("<td>id</td><td>integer</td><td>no</td><td></td><td>primary key</td>"),
        "{columns}"
    );
    pool.close().await;
}

#[test]
fn beyond_loopback_a_token_is_required() {
    let config = ConfigDir::new();
    let refused = run(
        "viewer",
        &["--config-dir", config.path_str(), "--listen", "0.0.0.0:0"],
        &[],
    );
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.contains("requires --token"),
        "{}",
        refused.stderr
    );

    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let _viewer = Background::start(
        "viewer",
        &[
            "--config-dir",
            config.path_str(),
            "--listen",
            &listen,
            "--token",
            "s3cret-token",
        ],
        &[],
    );
    wait_for(port);
    let Some(denied) = chromium_dom(&format!("http://{listen}/")) else {
        return;
    };
    assert!(denied.contains("a token is required"), "{denied}");
    let allowed = chromium_dom(&format!("http://{listen}/?token=s3cret-token")).unwrap();
    assert!(
        allowed.contains("<ul id=\"targets\">") && allowed.contains(">local<"),
        "{allowed}"
    );
}
