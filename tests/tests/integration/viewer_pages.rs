//! The viewer's pages as an operator sees them, in a real headless Chromium against real
//! servers: the target list (a pgpass target's winning source, a Vault target's lease, a dead
//! server's error in its own row), estimated row counts, previous/next from both ends, NULL
//! against an empty value, numbers, long values; and screenshots of each page, light and
//! dark, in `<target dir>/viewer-screenshots/` for a person to look at.

use std::io::{Read as _, Write as _};

use tests::bin::{ConfigDir, chromium_dom, chromium_screenshot, screenshot_dir};
use tests::servers::{RefusingPort, random_token};

use super::vault::{Statements, database_engine_with, target as vault_target};
use super::viewer::{TOKEN_VAR, login_url, start_viewer};

/// A page's DOM through a fresh Chromium profile that logs in on the way; the token never
/// shows in it.
fn open(base: &str, token: &str, path: &str) -> Option<String> {
    let dom = chromium_dom(&login_url(base, token, path))?;
    assert!(!dom.contains(token), "the token is in the page: {dom}");
    assert!(
        !dom.contains("id=\"error\""),
        "{path} is an error page: {dom}"
    );
    Some(dom)
}

/// Screenshots of `path`, light and dark, as `<name>-light.png` and `<name>-dark.png`.
fn screenshots(base: &str, token: &str, path: &str, name: &str) {
    let dir = screenshot_dir();
    for (dark, scheme) in [(false, "light"), (true, "dark")] {
        let file = dir.join(format!("{name}-{scheme}.png"));
        let _ = std::fs::remove_file(&file);
        if chromium_screenshot(&login_url(base, token, path), &file, dark).is_none() {
            return;
        }
        // Past libtest's capture, so that a person running the tests sees where they are.
        let _ = writeln!(
            std::io::stderr().lock(),
            "viewer screenshot: {}",
            file.display()
        );
    }
}

/// The markup of the target list's row for `name`.
fn row<'a>(dom: &'a str, name: &str) -> &'a str {
    let start = dom
        .find(&format!("<tr id=\"target-{name}\">"))
        .unwrap_or_else(|| panic!("no row for {name}: {dom}"));
    let end = dom[start..].find("</tr>").map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

