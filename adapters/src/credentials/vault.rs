//! `vault`: database credentials from HashiCorp Vault (or OpenBao), over the Vault HTTP API.
//!
//! Contract:
//! - Address: the target's `vault.address`, else `VAULT_ADDR`; CA certificate from
//!   `vault.ca_cert`, else `VAULT_CACERT`; namespace from `vault.namespace`, else
//!   `VAULT_NAMESPACE`.
//! - Auth (`vault.auth`): `token` (`VAULT_TOKEN`, else `~/.vault-token`, else
//!   `vault.token_file`); `approle` (role id and secret id from `vault.role_id_file` /
//!   `vault.secret_id_file`, else `<PREFIX>_VAULT_ROLE_ID` / `<PREFIX>_VAULT_SECRET_ID`);
//!   `kubernetes` (the service-account JWT file, `vault.role`); `jwt` (`vault.jwt_file`,
//!   `vault.role`). A token from a login is renewed when a third of its life is left, and
//!   obtained again by logging in when it cannot be renewed.
//! - Secrets: KV v1 and v2 (`vault.kv = { mount, path, version, username_key, password_key }`),
//!   the database secrets engine's dynamic roles (`vault.database = { mount, role }`, with the
//!   lease id, duration and renewability kept) and static roles
//!   (`vault.database = { mount, static_role }`).
//! - Outcomes: the secret or role is missing (404) → "not here"; Vault cannot be reached →
//!   "unavailable" with the reason; permission denied (403), sealed (503), a refused login
//!   (400) or a malformed answer → a hard error naming the address, mount and path.
//! - The token, role id, secret id, lease ids and passwords are secrets: held as
//!   `SecretString`, never in a message, a log field or a `Debug` output. The client's settings
//!   (whose `Debug` prints the token) are never formatted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::{
    Credential, CredentialSource, Env, ExposeSecret, Lease, Lookup, Renewal, SecretString,
    SourceError, TargetIdentity,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

use crate::fs::expand_home;

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
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// `None` means `VAULT_ADDR` (read through the `Env` port).
    pub address: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub namespace: Option<String>,
    pub auth: VaultAuth,
    pub secret: VaultSecret,
    /// The target's environment prefix, for `<PREFIX>_VAULT_ROLE_ID` and `_SECRET_ID`.
    pub env_prefix: String,
}

/// A Vault answer that was not a success.
#[derive(Debug)]
enum CallError {
    /// HTTP status and Vault's error strings (which never echo secrets).
    Status(u16, Vec<String>),
    Unreachable(String),
    Other(String),
}

struct Token {
    value: SecretString,
    obtained: Instant,
    ttl: Option<Duration>,
    renewable: bool,
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
            .field("address", &self.address())
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

    pub fn address(&self) -> String {
        self.config
            .address
            .clone()
            .or_else(|| self.env.non_empty("VAULT_ADDR"))
            .unwrap_or_else(|| "http://127.0.0.1:8200".to_owned())
    }

    fn hard(&self, what: &str, e: CallError) -> SourceError {
        let address = self.address();
        SourceError::Other(match e {
            CallError::Status(403, _) => format!(
                "vault at {address}: permission denied on {what}; check the token's policies"
            ),
            CallError::Status(503, _) => {
                format!("vault at {address} is sealed or not ready ({what})")
            }
            CallError::Status(code, errors) => {
                format!(
                    "vault at {address}: {what} failed with status {code}: {}",
                    errors.join("; ")
                )
            }
            CallError::Unreachable(reason) => {
                format!("vault at {address} cannot be reached ({what}): {reason}")
            }
            CallError::Other(reason) => format!("vault at {address}: {what}: {reason}"),
        })
    }

