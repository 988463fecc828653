//! One client connection: its first packet, the upstream login with the credential current
//! now, then the bytes relayed both ways until either side ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::{Credential, TargetSpec};
use project_core::db::CredentialFeed;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tracing::Instrument as _;

use super::client_auth::{self, AuthError, Verifier};
use super::upstream::{self, LoginError};
use super::wire::{self, Hello};

/// How long a client may take to send its startup packet and prove its password (PostgreSQL's
/// `authentication_timeout` is a minute too): a client that opens a connection and says
/// nothing must not hold a task forever.
const LOGIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What every session shares: the target, its credential feed, and the cancel keys handed
/// out (ours → the server's).
pub struct Shared {
    pub spec: TargetSpec,
    feed: CredentialFeed,
    cancel_keys: Mutex<HashMap<(i32, i32), (i32, i32)>>,
}

impl Shared {
    pub fn new(spec: TargetSpec, feed: CredentialFeed) -> Self {
        Self {
            spec,
            feed,
            cancel_keys: Mutex::new(HashMap::new()),
        }
    }

    fn current(&self) -> Option<Credential> {
        self.feed.clone().current()
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<(i32, i32), (i32, i32)>> {
        self.cancel_keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A key of ours for the server's: unguessable, unique among open sessions.
    fn issue_key(&self, server: (i32, i32)) -> (i32, i32) {
        let mut keys = self.keys();
        loop {
            let ours = (rand::random::<i32>() & i32::MAX, rand::random::<i32>());
            if let std::collections::hash_map::Entry::Vacant(slot) = keys.entry(ours) {
                slot.insert(server);
                return ours;
            }
        }
    }
}

/// Serves one client until it or the server ends the session; `verifier` when the client
/// must prove the proxy's client password (the TCP listener).
pub async fn serve<S>(mut client: S, shared: Arc<Shared>, id: u64, verifier: Option<Arc<Verifier>>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let span = tracing::info_span!("session", id);
    async move {
        match run(&mut client, &shared, verifier.as_deref()).await {
            Ok(()) => tracing::debug!("session ended"),
            Err(error) => tracing::info!(%error, "session ended"),
        }
    }
    .instrument(span)
    .await;
}

async fn run<S>(client: &mut S, shared: &Shared, verifier: Option<&Verifier>) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let hello = tokio::time::timeout(LOGIN_TIMEOUT, wire::read_hello(client))
        .await
        .map_err(|_| anyhow::anyhow!("no startup packet within {LOGIN_TIMEOUT:?}"))??;
    let parameters = match hello {
        Hello::Cancel {
            process_id,
            secret_key,
        } => {
            let server = shared.keys().get(&(process_id, secret_key)).copied();
            if let Some(server) = server {
                tracing::info!("passing a cancel request on");
                upstream::cancel(&shared.spec.identity, server).await?;
            }
            return Ok(());
        }
        Hello::Startup(parameters) => parameters,
    };
    // The password first: nothing about the target is told to a client that has not proven it.
    if let Some(verifier) = verifier {
        let proven =
            tokio::time::timeout(LOGIN_TIMEOUT, client_auth::authenticate(client, verifier))
                .await
                .map_err(|_| anyhow::anyhow!("no password within {LOGIN_TIMEOUT:?}"))?;
        match proven {
            Ok(()) => {}
            Err(AuthError::WrongPassword) => {
                let user = parameters
                    .iter()
                    .find(|(k, _)| k == "user")
                    .map_or("", |(_, v)| v.as_str());
                let message = format!("password authentication failed for user \"{user}\"");
                client.write_all(&wire::fatal("28P01", &message)).await?;
                anyhow::bail!("a client gave a wrong password");
            }
            Err(error) => {
                client
                    .write_all(&wire::fatal("08P01", &error.to_string()))
                    .await?;
                return Err(error.into());
            }
        }
    }
    let identity = &shared.spec.identity;
    let database = identity.database.clone().unwrap_or_default();
    if let Some((_, asked)) = parameters.iter().find(|(k, _)| k == "database")
        && !asked.is_empty()
        && *asked != database
    {
        let message = format!("this proxy serves database \"{database}\" only, not \"{asked}\"");
        client.write_all(&wire::fatal("3D000", &message)).await?;
        return Ok(());
    }
    // The client's own parameters go on (application_name, options, …); who and which
    // database are the target's.
    let mut forwarded: Vec<(String, String)> = parameters
        .into_iter()
        .filter(|(k, _)| k != "user" && k != "database")
        .collect();
    forwarded.push(("database".into(), database));
    let (mut server, login, user) = match log_in(shared, &forwarded).await {
        Ok(logged_in) => logged_in,
        Err(Failure::Refused(frame)) => {
            client.write_all(&frame.encode()).await?;
            anyhow::bail!(
                "the server refused the login: {}",
                wire::error_message(&frame.body)
            );
        }
        Err(Failure::Other(error)) => {
            let message = format!("the proxy could not log in to the server: {error}");
            client.write_all(&wire::fatal("08006", &message)).await?;
            return Err(error);
        }
    };
    client.write_all(&wire::authentication_ok()).await?;
    for frame in &login.said {
        client.write_all(frame).await?;
    }
    let ours = login.key.map(|server| shared.issue_key(server));
    if let Some((process_id, secret_key)) = ours {
        client
            .write_all(&wire::backend_key_data(process_id, secret_key))
            .await?;
    }
    client.write_all(&login.ready).await?;
    tracing::debug!(user = %user, "session logged in");
    let relayed = tokio::io::copy_bidirectional(client, server.as_mut()).await;
    if let Some(ours) = ours {
        shared.keys().remove(&ours);
    }
    relayed?;
    Ok(())
}

enum Failure {
    /// The server's own refusal, to pass on as it is.
    Refused(super::wire::Frame),
    Other(anyhow::Error),
}

/// Connects and logs in with the credential current now. When the server refuses it (a
/// wrong password, a role Vault has dropped), a new credential is asked for — once, shared
/// with every session that saw the same refusal — and the login is tried once more; nothing
/// has been sent to the client yet, so it sees only a slower login.
async fn log_in(
    shared: &Shared,
    parameters: &[(String, String)],
) -> Result<(Box<dyn upstream::Stream>, upstream::Login, String), Failure> {
    let identity = &shared.spec.identity;
    let mut retried = false;
    loop {
        let credential = shared.current();
        let user = credential
            .as_ref()
            .and_then(|c| c.username.clone())
            .or_else(|| identity.user.clone())
            .unwrap_or_default();
        let mut server = upstream::connect(identity)
            .await
            .map_err(|e| Failure::Other(anyhow::anyhow!("cannot reach the server: {e}")))?;
        let password = credential.as_ref().map(|c| &c.password);
        match upstream::login(server.as_mut(), &user, password, parameters).await {
            Ok(login) => return Ok((server, login, user)),
            Err(LoginError::Refused(frame)) if !retried && refuses_credential(&frame.body) => {
                tracing::warn!(reason = %wire::error_message(&frame.body), "the server refused the credential; resolving a new one");
                if let Err(reason) = shared.feed.replace().await {
                    tracing::warn!(%reason, "no new credential");
                    return Err(Failure::Refused(frame));
                }
                retried = true;
            }
            Err(LoginError::Refused(frame)) => return Err(Failure::Refused(frame)),
            Err(error) => return Err(Failure::Other(error.into())),
        }
    }
}

/// 28P01 (wrong password) and 28000 (no such role, or not allowed to log in).
fn refuses_credential(error: &[u8]) -> bool {
    error
        .split(|b| *b == 0)
        .any(|field| field == b"C28P01" || field == b"C28000")
}
