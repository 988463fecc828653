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
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::address::VaultAddress;
use super::responses::{self, AnswerError};
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
    /// A success whose body is not what Vault sends (too large, not JSON, a field missing or
    /// of the wrong type).
    Malformed(AnswerError),
    /// The request could not be built (the token is not a header value, the body not JSON).
    /// Tokens are checked before they are kept and bodies are plain structs, so this means a
    /// bug; it is an error rather than a panic all the same.
    Request(&'static str),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Status(code, errors) if errors.is_empty() => write!(f, "status {code}"),
            CallError::Status(code, errors) => write!(f, "status {code}: {}", errors.join("; ")),
            CallError::Redirect(code) => write!(f, "a redirect (status {code}), not followed"),
            CallError::Unreachable(r) => f.write_str(r),
            CallError::Malformed(e) => e.fmt(f),
            CallError::Request(what) => write!(f, "the request could not be built: {what}"),
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

    /// `GET path`, the answer parsed as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&SecretString>,
    ) -> Result<T, CallError> {
        let request = self.request(reqwest::Method::GET, path, token)?;
        self.exchange(request).await
    }

    /// `PUT` or `POST` of a JSON body, the answer parsed as `T`.
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&SecretString>,
        body: &impl Serialize,
    ) -> Result<T, CallError> {
        let body = serde_json::to_vec(body)
            .map_err(|_| CallError::Request("the body cannot be written as JSON"))?;
        let request = self
            .request(method, path, token)?
            .header("Content-Type", "application/json")
            .body(body);
        self.exchange(request).await
    }

    /// The request with the token (marked sensitive, so that no log shows it) and namespace.
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&SecretString>,
    ) -> Result<reqwest::RequestBuilder, CallError> {
        let mut request = self.http.request(method, self.address.endpoint(path));
        if let Some(token) = token {
            let mut value = reqwest::header::HeaderValue::from_str(token.expose_secret())
                .map_err(|_| CallError::Request("the token is not a valid header value"))?;
            value.set_sensitive(true);
            request = request.header("X-Vault-Token", value);
        }
        if let Some(ns) = &self.namespace {
            request = request.header("X-Vault-Namespace", ns.as_str());
        }
        Ok(request)
    }

    /// Sends the request and reads at most [`MAX_ANSWER`] bytes: a success is parsed as `T`, a
    /// failure becomes its status and Vault's error strings, a redirect is refused.
    async fn exchange<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, CallError> {
        let mut response = request.send().await.map_err(|e| classify(&e))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            return Err(CallError::Redirect(status));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err(CallError::Malformed(AnswerError::TooLarge {
                    limit_kib: MAX_ANSWER / 1024,
                    status,
                }));
            }
            bytes.extend_from_slice(&chunk);
        }
        if (200..300).contains(&status) {
            responses::parse(&bytes, status).map_err(CallError::Malformed)
        } else {
            Err(CallError::Status(status, responses::error_messages(&bytes)))
        }
    }
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
#[path = "http_tests.rs"]
pub(super) mod tests;