    /// The HTTP client, configured by vaultrs: address, CA certificate, namespace, timeout.
    fn client(&self) -> Result<VaultClient, SourceError> {
        let mut settings = VaultClientSettingsBuilder::default();
        let address = self.address();
        url_check(&address)
            .map_err(|m| SourceError::Misconfigured(format!("vault.address `{address}`: {m}")))?;
        settings
            .address(&address)
            .token("")
            .timeout(Some(Duration::from_secs(10)));
        let ca = self
            .config
            .ca_cert
            .clone()
            .or_else(|| self.env.non_empty("VAULT_CACERT").map(PathBuf::from));
        settings.ca_certs(
            ca.map(|p| vec![p.display().to_string()])
                .unwrap_or_default(),
        );
        settings.verify(true);
        if let Some(ns) = self
            .config
            .namespace
            .clone()
            .or_else(|| self.env.non_empty("VAULT_NAMESPACE"))
        {
            settings.set_namespace(ns);
        }
        let built = settings
            .build()
            .map_err(|e| SourceError::Misconfigured(format!("vault client settings: {e}")))?;
        VaultClient::new(built)
            .map_err(|e| SourceError::Misconfigured(format!("vault client: {e}")))
    }

    async fn call(
        &self,
        client: &VaultClient,
        method: &str,
        path: &str,
        token: Option<&SecretString>,
        body: Option<Value>,
    ) -> Result<Value, CallError> {
        let url = format!("{}/v1/{path}", client.http.base.trim_end_matches('/'));
        let http = &client.http.http;
        let mut request = match method {
            "GET" => http.get(&url),
            "PUT" => http.put(&url),
            _ => http.post(&url),
        };
        if let Some(token) = token {
            request = request.header("X-Vault-Token", token.expose_secret());
        }
        if let Some(ns) = &client.settings.namespace {
            request = request.header("X-Vault-Namespace", ns.as_str());
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Unreachable(without_url(&e.to_string())))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CallError::Unreachable(without_url(&e.to_string())))?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|_| CallError::Other(format!("not a JSON answer (status {status})")))?
        };
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            let errors = value["errors"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            Err(CallError::Status(status, errors))
        }
    }

    /// A current token: renewed when a third of its life is left, a new login when it cannot be.
    async fn token(&self, client: &VaultClient) -> Result<SecretString, SourceError> {
        let mut state = self.token.lock().await;
        if let Some(token) = state.as_ref() {
            let fresh = match token.ttl {
                None => true,
                Some(ttl) => token.obtained.elapsed() < ttl * 2 / 3,
            };
            if fresh {
                return Ok(token.value.clone());
            }
            if token.renewable {
                match self
                    .call(
                        client,
                        "POST",
                        "auth/token/renew-self",
                        Some(&token.value),
                        Some(json!({})),
                    )
                    .await
                {
                    Ok(answer) => {
                        let ttl = answer["auth"]["lease_duration"]
                            .as_u64()
                            .map(Duration::from_secs);
                        let value = token.value.clone();
                        *state = Some(Token {
                            value: value.clone(),
                            obtained: Instant::now(),
                            ttl: ttl.filter(|t| !t.is_zero()),
                            renewable: answer["auth"]["renewable"].as_bool().unwrap_or(false),
                        });
                        return Ok(value);
                    }
                    Err(e) => {
                        tracing::warn!(reason = %describe(&e), "vault token renewal failed; logging in again")
                    }
                }
            }
        }
        let token = self.login(client).await?;
        let value = token.value.clone();
        *state = Some(token);
        Ok(value)
    }

    fn read_secret_file(
        &self,
        path: &std::path::Path,
        what: &str,
    ) -> Result<SecretString, SourceError> {
        let path = expand_home(&path.display().to_string(), self.env.as_ref());
        std::fs::read_to_string(&path)
            .map(|s| SecretString::from(s.trim().to_owned()))
            .map_err(|source| {
                SourceError::Misconfigured(format!(
                    "cannot read the vault {what} file {}: {source}",
                    path.display()
                ))
            })
    }

    async fn login(&self, client: &VaultClient) -> Result<Token, SourceError> {
        let (mount, body, what) = match &self.config.auth {
            VaultAuth::Token { token_file } => {
                let token = match self.env.non_empty("VAULT_TOKEN") {
                    Some(t) => SecretString::from(t),
                    None => {
                        let home_file = self
                            .env
                            .home_dir()
                            .map(|h| h.join(".vault-token"))
                            .filter(|p| p.exists());
                        match home_file.or_else(|| token_file.clone()) {
                            Some(path) => self.read_secret_file(&path, "token")?,
                            None => return Err(SourceError::Misconfigured("vault auth is token, but VAULT_TOKEN is not set and there is no ~/.vault-token or vault.token_file".into())),
                        }
                    }
                };
                // Look the token up once to learn its TTL (and that it works).
                let answer = self
                    .call(client, "GET", "auth/token/lookup-self", Some(&token), None)
                    .await
                    .map_err(|e| self.hard("token lookup (auth/token/lookup-self)", e))?;
                let ttl = answer["data"]["ttl"]
                    .as_u64()
                    .map(Duration::from_secs)
                    .filter(|t| !t.is_zero());
                return Ok(Token {
                    value: token,
                    obtained: Instant::now(),
                    ttl,
                    renewable: answer["data"]["renewable"].as_bool().unwrap_or(false),
                });
            }
            VaultAuth::AppRole {
                mount,
                role_id_file,
                secret_id_file,
            } => {
                let role_id = match role_id_file {
                    Some(path) => self.read_secret_file(path, "role id")?,
                    None => self.secret_env("VAULT_ROLE_ID")?,
                };
                let secret_id = match secret_id_file {
                    Some(path) => self.read_secret_file(path, "secret id")?,
                    None => self.secret_env("VAULT_SECRET_ID")?,
                };
                (
                    mount.clone(),
                    json!({"role_id": role_id.expose_secret(), "secret_id": secret_id.expose_secret()}),
                    "approle login",
                )
            }
            VaultAuth::Kubernetes {
                mount,
                role,
                jwt_file,
            }
            | VaultAuth::Jwt {
                mount,
                role,
                jwt_file,
            } => {
                let jwt = self.read_secret_file(jwt_file, "jwt")?;
                (
                    mount.clone(),
                    json!({"role": role, "jwt": jwt.expose_secret()}),
                    "login",
                )
            }
        };
        let path = format!("auth/{mount}/login");
        let answer = self
            .call(client, "POST", &path, None, Some(body))
            .await
            .map_err(|e| self.hard(&format!("{what} at {path}"), e))?;
        let token = answer["auth"]["client_token"].as_str().ok_or_else(|| {
            SourceError::Other(format!(
                "vault at {}: {path} returned no token",
                self.address()
            ))
        })?;
        Ok(Token {
            value: SecretString::from(token.to_owned()),
            obtained: Instant::now(),
            ttl: answer["auth"]["lease_duration"]
                .as_u64()
                .map(Duration::from_secs)
                .filter(|t| !t.is_zero()),
            renewable: answer["auth"]["renewable"].as_bool().unwrap_or(false),
        })
    }

    fn secret_env(&self, suffix: &str) -> Result<SecretString, SourceError> {
        let var = format!("{}_{suffix}", self.config.env_prefix);
        self.env
            .non_empty(&var)
            .map(SecretString::from)
            .ok_or_else(|| {
                SourceError::Misconfigured(format!(
                    "vault auth is approle, but {var} is not set and no file is configured"
                ))
            })
    }

    /// Reads the secret; `Ok(None)` when Vault says it does not exist.
    async fn read(&self) -> Result<Result<(Value, String), Lookup>, SourceError> {
        let client = self.client()?;
        let token = match self.token(&client).await {
            Ok(t) => t,
            Err(SourceError::Other(m)) if m.contains("cannot be reached") => {
                return Ok(Err(Lookup::unavailable(m)));
            }
            Err(e) => return Err(e),
        };
        let path = self.config.secret.path();
        match self.call(&client, "GET", &path, Some(&token), None).await {
            Ok(answer) => Ok(Ok((answer, path))),
            Err(CallError::Status(404, _)) => Ok(Err(Lookup::not_found(format!(
                "vault at {} has nothing at {path}",
                self.address()
            )))),
            Err(CallError::Unreachable(reason)) => Ok(Err(Lookup::unavailable(format!(
                "vault at {} cannot be reached: {reason}",
                self.address()
            )))),
            Err(e) => Err(self.hard(&format!("read of {path}"), e)),
        }
    }
}

