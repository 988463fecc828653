//! The router in-process on a loopback port: generated hostile requests never panic a handler
//! and never leak the token, and concurrent requests open one pool per target.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed set-up step stops the test with its message"
)]

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;

use domain::MapEnv;
use proptest::prelude::*;

use crate::App;
use crate::auth::Guard;
use crate::targets::Targets;
use crate::token::Token;

const TOKEN: &str = "in-process-token-0123456789";

struct Server {
    app: Arc<App>,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// A viewer over a config dir with one SQLite target, `lite`, holding `items`.
async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("targets")).unwrap();
    let db = dir.path().join("lite.sqlite3");
    std::fs::write(
        dir.path().join("targets/lite.toml"),
        format!("kind = \"sqlite\"\npath = {:?}\n", db.display().to_string()),
    )
    .unwrap();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::raw_sql("create table items (id integer primary key, name text); insert into items values (1, 'a'); analyze;")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let env = MapEnv::new()
        .with("HOME", dir.path().to_str().unwrap())
        .with(
            "PROJECT_CACHE_DIR",
            dir.path().join("cache").to_str().unwrap(),
        );
    let context = project_core::context_with(Some(dir.path()), Arc::new(env));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Arc::new(App {
        targets: Arc::new(Targets::new(context)),
        guard: Guard::new(addr, &[], Token::parse(TOKEN, "test").unwrap()).unwrap(),
    });
    let router = crate::routes::router(app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Server {
        app,
        addr,
        _dir: dir,
    }
}

/// A blocking raw request; returns the status (0 when the connection closed without one) and
/// the whole answer.
fn get(addr: SocketAddr, target: &[u8], extra: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(target);
    request.extend_from_slice(
        format!(" HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n").as_bytes(),
    );
    stream.write_all(&request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

fn session(addr: SocketAddr) -> String {
    let (status, answer) = get(addr, format!("/login?token={TOKEN}").as_bytes(), "");
    assert_eq!(status, 303, "{answer}");
    let line = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap();
    let cookie = line["set-cookie:".len()..]
        .split(';')
        .next()
        .unwrap()
        .trim();
    format!("Cookie: {cookie}\r\n")
}

/// Path segments and query parts a hostile visitor would combine.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("lite".to_owned()),
        Just("main".to_owned()),
        Just("items".to_owned()),
        Just("rows".to_owned()),
        Just("..".to_owned()),
        Just("%2E%2E%2F".to_owned()),
        Just("%2Ftmp%2Fevil".to_owned()),
        Just("%00".to_owned()),
        Just("%FF".to_owned()),
        Just("%".to_owned()),
        Just("%C3%A9".to_owned()),
        "[a-zA-Z0-9._~-]{0,80}",
        "(%[0-9A-F]{2}){0,20}",
    ]
}

fn query_part() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("page"),
        Just("sort"),
        Just("dir"),
        Just("col"),
        Just("eq"),
        Just("token"),
        Just("next"),
        Just("%00"),
    ];
    let value = prop_oneof![
        Just(i64::MAX.to_string()),
        Just(i64::MIN.to_string()),
        Just(u64::MAX.to_string()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("id".to_owned()),
        Just("desc".to_owned()),
        Just("%FF%FE".to_owned()),
        "-?[0-9]{0,30}",
        "(%[0-9A-F]{2}|[a-z=&;+]){0,30}",
    ];
    (key, value).prop_map(|(k, v)| format!("{k}={v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_generated_request_panics_a_handler_or_shows_the_token() {
    let server = server().await;
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        let cookie = session(addr);
        let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
            cases: 200,
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        });
        let strategy = (
            proptest::collection::vec(segment(), 0..5),
            proptest::collection::vec(query_part(), 0..4),
            any::<bool>(),
        );
        runner
            .run(&strategy, |(segments, query, logged_in)| {
                let target = format!("/t/{}?{}", segments.join("/"), query.join("&"));
                let extra = if logged_in { cookie.as_str() } else { "" };
                let (status, answer) = get(addr, target.as_bytes(), extra);
                prop_assert!(
                    matches!(status, 200 | 303 | 400 | 401 | 404 | 405),
                    "{target}: {answer}"
                );
                prop_assert!(!answer.contains(TOKEN), "{target}: {answer}");
                Ok(())
            })
            .unwrap();
        // Still answering.
        let (status, answer) = get(addr, b"/t/lite/main/items/rows?page=1", &cookie);
        assert_eq!(status, 200, "{answer}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_open_one_pool_per_target() {
    let server = server().await;
    let addr = server.addr;
    let cookie = tokio::task::spawn_blocking(move || session(addr))
        .await
        .unwrap();
    let mut handles = Vec::new();
    for i in 0..16 {
        let cookie = cookie.clone();
        handles.push(tokio::task::spawn_blocking(move || {
            let path: &[u8] = match i % 4 {
                0 => b"/t/lite",
                1 => b"/t/lite/main/items",
                2 => b"/t/lite/main/items/rows",
                _ => b"/t/.%2Flite",
            };
            get(addr, path, &cookie).0
        }));
    }
    for handle in handles {
        let status = handle.await.unwrap();
        assert!(status == 200 || status == 400, "{status}");
    }
    assert_eq!(server.app.targets.opened(), 1);
}

/// A target whose first open fails slowly (a server that accepts and never answers), asked for
/// by 50 requests at once: the requests that arrive while an open is under way share its
/// outcome, failure included, instead of each trying again in turn (50 connection timeouts
/// one after another, and 50 times the load on the credential source and the server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_arrive_during_a_failing_open_share_its_failure() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("targets")).unwrap();
    std::fs::write(
        dir.path().join("targets/slow.toml"),
        format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"app\"\nsources = []\nconnect_timeout = \"1s\"\n[pool]\nacquire_timeout = \"1s\"\n"
        ),
    )
    .unwrap();
    let env = MapEnv::new().with("HOME", dir.path().to_str().unwrap());
    let targets = Arc::new(Targets::new(project_core::context_with(
        Some(dir.path()),
        Arc::new(env),
    )));
    let name = targets.configured("slow").unwrap();
    let mut handles = Vec::new();
    for _ in 0..50 {
        let (targets, name) = (targets.clone(), name.clone());
        handles.push(tokio::spawn(async move { targets.db(&name).await }));
    }
    for handle in handles {
        let refusal = handle.await.unwrap().expect_err("nothing answers");
        assert_eq!(
            refusal.0,
            axum::http::StatusCode::BAD_GATEWAY,
            "{}",
            refusal.1
        );
    }
    let attempts = targets.attempts();
    assert!(
        attempts <= 3,
        "{attempts} opens for 50 requests that arrived together"
    );
    // A request after the failure tries again.
    assert!(targets.db(&name).await.is_err());
    assert_eq!(targets.attempts(), attempts + 1);
    drop(silent);
}