#[tokio::test]
async fn the_target_list_shows_sources_leases_pools_and_a_dead_servers_error() {
    let (Some(pg), Some(vault)) = (tests::pg::cluster(), tests::vault::server()) else {
        return;
    };
    let pgpass_pw = format!("pgpass-{}", random_token(12));
    pg.create_role_and_database("vp_pgpass", &pgpass_pw).await;
    pg.create_role_and_database("vp_vault", "unused").await;
    database_engine_with(
        vault,
        pg,
        "db_viewer_pages",
        "vp_vault",
        ("10m", "30m"),
        Statements::default(),
    );
    let config = ConfigDir::new();
    // `prod`, leased from Vault's database engine.
    vault_target(
        &config,
        pg,
        vault,
        "vp_vault",
        "auth = \"token\"\ndatabase = { mount = \"db_viewer_pages\", role = \"app\" }",
    );
    config.target(
        "pgp",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"vp_pgpass\"\nuser = \"vp_pgpass\"\nsources = [\"env\", \"pgpass\"]\nenv_prefix = \"PGP\"\n",
            pg.port()
        ),
    );
    let pgpass = config.secret_file(
        "pgpass",
        &format!("127.0.0.1:{}:vp_pgpass:vp_pgpass:{pgpass_pw}\n", pg.port()),
    );
    let dead = RefusingPort::new().unwrap();
    config.target(
        "down",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"gone\"\nuser = \"nobody\"\nsources = [\"env\"]\nenv_prefix = \"DOWN\"\n",
            dead.port()
        ),
    );
    let lite = config.sqlite_target("lite", "lite.sqlite3").await;
    lite.close().await;
    let cache = config.path().join("cache");
    let token = random_token(32);
    let (_viewer, announced) = tests::bin::Background::start_announced(
        "dbcore-viewer",
        &[
            "--config-dir",
            config.path_str(),
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ],
        &[
            ("PGP_PGPASS", pgpass.as_str()),
            ("DOWN_PASSWORD", "down-password-never-shown"),
            ("VAULT_TOKEN", vault.root_token()),
            ("HOME", config.path_str()),
            ("PROJECT_CACHE_DIR", cache.to_str().unwrap()),
            (TOKEN_VAR, &token),
        ],
        "dbcore-viewer: listening on ",
    );
    let mut parts = announced.split("; ");
    let base = parts.next().unwrap().trim().to_owned();
    let metrics = parts
        .next()
        .and_then(|m| m.strip_prefix("metrics at http://"))
        .and_then(|m| m.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in `{announced}`"))
        .to_owned();
    let Some(dom) = open(&base, &token, "/") else {
        return;
    };
    // The targets the page opened, in the metrics: the Vault lease's seconds left, each
    // source's answers, the pools; never a secret or a lease id.
    let scraped = super::file_rotation::scrape(&metrics);
    assert!(
        super::file_rotation::sample(
            &scraped,
            "dbcore_lease_expiry_seconds",
            &["target=\"prod\"", "source=\"vault\""]
        )
        .is_some_and(|left| left > 60.0),
        "{scraped}"
    );
    assert!(
        super::file_rotation::sample(
            &scraped,
            "dbcore_credential_resolutions_total",
            &["target=\"pgp\"", "source=\"pgpass\"", "outcome=\"found\""]
        ) == Some(1.0),
        "{scraped}"
    );
    assert!(
        super::file_rotation::sample(
            &scraped,
            "dbcore_connection_errors_total",
            &["target=\"down\"", "class=\"connection_refused\""]
        )
        .is_some_and(|n| n >= 1.0),
        "{scraped}"
    );
    assert!(
        !scraped.contains(vault.root_token()) && !scraped.contains("down-password-never-shown")
    );

    let pgp = row(&dom, "pgp");
    assert!(
        pgp.contains(&format!("127.0.0.1:{}/vp_pgpass", pg.port()))
            && pgp.contains("<td class=\"where\">vp_pgpass</td>"),
        "{pgp}"
    );
    assert!(
        pgp.contains("<b class=\"source\">pgpass</b>") && pgp.contains(&format!("{pgpass} line 1")),
        "the winning source and where it found the password: {pgp}"
    );
    assert!(pgp.contains("<td class=\"ok\">open</td>"), "{pgp}");
    assert!(pgp.contains("size 1 · idle 1<br>max "), "{pgp}");

    let prod = row(&dom, "prod");
    assert!(
        prod.contains("<b class=\"source\">vault</b>"),
        "the Vault target's source: {prod}"
    );
    let lease = prod
        .split("<td class=\"lease\">")
        .nth(1)
        .and_then(|rest| rest.split("</td>").next())
        .unwrap_or_else(|| panic!("no lease cell: {prod}"));
    assert!(
        lease.starts_with("vault · ")
            && (lease.contains("m ") || lease.contains("s left"))
            && lease.contains(" left · renewable · renewed 0×"),
        "{lease}"
    );
    assert!(prod.contains("<td class=\"ok\">open</td>"), "{prod}");

    let down = row(&dom, "down");
    assert!(
        down.contains("<span class=\"kind\">connection_refused</span>")
            && down.contains(&format!("127.0.0.1:{}/gone", dead.port()))
            && down.contains("<td class=\"where\">nobody</td>"),
        "the dead server's error in its own row: {down}"
    );
    let lite_row = row(&dom, "lite");
    assert!(
        lite_row.contains("<td>sqlite</td>") && lite_row.contains("none needed"),
        "{lite_row}"
    );

    // No secret: no password, no token, no lease id, nothing Vault handed out.
    let mut secrets = vec![
        pgpass_pw.clone(),
        "down-password-never-shown".to_owned(),
        vault.root_token().to_owned(),
        token.clone(),
    ];
    secrets.extend(vault.issued_secrets());
    for secret in &secrets {
        assert!(!dom.contains(secret.as_str()), "a secret is in the page");
    }
    assert!(!dom.contains("lease_id") && !dom.contains("db_viewer_pages/creds/app/"));
    screenshots(&base, &token, "/", "targets");
    drop(dead);
}

