//! `vault`: database credentials from HashiCorp Vault (or OpenBao), over the Vault HTTP API.
//!
//! Contract:
//! - Address: the target's `vault.address`, else `VAULT_ADDR`, else `http://127.0.0.1:8200`;
//!   checked before anything is sent ([`address`]): `https://`, or `http://` only to loopback
//!   unless the target sets `vault.allow_http = true`; never a user name, password, query or
//!   fragment. CA certificate from `vault.ca_cert`, else `VAULT_CACERT` (then the only trust
//!   root); namespace from `vault.namespace`, else `VAULT_NAMESPACE`.
//! - Auth (`vault.auth`, [`auth`]): `token` (`VAULT_TOKEN`, else `~/.vault-token`, else
//!   `vault.token_file`); `approle` (role id and secret id from `vault.role_id_file` /
//!   `vault.secret_id_file`, else `<PREFIX>_VAULT_ROLE_ID` / `<PREFIX>_VAULT_SECRET_ID`);
//!   `kubernetes` (the service-account JWT file, `vault.role`); `jwt` (`vault.jwt_file`,
//!   `vault.role`). Files are read safely and every value is checked ([`token_file`]). A token
//!   from a login is renewed when a third of its life is left, and obtained again by logging
//!   in when it cannot be renewed.
//! - Secrets ([`secrets`]): KV v1 and v2 (`vault.kv = { mount, path, version, username_key,
//!   password_key }`), the database secrets engine's dynamic roles (`vault.database = { mount,
//!   role }`, with the lease id, duration and renewability kept) and static roles
//!   (`vault.database = { mount, static_role }`); leases renewed and revoked.
//! - HTTP ([`http`]): no redirect is ever followed, so a secret only goes to the configured
//!   address; no proxy from the environment. Answers are parsed into types ([`responses`]),
//!   secrets straight into `SecretString`.
//! - Outcomes: the secret or role is missing (404) → "not here"; Vault cannot be reached →
//!   "unavailable" with the reason; a refused redirect, a failed TLS handshake, permission
//!   denied (403), sealed (503), a refused login (400) or a malformed answer → a hard error
//!   naming the address and what was asked.
//! - The token, role id, secret id, lease ids and passwords are secrets: held as
//!   `SecretString`, never in a message, a log field or a `Debug` output.

pub mod address;
mod auth;
pub mod http;
mod responses;
mod secrets;
pub mod token_file;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use domain::{CredentialSource, Env, Lease, Lookup, Renewal, SourceError, TargetIdentity};
use tokio::sync::Mutex;

use self::address::VaultAddress;
use self::auth::Token;
use self::http::{CallError, Client};

/// How to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultAuth {
    Token {
        token_file: Option<PathBuf>,
    },
    AppRole {
        mount: String,
        role_id_file: Option<PathBuf>,
        secret_id_file: Option<PathBuf>,
    },
    Kubernetes {
        mount: String,
        role: String,
        jwt_file: PathBuf,
    },
    Jwt {
        mount: String,
        role: String,
        jwt_file: PathBuf,
    },
}

impl VaultAuth {
    pub fn method(&self) -> &'static str {
        match self {
            VaultAuth::Token { .. } => "token",
            VaultAuth::AppRole { .. } => "approle",
            VaultAuth::Kubernetes { .. } => "kubernetes",
            VaultAuth::Jwt { .. } => "jwt",
        }
    }
}

/// Which secret holds the database credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultSecret {
    Kv {
        mount: String,
        path: String,
        version: u8,
        username_key: String,
        password_key: String,
    },
    Dynamic {
        mount: String,
        role: String,
    },
    Static {
        mount: String,
        role: String,
    },
}

impl VaultSecret {
    /// The API path read, e.g. `database/creds/app`.
    pub fn path(&self) -> String {
        match self {
            VaultSecret::Kv {
                mount,
                path,
                version: 2,
                ..
            } => format!("{mount}/data/{path}"),
            VaultSecret::Kv { mount, path, .. } => format!("{mount}/{path}"),
            VaultSecret::Dynamic { mount, role } => format!("{mount}/creds/{role}"),
            VaultSecret::Static { mount, role } => format!("{mount}/static-creds/{role}"),
        }
    }
}

/// Everything the source needs; built by `project_core` from the target's `[vault]` table.
/// Its `Debug` leaves the address out: an unchecked address may hold a password.
#[derive(Clone)]
pub struct VaultConfig {
    /// `None` means `VAULT_ADDR` (read through the `Env` port).
    pub address: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub namespace: Option<String>,
    pub auth: VaultAuth,
    pub secret: VaultSecret,
    /// The target's environment prefix, for `<PREFIX>_VAULT_ROLE_ID` and `_SECRET_ID`.
    pub env_prefix: String,
    /// `vault.allow_http`: plain `http://` to a host that is not loopback.
    pub allow_http: bool,
}

impl std::fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultConfig")
            .field("auth", &self.auth)
            .field("secret", &self.secret)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

