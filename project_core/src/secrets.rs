//! Secrets a user manages for a target: the OS keyring entry behind `dbcore secret`.

use adapters::credentials::keyring::{KeyringAccount, open_store, service_for};

use crate::context::Context;
use crate::error::DbError;
use crate::registry;

/// Why a target's keyring entry cannot be reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    #[error(transparent)]
    Target(#[from] DbError),
    #[error("target `{0}` has no user, and keyring entries are per user; set `user`")]
    NoUser(String),
    #[error("target `{target}`: the keyring is unavailable: {reason}")]
    Unavailable { target: String, reason: String },
}

/// The keyring account of a target: its store (as `keyring.store` chooses), service and user.
pub async fn keyring_account(
    target: &str,
    context: &Context,
) -> Result<KeyringAccount, SecretError> {
    let settings = registry::settings(target, context)?;
    let user = settings
        .identity()
        .user
        .filter(|u| !u.is_empty())
        .ok_or_else(|| SecretError::NoUser(target.to_owned()))?;
    let service = service_for(target, settings.keyring_service());
    let choice = settings.keyring_store();
    let env = context.env().clone();
    let opened = tokio::task::spawn_blocking(move || open_store(choice, env.as_ref()))
        .await
        .map_err(|e| SecretError::Unavailable {
            target: target.to_owned(),
            reason: e.to_string(),
        })?
        .map_err(|reason| SecretError::Unavailable {
            target: target.to_owned(),
            reason,
        })?;
    Ok(KeyringAccount {
        store: opened,
        service,
        user,
    })
}