/// The target list opens every target and gives each its own row: an open SQLite target, a
/// refused server's classified error and a silent server's "still opening" side by side, in
/// about the page's wait and no longer; the stylesheet needs no session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_list_shows_each_target_in_its_own_row_whatever_its_server_does() {
    let server = server().await;
    let refusing = tokio::net::TcpSocket::new_v4().unwrap();
    refusing.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let refused_port = refusing.local_addr().unwrap().port();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let dir = server._dir.path();
    for (name, port) in [("down", refused_port), ("silent", silent_port)] {
        std::fs::write(
            dir.join(format!("targets/{name}.toml")),
            format!(
                "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {port}\ndatabase = \"d\"\nuser = \"app\"\nsources = []\nconnect_timeout = \"20s\"\n[pool]\nacquire_timeout = \"20s\"\n"
            ),
        )
        .unwrap();
    }
    let addr = server.addr;
    let (elapsed, page, css) = tokio::task::spawn_blocking(move || {
        let cookie = session(addr);
        let started = std::time::Instant::now();
        let (status, page) = get(addr, b"/", &cookie);
        assert_eq!(status, 200, "{page}");
        (started.elapsed(), page, get(addr, b"/style.css", ""))
    })
    .await
    .unwrap();
    assert!(elapsed < std::time::Duration::from_secs(10), "{elapsed:?}");
    let row = |name: &str| {
        let start = page
            .find(&format!("<tr id=\"target-{name}\">"))
            .unwrap_or_else(|| panic!("no row for {name}: {page}"));
        let end = page[start..].find("</tr>").unwrap() + start;
        page[start..end].to_owned()
    };
    let lite = row("lite");
    assert!(
        lite.contains("<td>sqlite</td>") && lite.contains("none needed"),
        "{lite}"
    );
    assert!(
        lite.contains("size 1 · idle 1<br>max") && lite.contains("<td class=\"ok\">open</td>"),
        "{lite}"
    );
    let down = row("down");
    assert!(
        down.contains("<span class=\"kind\">connection_refused</span>")
            && down.contains(&format!("127.0.0.1:{refused_port}/d")),
        "{down}"
    );
    let silent_row = row("silent");
    assert!(silent_row.contains("still opening"), "{silent_row}");
    let (status, tables) =
        tokio::task::spawn_blocking(move || get(addr, b"/t/lite", &session(addr)))
            .await
            .unwrap();
    assert_eq!(status, 200, "{tables}");
    assert!(
        tables.contains("items</a></td><td>table</td><td class=\"num\">1</td>"),
        "SQLite's estimate after ANALYZE: {tables}"
    );
    let (status, css) = css;
    assert_eq!(status, 200, "{css}");
    let head = css.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(head.contains("content-type: text/css"), "{head}");
    assert!(
        head.contains("cache-control: private, max-age=3600"),
        "{head}"
    );
    assert!(
        head.contains("style-src 'self'") && head.contains("default-src 'none'"),
        "{head}"
    );
    assert!(
        !head.contains("script-src") && !head.contains("unsafe-inline"),
        "{head}"
    );
    drop((refusing, silent));
}

/// A value that is not UTF-8 text is shown in hex, never as NULL; NULL and the empty string
/// stay what they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_text_are_shown_in_hex_and_only_null_as_null() {
    let server = server().await;
    let db = server._dir.path().join("lite.sqlite3");
    let pool =
        sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&db))
            .await
            .unwrap();
    sqlx::raw_sql("create table blobs (id integer primary key, b blob); insert into blobs values (1, x'ff00'), (2, ''), (3, null);")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let addr = server.addr;
    let page = tokio::task::spawn_blocking(move || {
        let cookie = session(addr);
        let (status, page) = get(addr, b"/t/lite/main/blobs/rows", &cookie);
        assert_eq!(status, 200, "{page}");
        page
    })
    .await
    .unwrap();
    assert!(page.contains("\\xff00"), "{page}");
    assert_eq!(page.matches("class=\"null\"").count(), 1, "{page}");
}
