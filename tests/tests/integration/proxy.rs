//! `dbcore proxy`: real clients (psql, pg_dump and pg_restore, pgbench) through the proxy's
//! Unix socket to a real PostgreSQL, logged in with the target's credential.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tests::bin::{ConfigDir, path};
use tests::pg::{PgCluster, cluster};
use tests::servers::random_token;

/// A running `dbcore proxy`, killed when dropped; its log goes to a file.
pub(super) struct Proxy {
    child: Child,
    socket_dir: PathBuf,
    port: u16,
    log: PathBuf,
    _scratch: tempfile::TempDir,
}

impl Proxy {
    pub(super) fn start(config: &ConfigDir, env: &[(&str, &str)], extra: &[&str]) -> Self {
        let scratch = tempfile::tempdir().unwrap();
        let socket_dir = scratch.path().join("sock");
        let log = scratch.path().join("log");
        let port = 6000 + u16::try_from(std::process::id() % 3000).unwrap();
        let mut command = Command::new(path("dbcore"));
        command
            .args([
                "--config-dir",
                config.path_str(),
                "proxy",
                "t",
                "--socket-dir",
            ])
            .arg(&socket_dir)
            .args(["--port", &port.to_string()])
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut proxy = Self {
            child,
            socket_dir,
            port,
            log,
            _scratch: scratch,
        };
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("dbcore proxy: listening on "),
            "{line:?}\n{}",
            proxy.log()
        );
        proxy.child.stdout = None;
        proxy
    }

    pub(super) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A client program pointed at the proxy, with no password anywhere.
    pub(super) fn client(&self, pg: &PgCluster, program: &str) -> Command {
        let mut command = Command::new(pg.bin(program));
        command
            .env_clear()
            .env("PGHOST", &self.socket_dir)
            .env("PGPORT", self.port.to_string())
            .env("PGPASSFILE", "/nonexistent")
            .env("PGUSER", "someone-else");
        command
    }

    pub(super) fn psql(&self, pg: &PgCluster, database: &str, sql: &str) -> std::process::Output {
        self.client(pg, "psql")
            .args(["-d", database, "-XAtc", sql])
            .output()
            .unwrap()
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([&format!("-{name}"), &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.wait()
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the proxy did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn target(config: &ConfigDir, pg: &PgCluster, role: &str) {
    config.target(
        "t",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{role}\"\nuser = \"{role}\"\nsources = [\"env\"]\nenv_prefix = \"PX\"\n",
            pg.port()
        ),
    );
}

/// A role and database named `role` with `password`, and a proxy serving them through an env
/// target (`PX_PASSWORD`), with `env` and `args` besides; the config directory lives as long
/// as the caller keeps it.
async fn proxy_for(
    pg: &PgCluster,
    role: &str,
    password: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> (ConfigDir, Proxy) {
    pg.create_role_and_database(role, password).await;
    let config = ConfigDir::new();
    target(&config, pg, role);
    let mut all = vec![("PX_PASSWORD", password)];
    all.extend_from_slice(env);
    let proxy = Proxy::start(&config, &all, args);
    (config, proxy)
}

pub(super) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn psql_through_the_proxy_as_the_targets_user_and_only_to_its_database() {
    let Some(pg) = cluster() else { return };
    let canary = format!("canary-{}", random_token(12));
    let (_config, proxy) = proxy_for(pg, "px_psql", &canary, &[("RUST_LOG", "trace")], &[]).await;
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&proxy.socket_dir).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o700);

    let out = proxy
        .client(pg, "psql")
        .args(["-d", "px_psql", "-XAtc", "select current_user, current_database(), current_setting('application_name'), current_setting('work_mem')"])
        .env("PGAPPNAME", "through-the-proxy")
        .env("PGOPTIONS", "-c work_mem=8MB")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        proxy.log()
    );
    assert_eq!(
        text(&out.stdout).trim(),
        "px_psql|px_psql|through-the-proxy|8MB",
        "the client's parameters go on"
    );

    let replication = proxy
        .client(pg, "psql")
        .args([
            "-Xc",
            "IDENTIFY_SYSTEM",
            "dbname=px_psql replication=database",
        ])
        .output()
        .unwrap();
    assert!(
        text(&replication.stderr).contains("the proxy does not serve replication connections"),
        "{}",
        text(&replication.stderr)
    );
    let refused = proxy.psql(pg, "postgres", "select 1");
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr)
            .contains("this proxy serves database \"px_psql\" only, not \"postgres\""),
        "{}",
        text(&refused.stderr)
    );
    assert!(
        !proxy.log().contains(&canary),
        "the password is in the log at trace"
    );
}

