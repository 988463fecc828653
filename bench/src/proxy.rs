//! The proxy: `pgbench` direct to the server, through `dbcore proxy` and through pgbouncer
//! (session mode, Debian's package), same cluster, same run. Throughput and p99 latency of
//! `-S`, and the connection rate of `-C` (a new connection per transaction).
//!
//! Clients reach the proxy and pgbouncer on a Unix socket and both reach the server over
//! loopback TCP, as the direct run does; every login is SCRAM-SHA-256.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tests::bin::ConfigDir;
use tests::pg::PgCluster;

const ROLE: &str = "bench_proxy";
const PASSWORD: &str = "bench-proxy-pw";

/// A background server, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one pgbench run measured.
#[derive(Debug, Clone, Copy)]
struct Measured {
    tps: f64,
    p99_ms: f64,
}

/// Where a pgbench points: host (a directory for a socket), port, and a pgpass file for the
/// direct run.
struct Endpoint {
    name: &'static str,
    host: String,
    port: u16,
    passfile: Option<PathBuf>,
}

pub async fn run(seconds: u64, clients: u32) -> Result<()> {
    let pg = tests::pg::cluster().context("no PostgreSQL for the benchmark")?;
    pg.create_role_and_database(ROLE, PASSWORD).await;
    let scratch = tempfile::tempdir()?;
    // pgbouncer will not run as root; the server's account runs it, in a directory it owns.
    std::fs::set_permissions(
        scratch.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let passfile = scratch.path().join("pgpass");
    std::fs::write(
        &passfile,
        format!("127.0.0.1:{}:*:{ROLE}:{PASSWORD}\n", pg.port()),
    )?;
    std::fs::set_permissions(
        &passfile,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )?;
    let direct = Endpoint {
        name: "direct",
        host: "127.0.0.1".into(),
        port: pg.port(),
        passfile: Some(passfile.clone()),
    };
    pgbench(pg, &direct, &["-i", "-q", "-s", "10"], None)?;

    let config = ConfigDir::new();
    config.target(
        "bench",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{ROLE}\"\nuser = \"{ROLE}\"\nsources = [\"env\"]\nenv_prefix = \"BP\"\n",
            pg.port()
        ),
    );
    let proxy_dir = scratch.path().join("proxy");
    let _proxy = start_proxy(&config, &proxy_dir, 6432)?;
    let proxied = Endpoint {
        name: "dbcore proxy",
        host: proxy_dir.display().to_string(),
        port: 6432,
        passfile: None,
    };
    let bouncer_dir = scratch.path().join("pgbouncer");
    let _bouncer = start_pgbouncer(pg, &bouncer_dir, 6433)?;
    let bounced = Endpoint {
        name: "pgbouncer (session)",
        host: bouncer_dir.display().to_string(),
        port: 6433,
        passfile: None,
    };

    let seconds_text = seconds.to_string();
    let clients_text = clients.to_string();
    let mut select = Vec::new();
    let mut connect = Vec::new();
    for endpoint in [&direct, &proxied, &bounced] {
        let logs = scratch.path().join(format!("log-{}", endpoint.port));
        std::fs::create_dir_all(&logs)?;
        let args = [
            "-S",
            "-n",
            "-c",
            &clients_text,
            "-j",
            "2",
            "-T",
            &seconds_text,
        ];
        select.push(pgbench(pg, endpoint, &args, Some(&logs))?);
        let short = (seconds / 2).max(1).to_string();
        let args = [
            "-S",
            "-n",
            "-C",
            "-c",
            &clients_text,
            "-j",
            "2",
            "-T",
            &short,
        ];
        connect.push(pgbench(pg, endpoint, &args, None)?);
    }
    println!(
        "pgbench -S -c {clients} -j 2 -T {seconds} (select-only), and -C (a connection per transaction) for {} s:",
        (seconds / 2).max(1)
    );
    println!(
        "| {:<22} | {:>12} | {:>9} | {:>14} | {:>16} |",
        "", "-S tps", "p99 ms", "-C conn/s", "tps vs direct"
    );
    println!(
        "|{}|{}|{}|{}|{}|",
        "-".repeat(24),
        "-".repeat(14),
        "-".repeat(11),
        "-".repeat(16),
        "-".repeat(18)
    );
    for (i, endpoint) in [&direct, &proxied, &bounced].iter().enumerate() {
        println!(
            "| {:<22} | {:>12.0} | {:>9.3} | {:>14.1} | {:>15.2}x |",
            endpoint.name,
            select[i].tps,
            select[i].p99_ms,
            connect[i].tps,
            select[i].tps / select[0].tps.max(1e-9)
        );
    }
    println!(
        "targets: proxy >= 0.90x direct -S throughput (here {:.2}x); proxy ahead of pgbouncer (here {:.2}x of it); -C: proxy {:.2}x of direct, {:.2}x of pgbouncer",
        select[1].tps / select[0].tps.max(1e-9),
        select[1].tps / select[2].tps.max(1e-9),
        connect[1].tps / connect[0].tps.max(1e-9),
        connect[1].tps / connect[2].tps.max(1e-9),
    );
    Ok(())
}

