//! One client connection: its first packet, the upstream login with the credential current
//! now, then the bytes relayed both ways until either side ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use domain::{Credential, ExposeSecret as _, TargetSpec};
use project_core::db::CredentialFeed;
use project_core::health::PROXY_UPSTREAM_SECONDS;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tracing::Instrument as _;

use super::cancel_keys::CancelKeys;
use super::client_auth::{self, AuthError, Verifier};
use super::counted::Counted;
use super::tls::TlsPolicy;
use super::upstream::{self, LoginError};
use super::wire::{self, Hello};

/// How long a client may take, from connecting, to be logged in: its startup packet, its
/// password, and the proxy's own login upstream (PostgreSQL's `authentication_timeout` is a
/// minute too). A client that says nothing, or a server that answers nothing, must not hold a
/// task forever.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long passing a cancel request on may take.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);
/// At most one new credential per this long on a client's behalf: a refusal a client can
/// cause (its own startup parameters) must not make a new Vault lease per connection.
const REFUSAL_ROTATION_SPACING: Duration = Duration::from_secs(10);

/// What every session shares: the target, its credential feed, the cancel keys handed out.
pub struct Shared {
    pub spec: TargetSpec,
    pub tls: TlsPolicy,
    feed: CredentialFeed,
    pub cancel_keys: Arc<CancelKeys>,
    /// When a session last asked for a new credential.
    last_replacement: std::sync::Mutex<Option<Instant>>,
    /// Set once the proxy stops: new logins are refused, cancel requests still pass.
    pub draining: AtomicBool,
}

impl Shared {
    pub fn new(spec: TargetSpec, tls: TlsPolicy, feed: CredentialFeed) -> Self {
        Self {
            spec,
            tls,
            feed,
            cancel_keys: Arc::new(CancelKeys::default()),
            last_replacement: std::sync::Mutex::new(None),
            draining: AtomicBool::new(false),
        }
    }

    fn current(&self) -> Option<Credential> {
        self.feed.clone().current()
    }

    /// Whether this session may ask for a new credential now (and, if so, it has).
    fn may_replace(&self) -> bool {
        let mut last = self
            .last_replacement
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < REFUSAL_ROTATION_SPACING) {
            return false;
        }
        *last = Some(now);
        true
    }
}

/// Serves one client until it or the server ends the session; `verifier` when the client
/// must prove the proxy's client password (the TCP listener).
pub async fn serve<S>(client: S, shared: Arc<Shared>, id: u64, verifier: Option<Arc<Verifier>>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut client = Counted::new(client, &shared.spec.identity.name);
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
    let deadline = Instant::now() + LOGIN_TIMEOUT;
    let login = tokio::time::timeout_at(deadline, log_client_in(client, shared, verifier)).await;
    let Some((mut server, _key)) = (match login {
        Ok(result) => result?,
        Err(_) => {
            let _ = client
                .write_all(&wire::fatal("08006", "the login took longer than a minute"))
                .await;
            anyhow::bail!("the login took longer than {LOGIN_TIMEOUT:?}");
        }
    }) else {
        return Ok(());
    };
    // `_key` stays in the cancel table while the session lasts.
    tokio::io::copy_bidirectional(client, server.as_mut()).await?;
    Ok(())
}

/// Everything up to the relay: the client's first packet (a cancel request ends here), its
/// password on TCP, the checks, the upstream login, and what the client is told of it.
async fn log_client_in<S>(
    client: &mut S,
    shared: &Shared,
    verifier: Option<&Verifier>,
) -> anyhow::Result<
    Option<(
        Box<dyn upstream::Stream>,
        Option<super::cancel_keys::IssuedKey>,
    )>,
