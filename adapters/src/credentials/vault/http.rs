//! The HTTP side: one reqwest client per operation, and the calls the source makes.
//!
//! Design decision: **no redirect is followed, not even to the same origin.** Every call the
//! source makes carries a secret (the token in `X-Vault-Token`, a role id and secret id or a
//! JWT in a login body, a lease id); a 307/308 resends the body, and reqwest only drops
//! `Authorization`-like headers on a cross-host redirect, never `X-Vault-Token`. Vault's own Go
//! client follows at most one redirect (for standby nodes that do not forward requests); since
//! Vault 0.6.2 standbys forward to the active node themselves, so a redirect today means a
//! misconfigured address or someone in the way. A 3xx is an error that names the configured
//! address and tells the operator to point `vault.address` at the active node or at a load
//! balancer; the `Location` is not printed (it is not an address the configuration named).
//!
//! Also: no proxy from the process environment (configuration comes through the `Env` port
//! only); TLS is rustls, with the system's roots, or only the roots in `vault.ca_cert` /
//! `VAULT_CACERT` when one is given; 10 s for a whole call; answers over 1 MiB are refused.

use std::time::Duration;

use domain::{ExposeSecret, SecretString, SourceError};
use reqwest::redirect::Policy;
use serde_json::Value;

use super::address::VaultAddress;
use crate::fs::{FileKind, read_regular};

/// The timeout of one call, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Vault answers are a few KiB; a larger one is not Vault.
const MAX_ANSWER: usize = 1024 * 1024;
/// A CA bundle: the whole Mozilla set is ~220 KiB.
const CA_FILE: FileKind = FileKind {
    what: "a CA certificate file",
    limit: 4 * 1024 * 1024,
};

/// A Vault answer that was not a success, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// An HTTP error status and Vault's error strings (cleaned and shortened).
    Status(u16, Vec<String>),
    /// A 3xx: refused, never followed.
    Redirect(u16),
    /// No answer: connection refused, name not resolved, timed out, connection closed.
    Unreachable(String),
    /// The TLS handshake failed: an untrusted or mismatched certificate, or not TLS at all.
    Tls(String),
    /// An answer that is not what Vault sends (not JSON, too large).
    Malformed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Status(code, errors) if errors.is_empty() => write!(f, "status {code}"),
            CallError::Status(code, errors) => write!(f, "status {code}: {}", errors.join("; ")),
            CallError::Redirect(code) => write!(f, "a redirect (status {code}), not followed"),
            CallError::Unreachable(r) | CallError::Malformed(r) => f.write_str(r),
            CallError::Tls(r) => write!(f, "TLS handshake failed: {r}"),
        }
    }
}

/// A client bound to one checked address.
pub struct Client {
    http: reqwest::Client,
    address: VaultAddress,
    namespace: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.address.shown())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the client; the CA file, when given, is read safely and is the only trust root.
    pub fn new(
        address: VaultAddress,
        ca_cert: Option<&std::path::Path>,
        namespace: Option<String>,
    ) -> Result<Self, SourceError> {
        let mut builder = reqwest::Client::builder()
            .redirect(Policy::none())
            .no_proxy()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .user_agent("dbcore");
        if let Some(path) = ca_cert {
            let bytes = read_regular(path, CA_FILE)?.ok_or_else(|| {
                SourceError::Misconfigured(format!(
                    "the vault CA certificate file {} does not exist",
                    path.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&bytes)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    SourceError::Misconfigured(format!(
                        "the vault CA certificate file {} holds no PEM certificate",
                        path.display()
                    ))
                })?;
            builder = builder.tls_certs_only(certs);
        } else if !address.is_https() {
            // Plain http needs no roots (and the platform verifier may fail to load here).
            builder = builder.tls_certs_only(Vec::new());
        }
        let http = builder.build().map_err(|e| {
            SourceError::Misconfigured(format!("vault client for {address}: {}", root_cause(&e)))
        })?;
        Ok(Self {
            http,
            address,
            namespace,
        })
    }

    pub fn address(&self) -> &VaultAddress {
        &self.address
    }

    /// One call: `GET` or `PUT`/`POST` with a JSON body, the token when given.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&SecretString>,
        body: Option<Value>,
    ) -> Result<Value, CallError> {
        let mut request = self.http.request(method, self.address.endpoint(path));
        if let Some(token) = token {
            let mut value =
                reqwest::header::HeaderValue::from_str(token.expose_secret()).map_err(|_| {
                    CallError::Malformed("the token is not a valid header value".into())
                })?;
            value.set_sensitive(true);
            request = request.header("X-Vault-Token", value);
        }
        if let Some(ns) = &self.namespace {
            request = request.header("X-Vault-Namespace", ns.as_str());
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let mut response = request.send().await.map_err(|e| classify(&e))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            return Err(CallError::Redirect(status));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err(CallError::Malformed(format!(
                    "an answer over {} KiB (status {status})",
                    MAX_ANSWER / 1024
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(_) if !(200..300).contains(&status) => Value::Null,
                Err(_) => {
                    return Err(CallError::Malformed(format!(
                        "not a JSON answer (status {status})"
                    )));
                }
            }
        };
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(CallError::Status(status, vault_errors(&value)))
        }
    }
}

