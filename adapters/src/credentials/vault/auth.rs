//! Logging in: a token from the environment or a file, or a login (AppRole, Kubernetes, JWT)
//! with ids read and checked by [`super::token_file`]; the token kept and renewed.

use std::time::{Duration, Instant};

use domain::{ExposeSecret, SecretString, SourceError};
use reqwest::Method;
use serde_json::{Value, json};

use super::address::check_api_path;
use super::http::Client;
use super::token_file::{self, ValueKind};
use super::{Failure, VaultAuth, VaultSource};

pub(super) struct Token {
    value: SecretString,
    obtained: Instant,
    ttl: Option<Duration>,
    renewable: bool,
}

impl Token {
    fn from_auth(value: SecretString, auth: &Value) -> Self {
        Token {
            value,
            obtained: Instant::now(),
            ttl: auth["lease_duration"]
                .as_u64()
                .or_else(|| auth["ttl"].as_u64())
                .map(Duration::from_secs)
                .filter(|t| !t.is_zero()),
            renewable: auth["renewable"].as_bool().unwrap_or(false),
        }
    }
}

impl VaultSource {
    /// A current token: renewed when a third of its life is left, a new login when it cannot be.
    pub(super) async fn token(&self, client: &Client) -> Result<SecretString, Failure> {
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
                let renewal = client
                    .call(
                        Method::POST,
                        "auth/token/renew-self",
                        Some(&token.value),
                        Some(json!({})),
                    )
                    .await;
                match renewal {
                    Ok(answer) => {
                        let value = token.value.clone();
                        *state = Some(Token::from_auth(value.clone(), &answer["auth"]));
                        return Ok(value);
                    }
                    Err(e) => {
                        tracing::warn!(reason = %e, "vault token renewal failed; logging in again");
                    }
                }
            }
        }
        let token = self.login(client).await?;
        let value = token.value.clone();
        *state = Some(token);
        Ok(value)
    }

    /// A value from a configured file, which must exist.
    fn required_file(
        &self,
        path: &std::path::Path,
        kind: ValueKind,
    ) -> Result<SecretString, SourceError> {
        token_file::from_file(path, kind, self.env.as_ref())?.ok_or_else(|| {
            SourceError::Misconfigured(format!(
                "the vault {} file {} does not exist",
                kind.what,
                path.display()
            ))
        })
    }

    /// `<PREFIX>_<suffix>` from the environment, which must be set.
    fn required_env(&self, suffix: &str, kind: ValueKind) -> Result<SecretString, SourceError> {
        let var = format!("{}_{suffix}", self.config.env_prefix);
        token_file::from_env(self.env.as_ref(), &var, kind)?.ok_or_else(|| {
            SourceError::Misconfigured(format!(
                "vault auth is approle, but {var} is not set and no file is configured"
            ))
        })
    }

    /// `VAULT_TOKEN`, else `~/.vault-token`, else `vault.token_file`.
    fn configured_token(
        &self,
        token_file: Option<&std::path::Path>,
    ) -> Result<SecretString, SourceError> {
        if let Some(token) =
            token_file::from_env(self.env.as_ref(), "VAULT_TOKEN", ValueKind::TOKEN)?
        {
            return Ok(token);
        }
        if let Some(home) = self.env.home_dir()
            && let Some(token) = token_file::from_file(
                &home.join(".vault-token"),
                ValueKind::TOKEN,
                self.env.as_ref(),
            )?
        {
            return Ok(token);
        }
        match token_file {
            Some(path) => self.required_file(path, ValueKind::TOKEN),
            None => Err(SourceError::Misconfigured(
                "vault auth is token, but VAULT_TOKEN is not set and there is no ~/.vault-token or vault.token_file".into(),
            )),
        }
    }

    async fn login(&self, client: &Client) -> Result<Token, Failure> {
        let (mount, body, what) = match &self.config.auth {
            VaultAuth::Token { token_file } => {
                let token = self.configured_token(token_file.as_deref())?;
                // Look the token up once to learn its TTL (and that it works).
                let answer = client
                    .call(Method::GET, "auth/token/lookup-self", Some(&token), None)
                    .await
                    .map_err(|e| self.fail(client, "token lookup (auth/token/lookup-self)", e))?;
                return Ok(Token::from_auth(token, &answer["data"]));
            }
            VaultAuth::AppRole {
                mount,
                role_id_file,
                secret_id_file,
            } => {
                let role_id = match role_id_file {
                    Some(path) => self.required_file(path, ValueKind::ROLE_ID)?,
                    None => self.required_env("VAULT_ROLE_ID", ValueKind::ROLE_ID)?,
                };
                let secret_id = match secret_id_file {
                    Some(path) => self.required_file(path, ValueKind::SECRET_ID)?,
                    None => self.required_env("VAULT_SECRET_ID", ValueKind::SECRET_ID)?,
                };
                (
                    mount,
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
                let jwt = self.required_file(jwt_file, ValueKind::JWT)?;
                (
                    mount,
                    json!({"role": role, "jwt": jwt.expose_secret()}),
                    "login",
                )
            }
        };
        let path = format!("auth/{mount}/login");
        check_api_path(&path).map_err(|e| {
            SourceError::Misconfigured(format!("the vault login path (from vault.auth_mount) {e}"))
        })?;
        let answer = client
            .call(Method::POST, &path, None, Some(body))
            .await
            .map_err(|e| self.fail(client, &format!("{what} at {path}"), e))?;
        let token = answer["auth"]["client_token"]
            .as_str()
            .ok_or_else(|| {
                SourceError::Other(format!(
                    "vault at {}: {path} returned no token",
                    client.address()
                ))
            })
            .and_then(|t| {
                token_file::validate(t, ValueKind::TOKEN).map_err(|e| {
                    SourceError::Other(format!(
                        "vault at {}: the token {path} returned {e}",
                        client.address()
                    ))
                })
            })?;
        Ok(Token::from_auth(token, &answer["auth"]))
    }
}