>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let parameters = match wire::read_hello(client).await? {
        Hello::Cancel {
            process_id,
            secret_key,
        } => {
            if let Some(server) = shared.cancel_keys.server_key(process_id, secret_key) {
                tracing::info!("passing a cancel request on");
                tokio::time::timeout(
                    CANCEL_TIMEOUT,
                    upstream::cancel(&shared.spec.identity, &shared.tls, server),
                )
                .await
                .map_err(|_| anyhow::anyhow!("the server did not take the cancel request"))??;
            }
            return Ok(None);
        }
        Hello::Startup(parameters) => parameters,
    };
    if shared.draining.load(Ordering::SeqCst) {
        client
            .write_all(&wire::fatal("57P03", "the proxy is shutting down"))
            .await?;
        return Ok(None);
    }
    // The password first: nothing about the target is told to a client that has not proven it.
    if let Some(verifier) = verifier {
        match client_auth::authenticate(client, verifier).await {
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
    let forwarded = match checked_parameters(parameters, &shared.spec) {
        Ok(forwarded) => forwarded,
        Err((code, message)) => {
            client.write_all(&wire::fatal(code, &message)).await?;
            return Ok(None);
        }
    };
    let (server, login, user) = match log_in(shared, &forwarded).await {
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
    // The order the server used: NegotiateProtocolVersion before AuthenticationOk, then
    // ParameterStatus and notices, BackendKeyData, ReadyForQuery.
    for frame in &login.before_ok {
        client.write_all(frame).await?;
    }
    client.write_all(&wire::authentication_ok()).await?;
    for frame in &login.said {
        client.write_all(frame).await?;
    }
    let key = login.key.map(|server| shared.cancel_keys.issue(server));
    if let Some(issued) = &key {
        client
            .write_all(&wire::backend_key_data(issued.key.0, issued.key.1))
            .await?;
    }
    client.write_all(&login.ready).await?;
    tracing::debug!(user = %user, "session logged in");
    Ok(Some((server, key)))
}

/// The client's startup parameters as they go upstream: its own (application_name, options,
/// …) with the target's user and database; `Err` with a SQLSTATE and message to refuse it.
fn checked_parameters(
    parameters: Vec<(String, String)>,
    spec: &TargetSpec,
) -> Result<Vec<(String, String)>, (&'static str, String)> {
    let database = spec.identity.database.clone().unwrap_or_default();
    for (name, value) in &parameters {
        match name.as_str() {
            // A walsender is tied to no database (a physical one reads the whole cluster), and
            // the server matches it against other pg_hba lines: not what a target serves.
            "replication" => {
                return Err((
                    "28000",
                    "the proxy does not serve replication connections".into(),
                ));
            }
            "database" if !value.is_empty() && *value != database => {
                return Err((
                    "3D000",
                    format!("this proxy serves database \"{database}\" only, not \"{value}\""),
                ));
            }
            _ => {}
        }
    }
    let mut forwarded: Vec<(String, String)> = parameters
        .into_iter()
        .filter(|(k, _)| k != "user" && k != "database")
        .collect();
    forwarded.push(("database".into(), database));
    Ok(forwarded)
}

enum Failure {
    /// The server's own refusal, to pass on as it is.
    Refused(super::wire::Frame),
    Other(anyhow::Error),
}

/// Connects and logs in with the credential current now. When the server refuses it (a
/// wrong password, a role Vault has dropped), the login is tried once more: with the
/// credential current by then if it has changed meanwhile, else with a new one asked for —
/// once, shared with every session that saw the same refusal, and not more often than
/// [`REFUSAL_ROTATION_SPACING`]. Nothing has been sent to the client yet, so it sees only a
/// slower login.
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
        let password = credential.as_ref().map(|c| &c.password);
        let started = Instant::now();
        let opened = upstream::open(identity, &shared.tls, &user, password, parameters).await;
        metrics::histogram!(PROXY_UPSTREAM_SECONDS, "target" => identity.name.clone())
            .record(started.elapsed());
        match opened {
            Ok((server, login)) => return Ok((server, login, user)),
            Err(LoginError::Refused(frame)) if !retried && refuses_credential(&frame.body) => {
                retried = true;
                if same_credential(credential.as_ref(), shared.current().as_ref()) {
                    if !shared.may_replace() {
                        return Err(Failure::Refused(frame));
                    }
                    tracing::warn!(reason = %wire::error_message(&frame.body), "the server refused the credential; resolving a new one");
                    if let Err(reason) = shared.feed.replace().await {
                        tracing::warn!(%reason, "no new credential");
                        return Err(Failure::Refused(frame));
                    }
                }
            }
            Err(LoginError::Refused(frame)) => return Err(Failure::Refused(frame)),
            Err(error) => return Err(Failure::Other(error.into())),
        }
    }
}

