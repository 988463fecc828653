//! The viewer in a real headless Chromium: a 1,000-table target, paging and sorting a
//! 100,000-row table, a hostile filter value shown as text, and the token rule. Also the
//! helpers the hostile viewer tests use: a viewer on a port the kernel picks and raw HTTP requests whose
//! every byte (the `Host` header included) the test chooses.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use tests::bin::{Background, ConfigDir, chromium_dom, run};

/// The environment variable the viewer reads its token from.
pub(crate) const TOKEN_VAR: &str = "DBCORE_VIEWER_TOKEN";

/// A viewer listening on 127.0.0.1 on a free port, stopped when dropped.
pub(crate) struct Viewer {
    _process: Background,
    pub(crate) port: u16,
}

/// One HTTP answer: status (0 when the connection closed without one), head and body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

impl Reply {
    /// A header's value (the first one), by case-insensitive name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// Asserts that none of `secrets` appears in the head or the body.
    pub(crate) fn assert_clean(&self, secrets: &[&str], what: &str) {
        for secret in secrets {
            assert!(
                !self.head.contains(secret) && !self.body.contains(secret),
                "{what}: a secret is in the response:\n{}\n{}",
                self.head,
                self.body
            );
        }
    }
}

impl Viewer {
    pub(crate) fn start(config: &ConfigDir, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut all = vec!["--config-dir", config.path_str(), "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let (process, base) = start_viewer(&all, env);
        let port = base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in the viewer's origin {base}"));
        Self {
            _process: process,
            port,
        }
    }

    /// The `Host` a browser sends for this viewer.
    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `GET target` with exactly `host` (none when `None`) and `headers`.
    pub(crate) fn get(&self, target: &str, host: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        let mut request = format!("GET {target} HTTP/1.1\r\n").into_bytes();
        if let Some(host) = host {
            request.extend_from_slice(format!("Host: {host}\r\n").as_bytes());
        }
        for (k, v) in headers {
            request.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        request.extend_from_slice(b"Connection: close\r\n\r\n");
        self.raw(&request)
    }

    /// `GET target` as a browser on this viewer would send it, with `cookie` when given.
    pub(crate) fn browse(&self, target: &str, cookie: Option<&str>) -> Reply {
        let host = self.host();
        match cookie {
            Some(c) => self.get(target, Some(&host), &[("Cookie", c)]),
            None => self.get(target, Some(&host), &[]),
        }
    }

    /// Sends raw bytes and reads the whole answer (the viewer closes the connection).
    pub(crate) fn raw(&self, request: &[u8]) -> Reply {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut bytes = Vec::new();
        // A reset (the server dropped the connection) reads as a closed one: status 0.
        let _ = stream.read_to_end(&mut bytes);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Reply {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
        }
    }

    /// Exchanges `token` for the session cookie (`name=value`), when the viewer gives one.
    pub(crate) fn login(&self, token: &str) -> Option<(Reply, String)> {
        let reply = self.browse(&format!("/login?token={token}"), None);
        let cookie = reply
            .header("set-cookie")?
            .split(';')
            .next()?
            .trim()
            .to_owned();
        Some((reply, cookie))
    }
}

/// `/login?token=…&next=…`: the URL a browser with no cookie yet opens to reach `path`.
pub(crate) fn login_url(base: &str, token: &str, path: &str) -> String {
    let next: String = path.bytes().map(|b| format!("%{b:02X}")).collect();
    format!("{base}/login?token={token}&next={next}")
}

/// Starts the viewer (told to listen on port 0) and returns it with its origin,
/// `http://127.0.0.1:PORT`, read from the line it prints once it listens.
pub(crate) fn start_viewer(args: &[&str], env: &[(&str, &str)]) -> (Background, String) {
    let (process, rest) =
        Background::start_announced("dbcore-viewer", args, env, "dbcore-viewer: listening on ");
    let origin = rest.split(';').next().unwrap_or_default().trim().to_owned();
    assert!(
        origin.starts_with("http://127.0.0.1:"),
        "unexpected origin in `{rest}`"
    );
    (process, origin)
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
    let cache = config.path().join("cache");
    let token = tests::servers::random_token(32);
    let (_viewer, base) = start_viewer(
        &["--config-dir", config.path_str(), "--listen", "127.0.0.1:0"],
        &[
            ("V_PASSWORD", "viewer-pw"),
            ("PROJECT_CACHE_DIR", cache.to_str().unwrap()),
            (TOKEN_VAR, &token),
        ],
    );
    // Each Chromium run has a fresh profile: it logs in, gets the cookie, follows the redirect.
    let open = |path: &str| {
        let dom = chromium_dom(&login_url(&base, &token, path));
        if let Some(dom) = &dom {
            assert!(!dom.contains(&token), "the token is in the page: {dom}");
        }
        dom
    };

    let Some(tables) = open("/t/t") else {
        return;
    };
    assert!(
        tables.contains("public (1001 tables)"),
        "{}",
        &tables[..tables.len().min(500)]
    );
    assert_eq!(
        tables.matches("<tr><td><a href=\"/t/t/public/").count(),
        1001
    );

    let first = open("/t/t/public/big/rows?sort=id&dir=asc").unwrap();
    assert!(
        first.contains("<td class=\"num\">1</td><td>row 1</td>"),
        "{first}"
    );
    assert!(
        first.contains("<td class=\"num\">50</td><td>row 50</td>"),
        "{first}"
    );
    assert!(!first.contains("<td class=\"num\">51</td>"), "{first}");
    assert!(first.contains("rel=\"next\""));
    let last = open("/t/t/public/big/rows?sort=id&dir=asc&page=2000").unwrap();
    assert!(
        last.contains("<td class=\"num\">99951</td>")
            && last.contains("<td class=\"num\">100000</td><td>row 100000</td>"),
        "{last}"
    );
    assert!(
        !last.contains("rel=\"next\""),
        "the last page has no next link"
    );
    let sorted = open("/t/t/public/big/rows?sort=id&dir=desc").unwrap();
    let first_cell = sorted.find("<td").map(|i| &sorted[i..i + 28]).unwrap();
    assert_eq!(first_cell, "<td class=\"num\">100000</td><");

    let hostile = "<script>alert(1)</script>' or 1=1 --";
    let url = format!(
        "/t/t/public/big/rows?col=label&eq={}",
        hostile
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    );
    let filtered = open(&url).unwrap();
    assert!(
        filtered.contains("rows where label = &lt;script&gt;alert(1)&lt;/script&gt;' or 1=1 --"),
        "{filtered}"
    );
    assert!(
        !filtered.contains("<script>alert"),
        "the value reached the page as markup"
    );
    assert!(
        !filtered.contains("<td class=\"num\">1</td>"),
        "the value reached SQL as text: {filtered}"
    );
    let exact = open("/t/t/public/big/rows?col=label&eq=row%2042").unwrap();
    assert!(
        exact.contains("<td class=\"num\">42</td><td>row 42</td>"),
        "{exact}"
    );

    // The columns page (read-only and the timeout: `pages_are_read_only_time_limited_…`).
    let columns = open("/t/t/public/big").unwrap();
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
        "dbcore-viewer",
        &[
            "--config-dir",
            config.path_str(),
            "--listen",
            "0.0.0.0:0",
            "--allow-host",
            "viewer.example",
        ],
        &[],
    );
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.contains("requires a token") && refused.stderr.contains(TOKEN_VAR),
        "{}",
        refused.stderr
    );

    let token = tests::servers::random_token(32);
    let (_viewer, base) = start_viewer(
        &["--config-dir", config.path_str(), "--listen", "127.0.0.1:0"],
        &[(TOKEN_VAR, &token)],
    );
    let Some(denied) = chromium_dom(&format!("{base}/")) else {
        return;
    };
    assert!(denied.contains("log in"), "{denied}");
    let wrong = chromium_dom(&login_url(&base, "not-the-token-at-all", "/")).unwrap();
    assert!(wrong.contains("the token is wrong"), "{wrong}");
    let allowed = chromium_dom(&login_url(&base, &token, "/")).unwrap();
    assert!(
        allowed.contains("<table id=\"targets\">") && allowed.contains(">local<"),
        "{allowed}"
    );
    assert!(
        !allowed.contains(&token),
        "the token is in the page: {allowed}"
    );
}