fn url_check(address: &str) -> Result<(), &'static str> {
    if address.starts_with("http://") || address.starts_with("https://") {
        Ok(())
    } else {
        Err("must start with http:// or https://")
    }
}

fn describe(e: &CallError) -> String {
    match e {
        CallError::Status(code, errors) => format!("status {code}: {}", errors.join("; ")),
        CallError::Unreachable(r) | CallError::Other(r) => r.clone(),
    }
}

/// reqwest errors name the URL; ours never carry query strings with secrets, but keep the
/// message short and stable anyway.
fn without_url(message: &str) -> String {
    message
        .split(" for url (")
        .next()
        .unwrap_or(message)
        .to_owned()
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(|v| v.as_str()).map(str::to_owned)
}

#[async_trait]
impl CredentialSource for VaultSource {
    fn name(&self) -> &str {
        "vault"
    }

    async fn lookup(&self, _target: &TargetIdentity) -> Result<Lookup, SourceError> {
        let (answer, path) = match self.read().await? {
            Ok(found) => found,
            Err(lookup) => return Ok(lookup),
        };
        let origin = format!(
            "vault {} {path} (auth {})",
            self.address(),
            self.config.auth.method()
        );
        let malformed = |what: &str| {
            SourceError::Other(format!("vault at {}: {path} has no {what}", self.address()))
        };
        let (username, password, lease) = match &self.config.secret {
            VaultSecret::Kv {
                version,
                username_key,
                password_key,
                ..
            } => {
                let data = if *version == 2 {
                    &answer["data"]["data"]
                } else {
                    &answer["data"]
                };
                let password = text(data, password_key)
                    .ok_or_else(|| malformed(&format!("`{password_key}` key")))?;
                (text(data, username_key), password, None)
            }
            VaultSecret::Dynamic { .. } => {
                let data = &answer["data"];
                let password = text(data, "password").ok_or_else(|| malformed("password"))?;
                let lease = text(&answer, "lease_id")
                    .filter(|id| !id.is_empty())
                    .map(|id| Lease {
                        id: SecretString::from(id),
                        duration: Duration::from_secs(
                            answer["lease_duration"].as_u64().unwrap_or(0),
                        ),
                        renewable: answer["renewable"].as_bool().unwrap_or(false),
                        obtained_at: Instant::now(),
                    });
                (text(data, "username"), password, lease)
            }
            VaultSecret::Static { .. } => {
                let data = &answer["data"];
                let password = text(data, "password").ok_or_else(|| malformed("password"))?;
                (text(data, "username"), password, None)
            }
        };
        let mut credential =
            Credential::new(username, SecretString::from(password), "vault", origin);
        credential.lease = lease;
        Ok(Lookup::Found(credential))
    }

