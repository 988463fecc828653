//! Required-or-skip policy shared by every server harness.

use std::net::TcpListener;
use std::process::Command;

/// Whether servers are required (set by `scripts/test`).
pub fn required() -> bool {
    std::env::var("DBCORE_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// Called when a server could not be started: fails under `scripts/test`, skips visibly
/// otherwise. Returns `None` so that callers can `let Some(server) = … else { return }`.
pub fn unavailable<T>(server: &str, why: &str) -> Option<T> {
    if required() {
        panic!("{server} is required (DBCORE_REQUIRE_SERVERS=1) but could not be started: {why}");
    }
    // libtest names a test's thread after the test.
    let test = std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(|name| format!("{name}: "))
        .unwrap_or_default();
    report_skip(&format!(
        "SKIP: {test}{server} is not available ({why}); run scripts/test to run this test"
    ));
    None
}

/// Shows a skip where a developer looks, and counts it.
///
/// libtest captures what a test prints with `print!`/`eprint!` and throws it away when the
/// test passes, and there is no stable way for a running test to mark itself ignored (nor in
/// nextest). So the line goes to the process's standard error through `io::stderr()`, which
/// libtest does not capture: under a bare `cargo test` it reaches the terminal (or the log
/// the run is piped into). It is also appended to the file named by `DBCORE_SKIP_LOG`, one line
/// per skip, from which `scripts/test` prints its count.
fn report_skip(line: &str) {
    use std::io::Write as _;
    let _ = std::io::stderr()
        .lock()
        .write_all(format!("{line}\n").as_bytes());
    if let Some(path) = std::env::var_os("DBCORE_SKIP_LOG").filter(|p| !p.is_empty()) {
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = appended {
            let _ = writeln!(
                std::io::stderr().lock(),
                "cannot record the skip in DBCORE_SKIP_LOG ({}): {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago. Another process may take it before it
/// is used: only for a server that is started with a retry on "address in use" (the harnesses).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A port on 127.0.0.1 where nothing listens, held for as long as this value lives: the socket
/// is bound but never listens, so connecting is refused and no other process can bind it.
#[derive(Debug)]
pub struct RefusingPort {
    _held: tokio::net::TcpSocket,
    port: u16,
}

impl RefusingPort {
    pub fn new() -> std::io::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let port = socket.local_addr()?.port();
        Ok(Self {
            _held: socket,
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Starts `sh -c script` detached from the test process's lifetime: it keeps running after
/// the test process exits, which is what a cleanup watchdog needs.
pub fn spawn_watchdog(script: &str) -> std::io::Result<()> {
    Command::new("setsid")
        .args(["sh", "-c", script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
}

/// A random alphanumeric string (for passwords and names).
pub fn random_token(len: usize) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(len);
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    while out.len() < len {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(out.len());
        let mut x = h.finish();
        for _ in 0..8 {
            if out.len() == len {
                break;
            }
            out.push(alphabet[(x % alphabet.len() as u64) as usize] as char);
            x /= alphabet.len() as u64;
        }
    }
    out
}