fn same_credential(a: Option<&Credential>, b: Option<&Credential>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a.username == b.username && a.password.expose_secret() == b.password.expose_secret()
        }
        (None, None) => true,
        _ => false,
    }
}

/// 28P01 (wrong password) and 28000 (no such role, or not allowed to log in).
fn refuses_credential(error: &[u8]) -> bool {
    error
        .split(|b| *b == 0)
        .any(|field| field == b"C28P01" || field == b"C28000")
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{TargetIdentity, TargetOptions};

    fn spec() -> TargetSpec {
        TargetSpec {
            identity: TargetIdentity {
                name: "t".into(),
                kind: domain::DbKind::Postgres,
                host: None,
                port: None,
                database: Some("app".into()),
                user: Some("app".into()),
            },
            path: None,
            options: TargetOptions::default(),
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn the_targets_user_and_database_replace_the_clients_and_the_rest_goes_on() {
        let forwarded = checked_parameters(
            params(&[
                ("user", "root"),
                ("database", "app"),
                ("application_name", "psql"),
                ("options", "-c work_mem=8MB"),
            ]),
            &spec(),
        )
        .unwrap();
        assert_eq!(
            forwarded,
            params(&[
                ("application_name", "psql"),
                ("options", "-c work_mem=8MB"),
                ("database", "app")
            ])
        );
        assert!(
            checked_parameters(params(&[("database", "")]), &spec()).is_ok(),
            "no database: the target's"
        );
    }

    #[test]
    fn another_database_a_repeated_one_and_replication_are_refused() {
        let refused =
            |pairs: &[(&str, &str)]| checked_parameters(params(pairs), &spec()).unwrap_err();
        assert_eq!(refused(&[("database", "postgres")]).0, "3D000");
        assert_eq!(refused(&[("database", "APP")]).0, "3D000");
        assert_eq!(
            refused(&[("database", "app"), ("database", "postgres")]).0,
            "3D000"
        );
        let (code, message) = refused(&[("database", "app"), ("replication", "true")]);
        assert_eq!(code, "28000");
        assert_eq!(message, "the proxy does not serve replication connections");
        assert_eq!(refused(&[("replication", "database")]).0, "28000");
    }

    #[tokio::test]
    async fn sessions_ask_for_a_new_credential_at_most_once_per_spacing() {
        let tls =
            TlsPolicy::for_target(&spec().identity, None, &domain::TlsFiles::default()).unwrap();
        let shared = Shared::new(spec(), tls, project_core::db::CredentialFeed::none());
        assert!(shared.may_replace());
        assert!(!shared.may_replace());
        let earlier = Instant::now()
            .checked_sub(REFUSAL_ROTATION_SPACING)
            .unwrap();
        *shared.last_replacement.lock().unwrap() = Some(earlier);
        assert!(shared.may_replace());
    }

    #[test]
    fn only_credential_refusals_count() {
        assert!(refuses_credential(
            b"SFATAL\0C28P01\0Mpassword authentication failed\0\0"
        ));
        assert!(refuses_credential(
            b"SFATAL\0C28000\0Mrole does not exist\0\0"
        ));
        assert!(!refuses_credential(
            b"SFATAL\0C3D000\0Mno such database\0\0"
        ));
        assert!(!refuses_credential(b"SFATAL\0MC28P01 in a message\0\0"));
    }
}