/// Why an operation failed: Vault could not be asked (the chain may try the next source), or a
/// hard error. Typed, so that no caller has to read a message to tell them apart.
#[derive(Debug)]
enum Failure {
    Unavailable(String),
    Hard(SourceError),
}

impl From<SourceError> for Failure {
    fn from(e: SourceError) -> Self {
        Failure::Hard(e)
    }
}

impl From<Failure> for SourceError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Unavailable(m) => SourceError::Other(m),
            Failure::Hard(e) => e,
        }
    }
}

/// The Vault source. See the module documentation for its contract.
pub struct VaultSource {
    config: VaultConfig,
    env: Arc<dyn Env>,
    token: Mutex<Option<Token>>,
}

impl std::fmt::Debug for VaultSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultSource")
            .field("address", &self.shown_address())
            .field("auth", &self.config.auth.method())
            .field("path", &self.config.secret.path())
            .finish_non_exhaustive()
    }
}

impl VaultSource {
    pub fn new(config: VaultConfig, env: Arc<dyn Env>) -> Self {
        Self {
            config,
            env,
            token: Mutex::new(None),
        }
    }

    /// The checked address; the error names where the address came from, never its text.
    pub fn address(&self) -> Result<VaultAddress, SourceError> {
        let (raw, origin) = match (&self.config.address, self.env.non_empty("VAULT_ADDR")) {
            (Some(a), _) => (a.clone(), "vault.address"),
            (None, Some(a)) => (a, "VAULT_ADDR"),
            (None, None) => (
                "http://127.0.0.1:8200".to_owned(),
                "the default vault address",
            ),
        };
        VaultAddress::parse(&raw, self.config.allow_http)
            .map_err(|e| SourceError::Misconfigured(format!("{origin} {e}")))
    }

    /// The address as `explain` shows it: scheme, host, port and path only.
    fn shown_address(&self) -> String {
        match self.address() {
            Ok(a) => a.shown().to_owned(),
            Err(e) => format!("refused: {e}"),
        }
    }

    fn client(&self) -> Result<Client, SourceError> {
        let address = self.address()?;
        let ca = self
            .config
            .ca_cert
            .clone()
            .or_else(|| self.env.non_empty("VAULT_CACERT").map(PathBuf::from));
        let namespace = self
            .config
            .namespace
            .clone()
            .or_else(|| self.env.non_empty("VAULT_NAMESPACE"));
        if let Some(ns) = &namespace
            && (ns.len() > 1024 || !ns.chars().all(|c| c.is_ascii_graphic()))
        {
            return Err(SourceError::Misconfigured(
                "the vault namespace (vault.namespace or VAULT_NAMESPACE) may only hold visible ASCII characters".into(),
            ));
        }
        Client::new(address, ca.as_deref(), namespace)
    }

    /// What a failed call means, in words that name the configured address and what was asked.
    fn fail(&self, client: &Client, what: &str, e: CallError) -> Failure {
        let address = client.address();
        let hard = |m: String| Failure::Hard(SourceError::Other(m));
        match e {
            CallError::Unreachable(reason) => Failure::Unavailable(format!(
                "vault at {address} cannot be reached ({what}): {reason}"
            )),
            CallError::Tls(reason) => hard(format!(
                "vault at {address}: the TLS handshake failed ({what}): {reason}; if its certificate is signed by a private CA, name that CA's file in vault.ca_cert or VAULT_CACERT"
            )),
            CallError::Redirect(code) => hard(format!(
                "vault at {address} answered {what} with a redirect (status {code}); dbcore follows no redirect, so that the token and ids only ever go to the configured address: set vault.address to the active vault node or to a load balancer that forwards requests"
            )),
            CallError::Status(403, _) => hard(format!(
                "vault at {address}: permission denied on {what}; check the token's policies"
            )),
            CallError::Status(503, _) => hard(format!(
                "vault at {address} is sealed or not ready ({what})"
            )),
            CallError::Status(code, errors) => hard(format!(
                "vault at {address}: {what} failed with status {code}: {}",
                errors.join("; ")
            )),
            e @ (CallError::Malformed(_) | CallError::Request(_)) => {
                hard(format!("vault at {address}: {what}: {e}"))
            }
        }
    }
}

#[async_trait]
impl CredentialSource for VaultSource {
    fn name(&self) -> &str {
        "vault"
    }

    async fn lookup(&self, _target: &TargetIdentity) -> Result<Lookup, SourceError> {
        match self.read_credential().await {
            Ok(lookup) => Ok(lookup),
            Err(Failure::Unavailable(reason)) => Ok(Lookup::unavailable(reason)),
            Err(Failure::Hard(e)) => Err(e),
        }
    }

    async fn renew(&self, lease: &Lease) -> Result<Renewal, SourceError> {
        Ok(self.renew_lease(lease).await?)
    }

    async fn revoke(&self, lease: &Lease) -> Result<(), SourceError> {
        Ok(self.revoke_lease(lease).await?)
    }

    fn details(&self) -> Vec<(&'static str, String)> {
        vec![
            ("address", self.shown_address()),
            ("auth", self.config.auth.method().to_owned()),
            ("path", self.config.secret.path()),
        ]
    }
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;