    async fn renew(&self, lease: &Lease) -> Result<Renewal, SourceError> {
        let client = self.client()?;
        let token = self.token(&client).await?;
        let increment = lease.duration.as_secs().max(1);
        let answer = self
            .call(
                &client,
                "PUT",
                "sys/leases/renew",
                Some(&token),
                Some(json!({"lease_id": lease.id.expose_secret(), "increment": increment})),
            )
            .await
            .map_err(|e| self.hard("lease renewal (sys/leases/renew)", e))?;
        Ok(Renewal {
            duration: Duration::from_secs(answer["lease_duration"].as_u64().unwrap_or(0)),
            renewable: answer["renewable"].as_bool().unwrap_or(false),
        })
    }

    async fn revoke(&self, lease: &Lease) -> Result<(), SourceError> {
        let client = self.client()?;
        let token = self.token(&client).await?;
        self.call(
            &client,
            "PUT",
            "sys/leases/revoke",
            Some(&token),
            Some(json!({"lease_id": lease.id.expose_secret()})),
        )
        .await
        .map(|_| ())
        .map_err(|e| self.hard("lease revocation (sys/leases/revoke)", e))
    }

    fn details(&self) -> Vec<(&'static str, String)> {
        vec![
            ("address", self.address()),
            ("auth", self.config.auth.method().to_owned()),
            ("path", self.config.secret.path()),
        ]
    }
}
