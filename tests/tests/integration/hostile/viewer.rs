//! Hostile inputs: viewer. What a web page the user visits, another local user or a visitor
//! with a URL would send: target names that are paths, `Host` headers of other sites, tokens
//! on the command line or empty, page numbers at the edges of `i64`. Every answer, error
//! pages included, is checked for the canary password and the token.

use std::net::TcpListener;

use tests::bin::{ConfigDir, run};
use tests::servers::random_token;

use crate::integration::viewer::{TOKEN_VAR, Viewer};

/// A config dir with one SQLite file target, `lite`, holding `items(id, name)`.
async fn lite_config() -> ConfigDir {
    let config = ConfigDir::new();
    let pool = config.sqlite_target("lite", "lite.sqlite3").await;
    sqlx::raw_sql(
        "create table items (id integer primary key, name text); \
         insert into items values (1, 'first'), (2, 'second');",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    config
}

fn percent_all(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Nothing connected to `listener` (set non-blocking): no secret can have reached it.
fn assert_never_contacted(listener: &TcpListener, what: &str) {
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, from)) => panic!("the viewer connected to {what} (from {from})"),
        Err(e) => panic!("accept on {what}: {e}"),
    }
}

#[tokio::test]
async fn a_target_name_from_the_url_opens_only_a_configured_target() {
    let config = lite_config().await;
    let canary = format!("canary-{}", random_token(16));
    let token = random_token(32);
    // A host the test controls, named by files outside the targets directory and by the
    // environment of a target that has no file.
    let evil = TcpListener::bind("127.0.0.1:0").unwrap();
    evil.set_nonblocking(true).unwrap();
    let evil_port = evil.local_addr().unwrap().port();
    let evil_toml = format!(
        "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {evil_port}\ndatabase = \"d\"\nuser = \"u\"\nsources = [\"env\"]\n"
    );
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(outside.path().join("x")).unwrap();
    std::fs::write(outside.path().join("x/evil.toml"), &evil_toml).unwrap();
    std::fs::write(config.path().join("evil.toml"), &evil_toml).unwrap();
    std::fs::write(config.path().join("targets/.hidden.toml"), &evil_toml).unwrap();
    let port = evil_port.to_string();
    let home = config.path().to_str().unwrap();
    let viewer = Viewer::start(
        &config,
        &[],
        &[
            ("HOME", home),
            ("PROJECT_DB_PASSWORD", &canary),
            ("PROJECT_DB_EVIL_PASSWORD", &canary),
            ("PROJECT_DB_GHOST_KIND", "postgres"),
            ("PROJECT_DB_GHOST_HOST", "127.0.0.1"),
            ("PROJECT_DB_GHOST_PORT", &port),
            ("PROJECT_DB_GHOST_PASSWORD", &canary),
            (TOKEN_VAR, &token),
        ],
    );
    let secrets = [canary.as_str(), token.as_str()];
    let cookie = viewer.login(&token).map(|(_, c)| c);

    let absolute = percent_all(&outside.path().join("x/evil").display().to_string());
    let outside_name = outside.path().file_name().unwrap().to_str().unwrap();
    let names = [
        absolute.clone(),
        format!("..%2F..%2F{outside_name}%2Fx%2Fevil"),
        format!("..%2F..%2F..%2F..%2F..%2F..%2F..{absolute}"),
        "..%2Fevil".into(),
        "%2E%2E%2Fevil".into(),
        ".%2Flite".into(),
        ".%2F.%2Flite".into(),
        "lite%2F".into(),
        "lite%2F.".into(),
        "%2Flite".into(),
        "targets%2F..%2Flite".into(),
        "lite.toml".into(),
        "lite%00".into(),
        "%00".into(),
        "lite%0D%0ASet-Cookie:%20x=1".into(),
        "lite%20".into(),
        "lite%5C..".into(),
        "l%C3%AFte".into(),
        "%E2%80%AEetil".into(),
        "%FF%FE".into(),
        "l".repeat(65),
        "a".repeat(5000),
        ".hidden".into(),
        "ghost".into(),
        "evil".into(),
        "LITE".into(),
    ];
    for name in &names {
        for suffix in ["", "/main/items", "/main/items/rows?page=2"] {
            let path = format!("/t/{name}{suffix}");
            let reply = viewer.browse(&path, cookie.as_deref());
            reply.assert_clean(&secrets, &path);
            assert!(
                reply.status == 400 || reply.status == 404,
                "{path}: {} {}",
                reply.head,
                reply.body
            );
            assert!(
                reply.body.contains("id=\"error\""),
                "{path}: {}",
                reply.body
            );
            assert!(
                reply.body.len() < 4096,
                "{path}: the error page echoes the input: {}",
                reply.body
            );
        }
    }
    assert_never_contacted(&evil, "the host named outside the configuration");

    // The configured target still opens, under its one name.
    let good = viewer.browse("/t/lite", cookie.as_deref());
    assert_eq!(good.status, 200, "{}", good.body);
    assert!(good.body.contains("items"), "{}", good.body);
    good.assert_clean(&secrets, "/t/lite");
    assert_never_contacted(&evil, "the host named outside the configuration");
}