fn start_proxy(config: &ConfigDir, dir: &Path, port: u16) -> Result<Running> {
    let mut child = Command::new(tests::bin::path("dbcore"))
        .args([
            "--config-dir",
            config.path_str(),
            "proxy",
            "bench",
            "--socket-dir",
        ])
        .arg(dir)
        .args(["--port", &port.to_string()])
        .env("BP_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("piped")?;
    let running = Running(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    if !line.starts_with("dbcore proxy: listening on ") {
        bail!("dbcore proxy did not start: {line:?}");
    }
    Ok(running)
}

/// pgbouncer in session mode on a socket in `dir`, logging in to the server with the
/// benchmark role's password (SCRAM); clients of the socket are trusted, as the proxy's are.
fn start_pgbouncer(pg: &PgCluster, dir: &Path, port: u16) -> Result<Running> {
    let binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .context("pgbouncer is not installed (scripts/test installs it)")?;
    std::fs::create_dir_all(dir)?;
    let ini = dir.join("pgbouncer.ini");
    std::fs::write(
        &ini,
        format!(
            "[databases]\n{ROLE} = host=127.0.0.1 port={} dbname={ROLE} user={ROLE} password={PASSWORD}\n\
             [pgbouncer]\nlisten_addr =\nlisten_port = {port}\nunix_socket_dir = {}\n\
             auth_type = any\npool_mode = session\nmax_client_conn = 200\ndefault_pool_size = 50\n\
             logfile = {}\nlog_connections = 0\nlog_disconnections = 0\n",
            pg.port(),
            dir.display(),
            dir.join("pgbouncer.log").display()
        ),
    )?;
    let status = Command::new("chown")
        .args(["-R", "postgres"])
        .arg(dir)
        .status()?;
    if !status.success() {
        bail!("chown postgres {} failed", dir.display());
    }
    let child = Command::new("runuser")
        .args(["-u", "postgres", "--", binary])
        .arg(&ini)
        .stdout(Stdio::null())
        .spawn()?;
    let running = Running(child);
    let socket = dir.join(format!(".s.PGSQL.{port}"));
    for _ in 0..100 {
        if socket.exists() {
            return Ok(running);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("pgbouncer did not listen on {}", socket.display())
}

/// Runs pgbench against `endpoint`; with `logs`, per-transaction latencies for the p99.
fn pgbench(
    pg: &PgCluster,
    endpoint: &Endpoint,
    args: &[&str],
    logs: Option<&Path>,
) -> Result<Measured> {
    let mut command = Command::new(pg.bin("pgbench"));
    command
        .args(args)
        .args([
            "-h",
            &endpoint.host,
            "-p",
            &endpoint.port.to_string(),
            "-U",
            ROLE,
        ])
        .env(
            "PGPASSFILE",
            endpoint
                .passfile
                .as_deref()
                .unwrap_or(Path::new("/nonexistent")),
        );
    if let Some(dir) = logs {
        command
            .arg("-l")
            .arg(format!("--log-prefix={}", dir.join("tx").display()));
    }
    command.arg(ROLE);
    let out = command.output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "pgbench {} failed: {text}{}",
            endpoint.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let tps = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or(0.0);
    let p99_ms = logs.map_or(Ok(0.0), p99)?;
    Ok(Measured { tps, p99_ms })
}

/// The 99th percentile of the latencies pgbench logged (third field, microseconds).
fn p99(dir: &Path) -> Result<f64> {
    let mut latencies: Vec<u64> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        latencies.extend(
            text.lines()
                .filter_map(|l| l.split(' ').nth(2)?.parse::<u64>().ok()),
        );
    }
    latencies.sort_unstable();
    let at = (latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1));
    Ok(latencies.get(at).copied().unwrap_or(0) as f64 / 1000.0)
}
