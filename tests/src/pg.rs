//! A throwaway PostgreSQL cluster: `initdb` with scram-sha-256 everywhere, started on a free
//! port on 127.0.0.1 and in a private socket directory, stopped by a watchdog when the test
//! process ends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::certs::TestPki;
use crate::servers::{free_port, is_root, random_token, spawn_watchdog, unavailable};

#[derive(Debug)]
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    superuser_password: String,
    /// The TLS-only cluster's certificates.
    pki: Option<TestPki>,
    /// The server's command-line options, for restarts.
    options: String,
}

/// How a cluster is made.
#[derive(Debug, Default)]
struct Setup<'a> {
    tls: bool,
    /// Made as a streaming standby of this primary.
    standby_of: Option<&'a PgCluster>,
}

static SHARED: OnceLock<Result<PgCluster, String>> = OnceLock::new();
static TLS_ONLY: OnceLock<Result<PgCluster, String>> = OnceLock::new();

/// The cluster shared by this test process, started on first use; `None` (after a visible
/// skip) when PostgreSQL is not installed and servers are not required.
pub fn cluster() -> Option<&'static PgCluster> {
    match SHARED.get_or_init(|| PgCluster::start(false)) {
        Ok(cluster) => Some(cluster),
        Err(why) => unavailable("PostgreSQL", why),
    }
}

/// A cluster of this test's own, to stop, restart or crash.
pub fn own_cluster() -> Option<PgCluster> {
    match PgCluster::start_primary() {
        Ok(cluster) => Some(cluster),
        Err(why) => unavailable("PostgreSQL", &why),
    }
}

/// A second shared cluster that takes TCP connections over TLS only (`hostssl`, and
/// `hostnossl … reject`), with a certificate from a CA made for this run
/// ([`PgCluster::pki`]); Unix-socket connections as usual.
pub fn tls_cluster() -> Option<&'static PgCluster> {
    match TLS_ONLY.get_or_init(|| PgCluster::start(true)) {
        Ok(cluster) => Some(cluster),
        Err(why) => unavailable("PostgreSQL with TLS", why),
    }
}

/// Only TLS over TCP, the certificate's role by `cert` only; the socket as initdb set it up.
const TLS_ONLY_HBA: &str = "\
local all all scram-sha-256
hostssl all dbcore_cert_user 127.0.0.1/32 cert
hostssl all all 127.0.0.1/32 scram-sha-256
hostnossl all all 127.0.0.1/32 reject
";

fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root (initdb refuses root).
fn run_pg(bin: &Path, program: &str, args: &[&str]) -> Result<String, String> {
    let exe = bin.join(program);
    let output = if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&exe)
            .args(args)
            .output()
    } else {
        Command::new(&exe).args(args).output()
    }
    .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{program} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

impl PgCluster {
    fn start(tls: bool) -> Result<Self, String> {
        Self::start_with(&Setup {
            tls,
            ..Setup::default()
        })
    }