/// Vault's `errors` strings, at most 3, each cut at 200 characters, control characters removed.
fn vault_errors(value: &Value) -> Vec<String> {
    value["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .take(3)
                .map(|e| {
                    e.chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .take(200)
                        .collect::<String>()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Classifies a reqwest error by its type and its chain of sources, never by its text.
pub fn classify(e: &reqwest::Error) -> CallError {
    if e.is_timeout() {
        return CallError::Unreachable(format!("no answer within {} s", TIMEOUT.as_secs()));
    }
    // tokio-rustls reports every TLS failure as an io::Error of kind InvalidData wrapping the
    // rustls error; io::Error hides that inner error from `source()`, so look at `get_ref`.
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    for _ in 0..16 {
        let Some(err) = current else { break };
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::InvalidData
                && let Some(inner) = io.get_ref()
            {
                return CallError::Tls(inner.to_string());
            }
            current = io
                .get_ref()
                .map(|i| i as &(dyn std::error::Error + 'static));
        } else {
            current = err.source();
        }
    }
    CallError::Unreachable(root_cause(e))
}

/// The innermost message of an error chain: `Connection refused (os error 111)` rather than
/// reqwest's `error sending request for url (…)`.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut current = e.source();
    for _ in 0..16 {
        let Some(err) = current else { break };
        last = err.to_string();
        current = err.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server that answers every connection with `answer`; counts connections.
    async fn server(answer: String) -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let _ = stream.read(&mut buf).await;
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        (port, count)
    }

    fn client(port: u16) -> Client {
        let address = VaultAddress::parse(&format!("http://127.0.0.1:{port}"), false).unwrap();
        Client::new(address, None, None).unwrap()
    }

    fn reply(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn no_redirect_is_followed_even_to_the_same_origin() {
        let (decoy, decoy_hits) = server(reply("200 OK", "", "{}")).await;
        for status in [
            "301 Moved",
            "302 Found",
            "303 See Other",
            "307 Temporary",
            "308 Permanent",
        ] {
            for location in [
                format!("http://127.0.0.1:{decoy}/v1/x"),
                format!("//127.0.0.1:{decoy}/v1/x"),
                "/v1/other".to_owned(),
            ] {
                let (port, hits) =
                    server(reply(status, &format!("Location: {location}\r\n"), "")).await;
                let token = SecretString::from("hvs.token".to_owned());
                let e = client(port)
                    .call(
                        reqwest::Method::POST,
                        "auth/approle/login",
                        Some(&token),
                        Some(json!({"secret_id": "s"})),
                    )
                    .await
                    .unwrap_err();
                let code: u16 = status[..3].parse().unwrap();
                assert_eq!(e, CallError::Redirect(code), "{status} to {location}");
                assert_eq!(
                    hits.load(Ordering::SeqCst),
                    1,
                    "{status} to {location}: followed"
                );
            }
        }
        assert_eq!(decoy_hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn answers_are_classified() {
        let (port, _) = server(reply(
            "403 Forbidden",
            "",
            "{\"errors\":[\"permission denied\\n\"]}",
        ))
        .await;
        let e = client(port)
            .call(reqwest::Method::GET, "x", None, None)
            .await
            .unwrap_err();
        assert_eq!(e, CallError::Status(403, vec!["permission denied ".into()]));
        let (port, _) = server(reply("502 Bad Gateway", "", "<html>")).await;
        let e = client(port)
            .call(reqwest::Method::GET, "x", None, None)
            .await
            .unwrap_err();
        assert_eq!(e, CallError::Status(502, vec![]));
        let (port, _) = server(reply("200 OK", "", "<html>")).await;
        let e = client(port)
            .call(reqwest::Method::GET, "x", None, None)
            .await
            .unwrap_err();
        assert!(matches!(e, CallError::Malformed(_)), "{e:?}");
        let big = format!("{{\"data\":\"{}\"}}", "a".repeat(MAX_ANSWER));
        let (port, _) = server(reply("200 OK", "", &big)).await;
        let e = client(port)
            .call(reqwest::Method::GET, "x", None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(e, CallError::Malformed(ref m) if m.contains("over")),
            "{e:?}"
        );
        // Nothing listens on a port just freed.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = client(port)
            .call(reqwest::Method::GET, "x", None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(e, CallError::Unreachable(ref m) if !m.contains("127.0.0.1")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_server_that_does_not_speak_tls_is_a_tls_error() {
        let (port, _) = server(reply("400 Bad Request", "", "")).await;
        let address = VaultAddress::parse(&format!("https://127.0.0.1:{port}"), false).unwrap();
        let e = Client::new(address, None, None)
            .unwrap()
            .call(reqwest::Method::GET, "x", None, None)
            .await
            .unwrap_err();
        assert!(matches!(e, CallError::Tls(_)), "{e:?}");
    }

    #[test]
    fn a_ca_file_must_be_a_regular_file_with_certificates() {
        let address = VaultAddress::parse("https://vault:8200", false).unwrap();
        let e = Client::new(
            address.clone(),
            Some(std::path::Path::new("/dev/zero")),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, "not a certificate").unwrap();
        let e = Client::new(address, Some(&file), None).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
    }
}