#[tokio::test]
async fn a_canceled_query_returns_at_once_by_ctrl_c_and_by_pg_cancel_backend() {
    let Some(pg) = cluster() else { return };
    let (_config, proxy) = proxy_for(pg, "px_cancel", "pw-cancel", &[], &[]).await;

    // psql's Ctrl-C: SIGINT makes it send a cancel request to the proxy's socket.
    let started = Instant::now();
    assert_canceled_within_a_second(&proxy, pg, "px_cancel", press_ctrl_c);
    assert!(started.elapsed() < Duration::from_secs(30));

    // pg_cancel_backend from another client through the proxy.
    assert_canceled_within_a_second(&proxy, pg, "px_cancel", |_| {
        let cancel = proxy.psql(
            pg,
            "px_cancel",
            "select pg_cancel_backend(pid) from pg_stat_activity where query = 'select pg_sleep(60)'",
        );
        assert_eq!(text(&cancel.stdout).trim(), "t", "{}", text(&cancel.stderr));
    });
}

/// Starts `select pg_sleep(60)` through the proxy, cancels it with `cancel` once it runs, and
/// asserts that it ended, canceled, within a second of that.
/// What a terminal's Ctrl-C does to psql: SIGINT, on which it sends a cancel request.
pub(super) fn press_ctrl_c(psql: &Child) {
    assert!(
        Command::new("kill")
            .args(["-INT", &psql.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
}

pub(super) fn assert_canceled_within_a_second(
    proxy: &Proxy,
    pg: &PgCluster,
    database: &str,
    cancel: impl FnOnce(&Child),
) {
    let mut sleeper = proxy
        .client(pg, "psql")
        .args(["-d", database, "-Xc", "select pg_sleep(60)"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_query(proxy, pg, database);
    let asked = Instant::now();
    cancel(&sleeper);
    let out = wait_output(&mut sleeper);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "took {:?}",
        asked.elapsed()
    );
    assert!(
        text(&out).contains("canceling statement due to user request"),
        "{}",
        text(&out)
    );
}

fn wait_for_query(proxy: &Proxy, pg: &PgCluster, database: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = proxy.psql(pg, database, "select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'");
        if text(&seen.stdout).trim() == "1" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the query never started: {}",
            text(&seen.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Its standard error, once it has ended (killed after 10 s).
fn wait_output(child: &mut Child) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut err = Vec::new();
    std::io::Read::read_to_end(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    err
}

#[tokio::test]
async fn pg_dump_and_pg_restore_round_trip_through_the_proxy() {
    let Some(pg) = cluster() else { return };
    let (_config, proxy) = proxy_for(pg, "px_dump", "pw-dump", &[], &[]).await;
    let made = proxy.psql(pg, "px_dump", "create table items (id int primary key, name text); insert into items select g, 'n' || g from generate_series(1, 500) g");
    assert!(made.status.success(), "{}", text(&made.stderr));
    let dump_file = proxy.socket_dir.parent().unwrap().join("items.dump");
    let dump = proxy
        .client(pg, "pg_dump")
        .args(["-d", "px_dump", "-Fc", "-f"])
        .arg(&dump_file)
        .output()
        .unwrap();
    assert!(dump.status.success(), "{}", text(&dump.stderr));
    let dropped = proxy.psql(pg, "px_dump", "drop table items");
    assert!(dropped.status.success());
    let restore = proxy
        .client(pg, "pg_restore")
        .args(["-d", "px_dump", "--no-owner"])
        .arg(&dump_file)
        .output()
        .unwrap();
    assert!(restore.status.success(), "{}", text(&restore.stderr));
    let back = proxy.psql(pg, "px_dump", "select count(*), sum(id) from items");
    assert_eq!(text(&back.stdout).trim(), "500|125250");
}

#[tokio::test]
async fn sigterm_lets_open_sessions_finish_and_takes_no_new_ones() {
    let Some(pg) = cluster() else { return };
    let (_config, mut proxy) = proxy_for(
        pg,
        "px_term",
        "pw-term",
        &[],
        &["--shutdown-timeout", "20s"],
    )
    .await;
    let open = proxy
        .client(pg, "psql")
        .args(["-d", "px_term", "-XAtc", "select pg_sleep(3), 'finished'"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !text(
        &proxy
            .psql(
                pg,
                "px_term",
                "select count(*) from pg_stat_activity where query like 'select pg_sleep(3)%'",
            )
            .stdout,
    )
    .trim()
    .eq("1")
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    proxy.signal("TERM");
    // Draining: a new login is refused, saying why; the open session goes on.
    let late = proxy.psql(pg, "px_term", "select 1");
    assert!(
        text(&late.stderr).contains("the proxy is shutting down"),
        "{}",
        text(&late.stderr)
    );
    let status = proxy.wait();
    assert!(status.success(), "{status:?}\n{}", proxy.log());
    let out = open.wait_with_output().unwrap();
    assert!(
        text(&out.stdout).contains("finished"),
        "the open session finished: {}",
        text(&out.stderr)
    );
    let socket: &Path = &proxy.socket_dir.join(format!(".s.PGSQL.{}", proxy.port));
    assert!(!socket.exists(), "the socket is gone");
    let after = proxy.psql(pg, "px_term", "select 1");
    assert!(
        !after.status.success(),
        "no new session after the proxy stopped"
    );
}

#[tokio::test]
async fn pgbench_and_psycopg_through_the_proxy() {
    let Some(pg) = cluster() else { return };
    let (_config, proxy) = proxy_for(pg, "px_bench", "pw-bench", &[], &[]).await;
    let init = proxy
        .client(pg, "pgbench")
        .args(["-i", "-q", "-s", "1", "px_bench"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", text(&init.stderr));
    let run = proxy
        .client(pg, "pgbench")
        .args(["-S", "-c", "4", "-j", "2", "-T", "3", "px_bench"])
        .output()
        .unwrap();
    let out = text(&run.stdout);
    assert!(run.status.success(), "{out}{}", text(&run.stderr));
    assert!(out.contains("number of failed transactions: 0"), "{out}");

    let has_psycopg = Command::new("python3")
        .args(["-c", "import psycopg"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_psycopg {
        return tests::servers::unavailable::<()>("psycopg (Python)", "not installed")
            .unwrap_or(());
    }
    let python = Command::new("python3")
        .args(["-c", "import psycopg\nwith psycopg.connect('dbname=px_bench') as c:\n    print(c.execute('select current_user, count(*) from pgbench_accounts').fetchone())"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PGHOST", &proxy.socket_dir)
        .env("PGPORT", proxy.port.to_string())
        .output()
        .unwrap();
    assert_eq!(
        text(&python.stdout).trim(),
        "('px_bench', 100000)",
        "{}",
        text(&python.stderr)
    );
}

/// The scenario: a Vault dynamic role of 2 s / 4 s and `pgbench -C` (a new connection
/// per transaction) through the proxy for 30 s: every connection logs in with the credential
/// current at that moment, through several rotations, and no transaction fails. Nothing the
/// proxy logs at trace holds the Vault token or a password Vault issued.
///
/// Timing-sensitive like the rotation tests: `scripts/test` runs it alone.
#[tokio::test]
#[ignore = "timing-sensitive: scripts/test runs it alone after the parallel suite"]
async fn pgbench_with_a_connection_per_transaction_rides_vault_rotations() {
    use super::vault::assert_no_secret;
    let (Some(pg), Some(vault)) = (cluster(), tests::vault::server()) else {
        return;
    };
    let name = "px_vault";
    let scenario = super::vault::RotationScenario::new(pg, vault, name, ("2s", "4s"), "").await;
    let config = &scenario.config;
    // The Vault target is `prod`; the proxy serves `t`.
    std::fs::rename(
        config.path().join("targets/prod.toml"),
        config.path().join("targets/t.toml"),
    )
    .unwrap();
    let mut proxy = Proxy::start(
        config,
        &[("VAULT_TOKEN", vault.root_token()), ("RUST_LOG", "trace")],
        &[],
    );
    let script = proxy.socket_dir.parent().unwrap().join("who.sql");
    std::fs::write(&script, "select current_user;\n").unwrap();
    let run = proxy
        .client(pg, "pgbench")
        .args(["-C", "-n", "-c", "2", "-j", "2", "-T", "30", "-f"])
        .arg(&script)
        .arg(name)
        .output()
        .unwrap();
    let out = text(&run.stdout);
    assert!(
        run.status.success(),
        "{out}{}\n{}",
        text(&run.stderr),
        proxy.log()
    );
    assert!(out.contains("number of failed transactions: 0 "), "{out}");
    let transactions: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|n| n.split('/').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(transactions >= 100, "{out}");
    let log = proxy.log();
    let logins: std::collections::HashSet<&str> = log
        .lines()
        .filter(|l| l.contains("session logged in"))
        .filter_map(|l| l.split("user=").nth(1))
        .map(|u| u.split_whitespace().next().unwrap_or(u))
        .collect();
    assert!(
        logins.len() >= 5,
        "new connections used each new credential: {logins:?}"
    );
    assert!(proxy.terminate().success());
    let all = tests::bin::Run {
        code: Some(0),
        stdout: out,
        stderr: proxy.log(),
    };
    assert_no_secret(&all, vault, &[]);
}

/// The password changed at the server and in the target's pgpass file while the proxy runs:
/// the next client's login is refused upstream, the proxy resolves the credential again
/// (once) and logs the client in with the new one; the client sees only a login.
#[tokio::test]
async fn a_refused_credential_is_resolved_again_once_and_the_client_gets_in() {
    let Some(pg) = cluster() else { return };
    pg.create_role_and_database("px_refused", "first-pw").await;
    let config = ConfigDir::new();
    config.target(
        "t",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"px_refused\"\nuser = \"px_refused\"\nsources = [\"pgpass\"]\nenv_prefix = \"PX\"\n",
            pg.port()
        ),
    );
    let pgpass = config.secret_file("pgpass", "*:*:*:px_refused:first-pw\n");
    let proxy = Proxy::start(
        &config,
        &[("PX_PGPASS", &pgpass), ("RUST_LOG", "info")],
        &[],
    );
    assert_eq!(
        text(&proxy.psql(pg, "px_refused", "select 1").stdout).trim(),
        "1"
    );

    pg.set_password("px_refused", "second-pw").await;
    std::fs::write(&pgpass, "*:*:*:px_refused:second-pw\n").unwrap();
    let out = proxy.psql(pg, "px_refused", "select current_user");
    assert_eq!(
        text(&out.stdout).trim(),
        "px_refused",
        "{}\n{}",
        text(&out.stderr),
        proxy.log()
    );
    assert!(
        proxy
            .log()
            .contains("the server refused the credential; resolving a new one"),
        "{}",
        proxy.log()
    );

    // Refused again right after: the client is told the server's reason; no new credential
    // is asked for (a client could cause such refusals on every connection).
    pg.set_password("px_refused", "third-pw").await;
    let out = proxy.psql(pg, "px_refused", "select 1");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("password authentication failed for user \"px_refused\""),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        proxy.log().matches("resolving a new one").count(),
        1,
        "a refusal soon after the last new credential asks for no other: {}",
        proxy.log()
    );
}

/// The TCP listener: loopback only, and a client must log in with SCRAM-SHA-256 and the
/// proxy's client password; a wrong one is refused before anything about the target is said.
#[tokio::test]
async fn tcp_clients_must_prove_the_client_password() {
    let Some(pg) = cluster() else { return };
    pg.create_role_and_database("px_tcp", "pw-tcp").await;
    let config = ConfigDir::new();
    target(&config, pg, "px_tcp");
    let client_password = format!("client-{}", random_token(12));
    let file = config.secret_file("client-password", &format!("{client_password}\n"));
    let port = tests::servers::free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let proxy = Proxy::start(
        &config,
        &[("PX_PASSWORD", "pw-tcp"), ("RUST_LOG", "trace")],
        &["--listen", &listen, "--client-password-file", &file],
    );
    let over_tcp = |password: &str, database: &str| {
        Command::new(pg.bin("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "anyone",
                "-d",
                database,
                "-XAtc",
                "select current_user",
            ])
            .env_clear()
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .unwrap()
    };
    let ok = over_tcp(&client_password, "px_tcp");
    assert_eq!(
        text(&ok.stdout).trim(),
        "px_tcp",
        "{}\n{}",
        text(&ok.stderr),
        proxy.log()
    );
    let wrong = over_tcp("not-the-password", "px_tcp");
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("password authentication failed for user \"anyone\""),
        "{}",
        text(&wrong.stderr)
    );
    let wrong_elsewhere = over_tcp("not-the-password", "postgres");
    assert!(
        !text(&wrong_elsewhere.stderr).contains("px_tcp"),
        "the database is not told before the password: {}",
        text(&wrong_elsewhere.stderr)
    );
    assert!(
        !proxy.log().contains(&client_password),
        "the client password is logged"
    );
    assert!(
        !proxy.log().contains("pw-tcp"),
        "the target's password is logged"
    );
}

#[test]
fn the_proxy_refuses_to_listen_beyond_loopback_or_without_a_client_password() {
    let config = ConfigDir::new();
    config.target(
        "t",
        "kind = \"postgres\"\nhost = \"127.0.0.1\"\nsources = [\"env\"]\n",
    );
    let run = tests::bin::run(
        "dbcore",
        &[
            "--config-dir",
            config.path_str(),
            "proxy",
            "t",
            "--socket-dir",
            "/tmp/never",
            "--listen",
            "0.0.0.0:6432",
        ],
        &[],
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("not a loopback address"), "{run:?}");
}

#[tokio::test]
async fn the_proxy_counts_clients_upstream_logins_and_bytes_in_its_metrics() {
    let Some(pg) = cluster() else { return };
    let (_config, proxy) = proxy_for(
        pg,
        "px_metrics",
        "px-metrics-pw",
        &[],
        &["--metrics", "127.0.0.1:0"],
    )
    .await;
    let log = proxy.log();
    let addr = log
        .lines()
        .find_map(|l| l.strip_prefix("dbcore: metrics at http://"))
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address: {log}"))
        .to_owned();
    let scrape = || super::file_rotation::scrape(&addr);
    let value = |text: &str, name: &str, labels: &[&str]| {
        super::file_rotation::sample(text, name, labels).unwrap_or(0.0)
    };
    let target = "target=\"t\"";
    let before = scrape();
    for _ in 0..2 {
        let out = proxy.psql(pg, "px_metrics", "select repeat('x', 5000)");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let after = scrape();
    assert_eq!(
        value(&after, "dbcore_proxy_client_connections_total", &[target])
            - value(&before, "dbcore_proxy_client_connections_total", &[target]),
        2.0,
        "{after}"
    );
    assert!(
        value(
            &after,
            "dbcore_proxy_upstream_connect_duration_seconds_count",
            &[target]
        ) >= 2.0,
        "{after}"
    );
    let to_client = value(
        &after,
        "dbcore_proxy_relayed_bytes_total",
        &[target, "direction=\"to_client\""],
    );
    let to_server = value(
        &after,
        "dbcore_proxy_relayed_bytes_total",
        &[target, "direction=\"to_server\""],
    );
    assert!(to_client > 10_000.0 && to_server > 0.0, "{after}");
    assert!(!after.contains("px-metrics-pw"));
    // Not for another host's page: a request addressed elsewhere (DNS rebinding) is refused.
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /metrics HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 421"), "{reply}");
    assert!(!reply.contains("dbcore_"), "{reply}");
}