    /// A new cluster: made by `initdb`, or as a streaming standby of `setup.standby_of`
    /// (`pg_basebackup -R`), started on a free port.
    fn start_with(setup: &Setup<'_>) -> Result<Self, String> {
        let bin = find_bin_dir()
            .ok_or("no initdb found (pg_config --bindir, /usr/lib/postgresql/*/bin)")?;
        let dir = std::env::temp_dir().join(format!("dbcore-pg-{}", random_token(10)));
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let superuser_password = match setup.standby_of {
            Some(primary) => primary.superuser_password.clone(),
            None => random_token(24),
        };
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, &superuser_password).map_err(|e| e.to_string())?;
        chown_to_postgres(&dir)?;
        let data = dir.join("data");
        let dir_s = dir.display().to_string();
        let data_s = data.display().to_string();
        // The watchdog first, so that even a failed start is cleaned up.
        let pid = std::process::id();
        spawn_watchdog(&format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.3; done; \
             {runas}{pg_ctl} -D '{data_s}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir_s}'",
            runas = if is_root() {
                "runuser -u postgres -- "
            } else {
                ""
            },
            pg_ctl = bin.join("pg_ctl").display(),
        ))
        .map_err(|e| format!("cannot start the cleanup watchdog: {e}"))?;
        match setup.standby_of {
            Some(primary) => {
                // -R writes standby.signal and primary_conninfo (with this password).
                let conninfo = format!(
                    "host=127.0.0.1 port={} user=postgres password={superuser_password}",
                    primary.port
                );
                run_pg(
                    &bin,
                    "pg_basebackup",
                    &[
                        "-D",
                        &data_s,
                        "-d",
                        &conninfo,
                        "-R",
                        "-X",
                        "stream",
                        "-c",
                        "fast",
                        "--no-sync",
                    ],
                )?;
            }
            None => {
                run_pg(
                    &bin,
                    "initdb",
                    &[
                        "-D",
                        &data_s,
                        "-U",
                        "postgres",
                        "--auth=scram-sha-256",
                        &format!("--pwfile={}", pwfile.display()),
                        "-E",
                        "UTF8",
                        "--no-locale",
                        "--no-sync",
                    ],
                )?;
            }
        }
        let (pki, tls_options) = if setup.tls {
            let pki = TestPki::create(&dir.join("tls"))?;
            std::fs::write(data.join("pg_hba.conf"), TLS_ONLY_HBA).map_err(|e| e.to_string())?;
            chown_to_postgres(&dir)?;
            let options = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={} -c ssl_ca_file={}",
                pki.server_cert_file().display(),
                pki.server_key_file().display(),
                pki.ca_file().display()
            );
            (Some(pki), options)
        } else {
            (None, String::new())
        };
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port().map_err(|e| e.to_string())?;
            let options = format!(
                "-p {port} -k {dir_s} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200{tls_options}"
            );
            let cluster = Self {
                dir: dir.clone(),
                bin: bin.clone(),
                port,
                superuser_password: superuser_password.clone(),
                pki: pki.clone(),
                options,
            };
            match cluster.pg_ctl(&["-w", "start"]) {
                Ok(()) => return Ok(cluster),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// A primary for a standby to replicate from (initdb's defaults already allow it:
    /// `wal_level = replica`, replication lines in pg_hba.conf).
    pub(crate) fn start_primary() -> Result<Self, String> {
        Self::start_with(&Setup::default())
    }

    /// A streaming standby of `primary`, with its roles and data.
    pub(crate) fn start_standby_of(primary: &PgCluster) -> Result<Self, String> {
        Self::start_with(&Setup {
            standby_of: Some(primary),
            ..Setup::default()
        })
    }

    /// Runs `pg_ctl` on this cluster's data directory with its options and log.
    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let data = self.dir.join("data").display().to_string();
        let log = self.dir.join("log").display().to_string();
        let mut all = vec!["-D", &data, "-l", &log, "-o", &self.options];
        all.extend_from_slice(args);
        run_pg(&self.bin, "pg_ctl", &all).map(|_| ())
    }

    /// Stops the server (`fast`: sessions are ended, as on a normal shutdown); it stays
    /// stopped until [`PgCluster::start_again`].
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "stop"])
            .expect("pg_ctl stop");
    }

    /// Stops the server at once, as a crash would (`immediate`).
    pub fn crash(&self) {
        self.pg_ctl(&["-m", "immediate", "-w", "stop"])
            .expect("pg_ctl stop -m immediate");
    }

    /// Starts a stopped server again, on the same port.
    pub fn start_again(&self) {
        self.pg_ctl(&["-w", "start"]).expect("pg_ctl start");
    }

    /// Restarts the server (`fast`): every session ends.
    pub fn restart(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "restart"])
            .expect("pg_ctl restart");
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Promotes a standby to a primary, waiting until it takes writes.
    pub fn promote(&self) {
        self.pg_ctl(&["-w", "promote"]).expect("pg_ctl promote");
    }

    /// The TLS-only cluster's CA and server certificate.
    pub fn pki(&self) -> Option<&TestPki> {
        self.pki.as_ref()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Unix-socket directory (also a `host` value, as in libpq).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The superuser's password, for configuring Vault's database secrets engine.
    pub fn superuser_password(&self) -> &str {
        &self.superuser_password
    }

    pub fn bin(&self, program: &str) -> PathBuf {
        self.bin.join(program)
    }

    /// A pool logged in as the superuser, for setting tests up.
    pub async fn superuser(&self) -> PgPool {
        let options = PgConnectOptions::new_without_pgpass()
            .host("127.0.0.1")
            .port(self.port)
            .username("postgres")
            .password(&self.superuser_password)
            .database("postgres");
        PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("superuser connects to the test cluster")
    }

    /// A fresh role with `password` and a database it owns, both named `name`.
    pub async fn create_role_and_database(&self, name: &str, password: &str) {
        let pool = self.superuser().await;
        let ident = quote_ident(name);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "create role {ident} login password {}",
            quote_literal(password)
        )))
        .execute(&pool)
        .await
        .expect("create role");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "create database {ident} owner {ident}"
        )))
        .execute(&pool)
        .await
        .expect("create database");
        pool.close().await;
    }

    pub async fn set_password(&self, role: &str, password: &str) {
        let pool = self.superuser().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "alter role {} password {}",
            quote_ident(role),
            quote_literal(password)
        )))
        .execute(&pool)
        .await
        .expect("alter role");
        pool.close().await;
    }
}

/// Gives `dir` and everything in it to the `postgres` user when we are root (the server
/// runs as that user and refuses a key file it does not own).
fn chown_to_postgres(dir: &Path) -> Result<(), String> {
    if !is_root() {
        return Ok(());
    }
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir)
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("chown postgres {} failed", dir.display()))
    }
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}
