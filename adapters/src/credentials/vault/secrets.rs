//! Reading the secret that holds the credential, and renewing and revoking its lease.

use domain::{Credential, ExposeSecret, Lease, Lookup, Renewal, SecretString, SourceError};
use reqwest::Method;
use serde::Serialize;
use serde::de::IgnoredAny;

use super::address::check_api_path;
use super::http::{CallError, Client};
use super::responses::{
    DbSecret, DynamicCredsResponse, KvV1Response, KvV2Response, LeaseRenewalResponse,
    StaticCredsResponse,
};
use super::{Failure, VaultSecret, VaultSource};

/// `sys/leases/renew`.
#[derive(Serialize)]
struct RenewLease<'a> {
    lease_id: &'a str,
    increment: u64,
}

/// `sys/leases/revoke`.
#[derive(Serialize)]
struct RevokeLease<'a> {
    lease_id: &'a str,
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
        let secret = match self.read_secret(&client, &path, &token).await {
            Ok(secret) => secret,
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
        let mut credential = Credential::new(secret.username, secret.password, "vault", origin);
        credential.lease = secret.lease.map(|terms| Lease {
            id: terms.id,
            duration: terms.duration,
            renewable: terms.renewable,
        });
        Ok(Lookup::Found(credential))
    }

    /// `GET path`, parsed as the configured kind of secret answers.
    async fn read_secret(
        &self,
        client: &Client,
        path: &str,
        token: &SecretString,
    ) -> Result<DbSecret, CallError> {
        let token = Some(token);
        let secret = match &self.config.secret {
            VaultSecret::Kv {
                version: 2,
                username_key,
                password_key,
                ..
            } => client
                .get::<KvV2Response>(path, token)
                .await?
                .credential(username_key, password_key),
            VaultSecret::Kv {
                username_key,
                password_key,
                ..
            } => client
                .get::<KvV1Response>(path, token)
                .await?
                .credential(username_key, password_key),
            VaultSecret::Dynamic { .. } => client
                .get::<DynamicCredsResponse>(path, token)
                .await?
                .credential(),
            VaultSecret::Static { .. } => client
                .get::<StaticCredsResponse>(path, token)
                .await?
                .credential(),
        };
        secret.map_err(CallError::Malformed)
    }

    pub(super) async fn renew_lease(&self, lease: &Lease) -> Result<Renewal, Failure> {
        let client = self.client()?;
        let token = self.token(&client).await?;
        let body = RenewLease {
            lease_id: lease.id.expose_secret(),
            increment: lease.duration.as_secs().max(1),
        };
        let answer: LeaseRenewalResponse = client
            .send(Method::PUT, "sys/leases/renew", Some(&token), &body)
            .await
            .map_err(|e| self.fail(&client, "lease renewal (sys/leases/renew)", e))?;
        Ok(answer.renewal())
    }

    pub(super) async fn revoke_lease(&self, lease: &Lease) -> Result<(), Failure> {
        let client = self.client()?;
        let token = self.token(&client).await?;
        let body = RevokeLease {
            lease_id: lease.id.expose_secret(),
        };
        client
            .send::<IgnoredAny>(Method::PUT, "sys/leases/revoke", Some(&token), &body)
            .await
            .map(|_| ())
            .map_err(|e| self.fail(&client, "lease revocation (sys/leases/revoke)", e))
    }
}