#[tokio::test]
async fn a_host_header_that_does_not_name_the_viewer_is_refused() {
    let config = lite_config().await;
    let canary = format!("canary-{}", random_token(16));
    let token = random_token(32);
    let viewer = Viewer::start(
        &config,
        &[],
        &[("PROJECT_DB_PASSWORD", &canary), (TOKEN_VAR, &token)],
    );
    let secrets = [canary.as_str(), token.as_str()];
    let port = viewer.port;
    let other = if port == 1 { 2 } else { port - 1 };
    let hostile = [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.1:{other}"),
        format!("localhost:{other}"),
        "127.0.0.1".to_owned(),
        "localhost".to_owned(),
        format!("127.0.0.2:{port}"),
        format!("0.0.0.0:{port}"),
        format!("2130706433:{port}"),
        format!("user@127.0.0.1:{port}"),
        format!("127.0.0.1:{port}@evil.example"),
        format!("127.0.0.1:{port}."),
        format!("localhost.:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
        format!("127.0.0.1\t:{port}"),
        format!("127.0.0.1:0{port}"),
        String::new(),
        "é:80".to_owned(),
    ];
    let cookie = viewer.login(&token).map(|(_, c)| c);
    for host in &hostile {
        for path in [
            "/",
            "/t/lite",
            "/login?token=x",
            &format!("/login?token={token}"),
        ] {
            let mut headers = Vec::new();
            if let Some(c) = &cookie {
                headers.push(("Cookie", c.as_str()));
            }
            let reply = viewer.get(path, Some(host), &headers);
            reply.assert_clean(&secrets, host);
            assert!(
                reply.status == 421 || reply.status == 400 || reply.status == 403,
                "Host {host:?} {path}: {} {}",
                reply.head,
                reply.body
            );
            assert!(
                reply.header("set-cookie").is_none(),
                "Host {host:?}: a cookie was set"
            );
        }
    }
    let no_host = viewer.get("/", None, &[]);
    assert!(matches!(no_host.status, 400 | 421), "{}", no_host.head);
    // The names a browser on this machine uses for it are served.
    let cookie = cookie.expect("the viewer gives a session cookie for the right token");
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let reply = viewer.get("/t/lite", Some(&host), &[("Cookie", &cookie)]);
        assert_eq!(reply.status, 200, "Host {host}: {}", reply.body);
        reply.assert_clean(&secrets, &host);
    }
}

