//! A throwaway MariaDB: `mariadb-install-db` into a private directory, `mariadbd` on a free
//! port on 127.0.0.1 and a private socket, offering TLS with a CA made per run, stopped by a
//! watchdog when the test process ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};

use crate::certs::TestPki;
use crate::servers::{free_port, is_root, random_token, spawn_watchdog, unavailable};

#[derive(Debug)]
pub struct MariaDb {
    dir: PathBuf,
    port: u16,
    /// The CA and server certificate it offers TLS with (clients may still connect in the
    /// clear, unless their account says `REQUIRE SSL`).
    pki: TestPki,
}

static SHARED: OnceLock<Result<MariaDb, String>> = OnceLock::new();

/// The server shared by this test process; `None` (after a visible skip) when MariaDB is not
/// installed and servers are not required.
pub fn server() -> Option<&'static MariaDb> {
    match SHARED.get_or_init(MariaDb::start) {
        Ok(server) => Some(server),
        Err(why) => unavailable("MariaDB", why),
    }
}

fn which(program: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}

impl MariaDb {
    fn start() -> Result<Self, String> {
        let mariadbd =
            which("mariadbd").ok_or("mariadbd not found (apt-get install mariadb-server)")?;
        let install = which("mariadb-install-db").ok_or("mariadb-install-db not found")?;
        let dir = std::env::temp_dir().join(format!("dbcore-mariadb-{}", random_token(10)));
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
        let user = if is_root() { "mysql" } else { "" };
        let pki = TestPki::create(&dir.join("tls"))?;
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "mysql:mysql"])
                .arg(&dir)
                .status()
                .map_err(|e| e.to_string())?
                .success();
            if !ok {
                return Err("chown mysql failed".into());
            }
        }
        let pid_file = dir.join("mariadb.pid");
        let socket = dir.join("mariadb.sock");
        let pid = std::process::id();
        spawn_watchdog(&format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.3; done; \
             [ -f '{pidf}' ] && kill -9 $(cat '{pidf}') 2>/dev/null; sleep 0.2; rm -rf '{dir}'",
            pidf = pid_file.display(),
            dir = dir.display(),
        ))
        .map_err(|e| format!("cannot start the cleanup watchdog: {e}"))?;
        let mut install_cmd = Command::new(install);
        install_cmd
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=socket", "--skip-test-db"]);
        if !user.is_empty() {
            install_cmd.arg(format!("--user={user}"));
        }
        let out = install_cmd.output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "mariadb-install-db failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port().map_err(|e| e.to_string())?;
            let mut server = Command::new(&mariadbd);
            server.arg("--no-defaults");
            if !user.is_empty() {
                server.arg(format!("--user={user}"));
            }
            server
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--socket={}", socket.display()))
                .arg(format!("--pid-file={}", pid_file.display()))
                .arg(format!("--port={port}"))
                .args([
                    "--bind-address=127.0.0.1",
                    "--skip-name-resolve",
                    "--innodb-buffer-pool-size=32M",
                ])
                .arg(format!("--ssl-ca={}", pki.ca_file().display()))
                .arg(format!("--ssl-cert={}", pki.server_cert_file().display()))
                .arg(format!("--ssl-key={}", pki.server_key_file().display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut child = server.spawn().map_err(|e| e.to_string())?;
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let ping =
                    Command::new(which("mariadb-admin").unwrap_or_else(|| "mariadb-admin".into()))
                        .arg(format!("--socket={}", socket.display()))
                        .args(["-uroot", "ping"])
                        .output();
                if ping.is_ok_and(|o| o.status.success()) {
                    let server = Self {
                        dir,
                        port,
                        pki: pki.clone(),
                    };
                    // A superuser reachable over TCP with a password, for the tests' set-up.
                    server.sql_as_root(&format!(
                        "create user 'dbcore_admin'@'127.0.0.1' identified by '{ADMIN_PASSWORD}';
                         grant all on *.* to 'dbcore_admin'@'127.0.0.1' with grant option;"
                    ))?;
                    return Ok(server);
                }
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("mariadbd exited with {status} (port {port} taken?)");
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    last_error = "mariadbd did not answer within 20 s".into();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Err(last_error)
    }

    /// The CA that signed the server's certificate (which names `localhost` only).
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("mariadb.sock")
    }

    /// Runs SQL as root over the socket (root authenticates by socket ownership).
    pub fn sql_as_root(&self, sql: &str) -> Result<(), String> {
        let out = Command::new(which("mariadb").unwrap_or_else(|| "mariadb".into()))
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-uroot", "-e", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A pool as the test superuser.
    pub async fn admin(&self) -> MySqlPool {
        let options = MySqlConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username("dbcore_admin")
            .password(ADMIN_PASSWORD);
        MySqlPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("the test superuser connects")
    }

    /// A database and a user with `password` who owns it, both named `name`.
    pub async fn create_user_and_database(&self, name: &str, password: &str) {
        self.sql_as_root(&format!(
            "create database `{name}`;
             create user '{name}'@'127.0.0.1' identified by '{password}';
             grant all on `{name}`.* to '{name}'@'127.0.0.1';"
        ))
        .expect("create user and database");
    }
}

const ADMIN_PASSWORD: &str = "dbcore-test-admin";