/// Ids (the first cell of each row) on a rows page, in order.
fn ids(dom: &str) -> Vec<u32> {
    let table = dom
        .split("<table id=\"data\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap_or_else(|| panic!("no rows table: {dom}"));
    table
        .split("<tr>")
        .filter_map(|tr| tr.strip_prefix("<td class=\"num\">"))
        .map(|rest| rest.split("</td>").next().unwrap().parse().unwrap())
        .collect()
}

/// The `rel` link's target on a page, and how many there are (one above the rows, one below).
fn link(dom: &str, rel: &str) -> (Option<String>, usize) {
    let marker = format!("rel=\"{rel}\" href=\"");
    let href = dom.split(&marker).nth(1).map(|rest| {
        rest.split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&")
            .to_owned()
    });
    (href, dom.matches(&marker).count())
}

/// Walks from `first` by `next` to the last page, then by `prev` back to the first, and
/// returns the ids seen each way.
fn walk(base: &str, token: &str, first: &str) -> (Vec<u32>, Vec<u32>) {
    let mut forward = Vec::new();
    let mut path = first.to_owned();
    let mut pages = 0;
    let last = loop {
        let dom = open(base, token, &path).unwrap();
        if pages == 0 {
            assert_eq!(
                link(&dom, "prev").1,
                0,
                "the first page has no previous: {dom}"
            );
        }
        forward.extend(ids(&dom));
        pages += 1;
        assert!(pages < 10, "too many pages");
        match link(&dom, "next") {
            (Some(next), 2) => path = next,
            (None, 0) => break dom,
            other => panic!("next links above and below the rows: {other:?}"),
        }
    };
    let mut backward = Vec::new();
    let mut dom = last;
    loop {
        let mut page = ids(&dom);
        page.extend(backward);
        backward = page;
        match link(&dom, "prev") {
            (Some(prev), 2) => dom = open(base, token, &prev).unwrap(),
            (None, 0) => break,
            other => panic!("previous links above and below the rows: {other:?}"),
        }
    }
    (forward, backward)
}

#[tokio::test]
async fn rows_pages_page_both_ways_and_show_values_as_they_are() {
    let Some(pg) = tests::pg::cluster() else {
        return;
    };
    pg.create_role_and_database("vp_rows", "rows-pw").await;
    let options = sqlx::postgres::PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(pg.port())
        .username("vp_rows")
        .password("rows-pw")
        .database("vp_rows");
    let pool = sqlx::PgPool::connect_with(options).await.unwrap();
    let long = format!("{}ß — the end", "€".repeat(100));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "create table items (id int primary key, grp int not null, label text, note text, amount numeric(10,2));
         insert into items select g, g % 3, 'label ' || g, 'note ' || g, g * 1.5 from generate_series(1, 120) g;
         update items set note = null where id = 1;
         update items set note = '' where id = 2;
         update items set note = '{long}' where id = 3;
         create table never_analyzed (id int primary key);
         analyze items;"
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let config = ConfigDir::new();
    config.target(
        "t",
        &format!("kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"vp_rows\"\nuser = \"vp_rows\"\nsources = [\"env\"]\nenv_prefix = \"VR\"\n", pg.port()),
    );
    let cache = config.path().join("cache");
    let token = random_token(32);
    let (_viewer, base) = start_viewer(
        &["--config-dir", config.path_str(), "--listen", "127.0.0.1:0"],
        &[
            ("VR_PASSWORD", "rows-pw"),
            ("PROJECT_CACHE_DIR", cache.to_str().unwrap()),
            (TOKEN_VAR, &token),
        ],
    );

    // Estimated rows: ANALYZE's count; a table never analyzed says so.
    let Some(tables) = open(&base, &token, "/t/t") else {
        return;
    };
    assert!(
        tables.contains(
            "<a href=\"/t/t/public/items\">items</a></td><td>table</td><td class=\"num\">120</td>"
        ),
        "{tables}"
    );
    assert!(
        tables.contains("never_analyzed</a></td><td>table</td><td class=\"num unknown\" title=\"never analyzed\">—</td>"),
        "{tables}"
    );
    screenshots(&base, &token, "/t/t", "tables");

    // Previous/next from both ends, unsorted (the key's order) and on a column with ties.
    let all: Vec<u32> = (1..=120).collect();
    for first in [
        "/t/t/public/items/rows",
        "/t/t/public/items/rows?sort=grp&dir=desc",
    ] {
        let (mut forward, mut backward) = walk(&base, &token, first);
        assert_eq!(forward.len(), 120, "{first}: {forward:?}");
        assert_eq!(backward, forward, "{first}: the same rows back as forth");
        forward.sort_unstable();
        backward.sort_unstable();
        assert_eq!(forward, all, "{first}: every row exactly once");
    }

    // NULL against empty, numbers right-aligned, the long value cut by characters and whole.
    let page = open(&base, &token, "/t/t/public/items/rows").unwrap();
    assert!(
        page.contains("<tr><td class=\"num\">1</td><td class=\"num\">1</td><td>label 1</td><td class=\"null\">NULL</td><td class=\"num\">1.50</td></tr>"),
        "{page}"
    );
    assert!(
        page.contains("<tr><td class=\"num\">2</td><td class=\"num\">2</td><td>label 2</td><td></td><td class=\"num\">3.00</td></tr>"),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "<details><summary>{}…</summary><div class=\"whole\">{long}</div></details>",
            "€".repeat(60)
        )),
        "{page}"
    );
    assert!(
        page.contains("<th class=\"num\"><a class=\"sort\" href=\"/t/t/public/items/rows?dir=asc&amp;page=1&amp;sort=id\">id</a><span class=\"type\">integer</span></th>"),
        "{page}"
    );
    assert!(
        page.contains("<a class=\"sort\" href=\"/t/t/public/items/rows?dir=asc&amp;page=1&amp;sort=label\">label</a><span class=\"type\">text</span></th>"),
        "{page}"
    );
    screenshots(&base, &token, "/t/t/public/items/rows", "rows");

    // The stylesheet right-aligns what the pages mark as numbers, in both schemes.
    let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    let host = base.trim_start_matches("http://");
    write!(
        stream,
        "GET /style.css HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut css = String::new();
    stream.read_to_string(&mut css).unwrap();
    let css = css.to_ascii_lowercase();
    assert!(css.starts_with("http/1.1 200"), "{css}");
    assert!(css.contains("content-type: text/css"), "{css}");
    assert!(css.contains("td.num,th.num{text-align:right"), "{css}");
    assert!(css.contains("prefers-color-scheme:dark"), "{css}");
}