#[tokio::test]
async fn the_token_comes_from_the_environment_or_a_file_and_becomes_a_cookie() {
    let config = lite_config().await;
    let dir = config.path_str();
    // Refused at start: an empty token, a token on the command line, a FIFO, both ways at once.
    let fifo = config.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let empty = config.secret_file("empty", "\n");
    let spaced = config.secret_file("spaced", "  \n");
    let good_file = config.secret_file("token", &format!("{}\n", random_token(40)));
    let fifo = fifo.to_str().unwrap();
    type Case<'a> = (&'a [&'a str], Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 7] = [
        (&[], vec![(TOKEN_VAR, "")], "empty"),
        (&[], vec![(TOKEN_VAR, "short")], "at least"),
        (&["--token-file", &empty], vec![], "empty"),
        (&["--token-file", &spaced], vec![], "space"),
        (&["--token-file", fifo], vec![], "FIFO"),
        (
            &["--token", "on-the-command-line-0123456789"],
            vec![],
            "/proc",
        ),
        (
            &["--token-file", &good_file],
            vec![(TOKEN_VAR, "another-token-0123456789")],
            "one way",
        ),
    ];
    for (args, env, expected) in cases {
        let mut all = vec!["--config-dir", dir, "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let refused = run("dbcore-viewer", &all, &env);
        assert_eq!(refused.code, Some(1), "{args:?} {env:?}: {refused:?}");
        assert!(
            refused.stderr.contains(expected),
            "{args:?}: {}",
            refused.stderr
        );
        assert!(!refused.all_output().contains("on-the-command-line"));
    }

    // From a file (one trailing newline trimmed): exchanged once for a cookie.
    let token = random_token(32);
    let file = config.secret_file("viewer-token", &format!("{token}\n"));
    let viewer = Viewer::start(&config, &["--token-file", &file], &[]);
    let secrets = [token.as_str()];
    let anonymous = viewer.browse("/t/lite", None);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    anonymous.assert_clean(&secrets, "anonymous");
    for wrong in [
        String::new(),
        token[..31].to_owned(),
        format!("{token}x"),
        format!("{token}%0A"),
        token.to_uppercase(),
        "%00".repeat(32),
    ] {
        let reply = viewer.browse(&format!("/login?token={wrong}&next=/t/lite"), None);
        assert_eq!(reply.status, 401, "{wrong:?}: {}", reply.head);
        assert!(reply.header("set-cookie").is_none(), "{wrong:?}");
        reply.assert_clean(&secrets, &wrong);
    }
    // The token on another page is not a login: it never authorises a request by itself, and
    // what a visitor sends is not reflected before the login.
    for carried in [
        format!("/t/lite?token={token}"),
        format!("/t/lite?eq={token}"),
        format!("/t/{token}"),
        format!("/nowhere/{token}"),
        format!("/login?token=wrong-token-0123456789&next=/{token}"),
        format!("/login?next=/{token}"),
    ] {
        let reply = viewer.browse(&carried, None);
        assert!(matches!(reply.status, 200 | 401 | 404), "{}", reply.head);
        reply.assert_clean(&secrets, "token on a page");
    }
    let proven = viewer.browse(&format!("/login?token={token}&next=/t/{token}"), None);
    assert_eq!(proven.status, 303, "{}", proven.head);
    proven.assert_clean(&secrets, "next holding the token");

    let login = viewer.browse(&format!("/login?token={token}&next=%2Ft%2Flite"), None);
    assert_eq!(login.status, 303, "{}", login.head);
    login.assert_clean(&secrets, "login");
    assert_eq!(login.header("location"), Some("/t/lite"));
    let set = login.header("set-cookie").unwrap();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    let cookie = set.split(';').next().unwrap().trim().to_owned();
    for path in [
        "/",
        "/t/lite",
        "/t/lite/main/items",
        "/t/lite/main/items/rows",
    ] {
        let reply = viewer.browse(path, Some(&cookie));
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        reply.assert_clean(&secrets, path);
    }
    // A forged cookie, or the token as the cookie, is not a session.
    for forged in [
        format!("{}x", cookie),
        format!("{}={token}", cookie.split('=').next().unwrap()),
        "session=1".to_owned(),
    ] {
        let reply = viewer.browse("/t/lite", Some(&forged));
        assert_eq!(reply.status, 401, "{forged}: {}", reply.body);
    }
    // `next` never leaves the viewer.
    for next in [
        "https://evil.example/",
        "//evil.example/",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "javascript:alert(1)",
    ] {
        let reply = viewer.browse(&format!("/login?token={token}&next={next}"), None);
        assert_eq!(reply.status, 303, "{next}: {}", reply.head);
        assert_eq!(reply.header("location"), Some("/"), "{next}");
    }
}

#[tokio::test]
async fn page_numbers_and_query_values_never_panic_a_handler() {
    let config = lite_config().await;
    let canary = format!("canary-{}", random_token(16));
    let token = random_token(32);
    let viewer = Viewer::start(
        &config,
        &[],
        &[("PROJECT_DB_PASSWORD", &canary), (TOKEN_VAR, &token)],
    );
    let secrets = [canary.as_str(), token.as_str()];
    let cookie = viewer.login(&token).map(|(_, c)| c);
    let cookie = cookie.as_deref();
    let numbers = [
        i64::MAX.to_string(),
        (i64::MAX / 50).to_string(),
        (i64::MAX / 50 + 2).to_string(),
        u64::MAX.to_string(),
        "99999999999999999999999999999".into(),
        i64::MIN.to_string(),
        "-1".into(),
        "0".into(),
        "-0".into(),
        "+1".into(),
        "1e3".into(),
        "0x10".into(),
        "1.5".into(),
        "%EF%BC%99".into(),
        "%00".into(),
        "%FF".into(),
        "".into(),
        "abc".into(),
        "%20%201".into(),
    ];
    let mut queries: Vec<String> = Vec::new();
    for n in &numbers {
        queries.push(format!("page={n}"));
        queries.push(format!("page={n}&sort=id&dir=desc"));
        queries.push(format!("offset={n}&page=2"));
        queries.push(format!("col=id&eq={n}&page={n}"));
    }
    queries.extend(
        [
            "dir=sideways&sort=id",
            "sort=nope",
            "sort=%00",
            "col=nope&eq=1",
            "col=id&eq=%00",
            "col=name&eq=%FF%FE",
            "col=name",
            "page=1&page=2",
            "%=%",
            "page",
            "&&&=&",
            "sort=%E2%80%AE",
        ]
        .map(str::to_owned),
    );
    queries.push(format!("sort={}", "x".repeat(10_000)));
    for q in &queries {
        let path = format!("/t/lite/main/items/rows?{q}");
        let reply = viewer.browse(&path, cookie);
        reply.assert_clean(&secrets, &path);
        assert!(
            reply.status == 200 || reply.status == 400,
            "{path}: {} {}",
            reply.head,
            reply.body
        );
        if reply.status == 400 {
            assert!(
                reply.body.contains("id=\"error\""),
                "{path}: {}",
                reply.body
            );
            assert!(reply.body.len() < 4096, "{path}: {}", reply.body);
        }
    }
    let far = viewer.browse(
        &format!("/t/lite/main/items/rows?page={}", i64::MAX / 50),
        cookie,
    );
    assert_eq!(far.status, 200, "{}", far.body);
    assert!(far.body.contains("no rows on this page"), "{}", far.body);
    assert!(!far.body.contains("rel=\"next\""), "{}", far.body);
    // The server is still up and answering after all of that.
    let alive = viewer.browse("/t/lite/main/items/rows?page=1", cookie);
    assert_eq!(alive.status, 200, "{}", alive.body);
    assert!(alive.body.contains("<td>second</td>"), "{}", alive.body);
}

#[tokio::test]
async fn a_table_whose_columns_cannot_be_seen_is_said_so() {
    let Some(server) = tests::mariadb::server() else {
        return;
    };
    let canary = format!("canary-{}", random_token(16));
    server
        .sql_as_root(&format!(
            "create database viewer_views;
             create table viewer_views.base (id int primary key, label text);
             create table viewer_views.gone (id int);
             create view viewer_views.over_gone as select id from viewer_views.gone;
             drop table viewer_views.gone;
             create view viewer_views.shown as select id, label from viewer_views.base;
             create user 'viewer_my'@'127.0.0.1' identified by '{canary}';
             grant select on viewer_views.base to 'viewer_my'@'127.0.0.1';
             grant select on viewer_views.over_gone to 'viewer_my'@'127.0.0.1';
             grant show view on viewer_views.shown to 'viewer_my'@'127.0.0.1';"
        ))
        .unwrap();
    let config = ConfigDir::new();
    config.target(
        "my",
        &format!(
            "kind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"viewer_views\"\nuser = \"viewer_my\"\nsources = [\"env\"]\nenv_prefix = \"VM\"\nschemas = [\"viewer_views\"]\n",
            server.port()
        ),
    );
    let token = random_token(32);
    let cache = config.path().join("cache");
    let viewer = Viewer::start(
        &config,
        &[],
        &[
            ("VM_PASSWORD", &canary),
            ("PROJECT_CACHE_DIR", cache.to_str().unwrap()),
            (TOKEN_VAR, &token),
        ],
    );
    let secrets = [canary.as_str(), token.as_str()];
    let (_, cookie) = viewer.login(&token).unwrap();
    let tables = viewer.browse("/t/my", Some(&cookie));
    assert_eq!(tables.status, 200, "{}", tables.body);
    tables.assert_clean(&secrets, "/t/my");
    let mut blind = 0;
    for view in ["over_gone", "shown"] {
        if !tables.body.contains(&format!(">{view}<")) {
            continue;
        }
        let columns = viewer.browse(&format!("/t/my/viewer_views/{view}"), Some(&cookie));
        columns.assert_clean(&secrets, view);
        if !columns.body.contains("<td>id</td>") {
            blind += 1;
            assert!(
                columns.body.contains("id=\"no-columns\""),
                "{}",
                columns.body
            );
            let rows = viewer.browse(&format!("/t/my/viewer_views/{view}/rows"), Some(&cookie));
            rows.assert_clean(&secrets, view);
            assert_eq!(rows.status, 200, "{view}: {}", rows.body);
            assert!(
                rows.body.contains("no column of viewer_views.") && !rows.body.contains("select"),
                "{view}: {}",
                rows.body
            );
        }
    }
    assert!(
        blind > 0,
        "no view without visible columns: {}",
        tables.body
    );
    let rows = viewer.browse("/t/my/viewer_views/base/rows", Some(&cookie));
    assert_eq!(rows.status, 200, "{}", rows.body);

    // A wrong password on a configured target: the error page names the failure, not the secret.
    config.target(
        "bad",
        &format!(
            "kind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"viewer_views\"\nuser = \"viewer_my\"\nsources = [\"env\"]\nenv_prefix = \"VB\"\n",
            server.port()
        ),
    );
    let wrong = format!("wrong-{canary}");
    drop(viewer);
    let viewer = Viewer::start(
        &config,
        &[],
        &[
            ("VB_PASSWORD", &wrong),
            ("VM_PASSWORD", &canary),
            ("PROJECT_CACHE_DIR", cache.to_str().unwrap()),
            (TOKEN_VAR, &token),
        ],
    );
    let (_, cookie) = viewer.login(&token).unwrap();
    for path in ["/t/bad", "/t/bad/viewer_views/base/rows?page=2"] {
        let reply = viewer.browse(path, Some(&cookie));
        assert_eq!(reply.status, 502, "{path}: {}", reply.body);
        reply.assert_clean(&[&canary, &token, &wrong], path);
    }
}
