//! Reading the secret that holds the credential, and renewing and revoking its lease.

use std::time::{Duration, Instant};

use domain::{Credential, ExposeSecret, Lease, Lookup, Renewal, SecretString, SourceError};
use reqwest::Method;
use serde_json::{Value, json};

use super::address::check_api_path;
use super::http::CallError;
use super::{Failure, VaultSecret, VaultSource};

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(|v| v.as_str()).map(str::to_owned)
}

impl VaultSource {
    /// Reads the secret and turns it into a credential; 404 is "not here".
    pub(super) async fn read_credential(&self) -> Result<Lookup, Failure> {
        let client = self.client()?;
        let path = self.config.secret.path();
        check_api_path(&path).map_err(|e| {
            SourceError::Misconfigured(format!(
                "the vault secret path (from vault.kv or vault.database) {e}"
            ))
        })?;
        let token = self.token(&client).await?;
        let answer = match client.call(Method::GET, &path, Some(&token), None).await {
            Ok(answer) => answer,
            Err(CallError::Status(404, _)) => {
                return Ok(Lookup::not_found(format!(
                    "vault at {} has nothing at {path}",
                    client.address()
                )));
            }
            Err(e) => return Err(self.fail(&client, &format!("read of {path}"), e)),
        };
        let origin = format!(
            "vault {} {path} (auth {})",
            client.address(),
            self.config.auth.method()
        );
        let malformed = |what: &str| {
            Failure::Hard(SourceError::Other(format!(
                "vault at {}: {path} has no {what}",
                client.address()
            )))
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

    pub(super) async fn renew_lease(&self, lease: &Lease) -> Result<Renewal, Failure> {
        let client = self.client()?;
        let token = self.token(&client).await?;
        let increment = lease.duration.as_secs().max(1);
        let answer = client
            .call(
                Method::PUT,
                "sys/leases/renew",
                Some(&token),
                Some(json!({"lease_id": lease.id.expose_secret(), "increment": increment})),
            )
            .await
            .map_err(|e| self.fail(&client, "lease renewal (sys/leases/renew)", e))?;
        Ok(Renewal {
            duration: Duration::from_secs(answer["lease_duration"].as_u64().unwrap_or(0)),
            renewable: answer["renewable"].as_bool().unwrap_or(false),
        })
    }

    pub(super) async fn revoke_lease(&self, lease: &Lease) -> Result<(), Failure> {
        let client = self.client()?;
        let token = self.token(&client).await?;
        client
            .call(
                Method::PUT,
                "sys/leases/revoke",
                Some(&token),
                Some(json!({"lease_id": lease.id.expose_secret()})),
            )
            .await
            .map(|_| ())
            .map_err(|e| self.fail(&client, "lease revocation (sys/leases/revoke)", e))
    }
}
