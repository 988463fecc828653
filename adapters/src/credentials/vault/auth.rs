//! Logging in: a token from the environment or a file, or a login (AppRole, Kubernetes, JWT)
//! with ids read and checked by [`super::token_file`]; the token kept and renewed.

use std::time::Instant;

use domain::{ExposeSecret, SecretString, SourceError};
use reqwest::Method;
use serde::Serialize;

use super::address::check_api_path;
use super::http::{CallError, Client};
use super::responses::{AuthResponse, LookupSelfResponse, TokenLife};
use super::token_file::{self, ValueKind};
use super::{Failure, VaultAuth, VaultSource};

pub(super) struct Token {
    value: SecretString,
    obtained: Instant,
    life: TokenLife,
}

impl Token {
    fn new(value: SecretString, life: TokenLife) -> Self {
        Token {
            value,
            obtained: Instant::now(),
            life,
        }
    }

    /// Less than a third of its life is gone (a token without a TTL is always fresh).
    fn is_fresh(&self) -> bool {
        match self.life.ttl {
            None => true,
            Some(ttl) => self.obtained.elapsed() < ttl * 2 / 3,
        }
    }
}

/// `auth/<mount>/login` for AppRole.
#[derive(Serialize)]
struct AppRoleLogin<'a> {
    role_id: &'a str,
    secret_id: &'a str,
}

/// `auth/<mount>/login` for Kubernetes and JWT.
#[derive(Serialize)]
struct JwtLogin<'a> {
    role: &'a str,
    jwt: &'a str,
}

/// `auth/token/renew-self` takes an empty object.
#[derive(Serialize)]
struct NoBody {}

impl VaultSource {
    /// A current token: renewed when a third of its life is left, a new login when it cannot be.
    pub(super) async fn token(&self, client: &Client) -> Result<SecretString, Failure> {
        let mut state = self.token.lock().await;
        if let Some(token) = state.as_mut() {
            if token.is_fresh() {
                return Ok(token.value.clone());
            }
            if token.life.renewable {
                match renew(client, &token.value).await {
                    Ok(life) => {
                        *token = Token::new(token.value.clone(), life);
                        return Ok(token.value.clone());
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
        match &self.config.auth {
            VaultAuth::Token { token_file } => {
                let token = self.configured_token(token_file.as_deref())?;
                self.look_up(client, token).await
            }
            VaultAuth::AppRole {
                mount,
                role_id_file,
                secret_id_file,
            } => {
                let (role_id, secret_id) =
                    self.approle_ids(role_id_file.as_deref(), secret_id_file.as_deref())?;
                let body = AppRoleLogin {
                    role_id: role_id.expose_secret(),
                    secret_id: secret_id.expose_secret(),
                };
                self.log_in(client, mount, "approle login", &body).await
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
                let body = JwtLogin {
                    role,
                    jwt: jwt.expose_secret(),
                };
                self.log_in(client, mount, "login", &body).await
            }
        }
    }

    /// A configured token, looked up once to learn its TTL (and that it works).
    async fn look_up(&self, client: &Client, token: SecretString) -> Result<Token, Failure> {
        let answer: LookupSelfResponse =
            client
                .get("auth/token/lookup-self", Some(&token))
                .await
                .map_err(|e| self.fail(client, "token lookup (auth/token/lookup-self)", e))?;
        Ok(Token::new(token, answer.life()))
    }

    /// The AppRole role id and secret id, each from its file when one is configured, else
    /// from the environment.
    fn approle_ids(
        &self,
        role_id_file: Option<&std::path::Path>,
        secret_id_file: Option<&std::path::Path>,
    ) -> Result<(SecretString, SecretString), SourceError> {
        let role_id = match role_id_file {
            Some(path) => self.required_file(path, ValueKind::ROLE_ID)?,
            None => self.required_env("VAULT_ROLE_ID", ValueKind::ROLE_ID)?,
        };
        let secret_id = match secret_id_file {
            Some(path) => self.required_file(path, ValueKind::SECRET_ID)?,
            None => self.required_env("VAULT_SECRET_ID", ValueKind::SECRET_ID)?,
        };
        Ok((role_id, secret_id))
    }

    /// `POST auth/<mount>/login` with `body`; the answer's token is checked before it is kept.
    async fn log_in(
        &self,
        client: &Client,
        mount: &str,
        what: &str,
        body: &impl Serialize,
    ) -> Result<Token, Failure> {
        let path = format!("auth/{mount}/login");
        check_api_path(&path).map_err(|e| {
            SourceError::Misconfigured(format!("the vault login path (from vault.auth_mount) {e}"))
        })?;
        let what = format!("{what} at {path}");
        let (token, life) = client
            .send::<AuthResponse>(Method::POST, &path, None, body)
            .await
            .and_then(|answer| answer.login().map_err(CallError::Malformed))
            .map_err(|e| self.fail(client, &what, e))?;
        Ok(Token::new(token, life))
    }
}

/// `auth/token/renew-self`: the token's new life.
async fn renew(client: &Client, token: &SecretString) -> Result<TokenLife, CallError> {
    client
        .send::<AuthResponse>(
            Method::POST,
            "auth/token/renew-self",
            Some(token),
            &NoBody {},
        )
        .await?
        .renewed()
        .map_err(CallError::Malformed)
}
