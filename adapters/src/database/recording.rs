//! `RecordingTarget`: a `ConnectionTarget` with no server, for unit tests of the orchestration
//! (resolve, connect, swap a credential in, re-resolve when a password is refused). It accepts
//! the passwords it is told to, records every call in order, and can refuse the next queries
//! as a server refuses a changed password.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use domain::{
    ConnectError, ConnectErrorKind, ConnectionTarget, Credential, ExposeSecret, Metadata,
    SecretString, ServerInfo, TargetIdentity,
};

/// One call the target saw.
#[derive(Clone)]
pub enum Call {
    Connect { password: Option<SecretString> },
    Install { password: SecretString },
    Ping,
    Fingerprint,
    Reflect,
    Close,
}

impl Call {
    /// The call's name and, for tests to compare, the password it carried.
    pub fn shown(&self) -> String {
        match self {
            Call::Connect { password: None } => "connect without a password".into(),
            Call::Connect { password: Some(p) } => format!("connect {}", p.expose_secret()),
            Call::Install { password } => format!("install {}", password.expose_secret()),
            Call::Ping => "ping".into(),
            Call::Fingerprint => "fingerprint".into(),
            Call::Reflect => "reflect".into(),
            Call::Close => "close".into(),
        }
    }
}

impl std::fmt::Debug for Call {
    // The names only: even a test's passwords stay out of Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Call::Connect { .. } => "Connect",
            Call::Install { .. } => "Install",
            Call::Ping => "Ping",
            Call::Fingerprint => "Fingerprint",
            Call::Reflect => "Reflect",
            Call::Close => "Close",
        };
        f.write_str(name)
    }
}

/// A pool of the recording target: which connect made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedPool(pub usize);

/// A query the recording target failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordedQueryError {
    #[error("password authentication failed")]
    PasswordRefused,
    /// Any other failure (a syntax error, a lost connection): never a reason to re-resolve.
    #[error("the query failed")]
    Other,
}

pub struct RecordingTarget {
    identity: TargetIdentity,
    accepted: Mutex<Vec<String>>,
    refusals: AtomicUsize,
    calls: Mutex<Vec<Call>>,
    fingerprint: Mutex<String>,
    sessions: Mutex<Option<u64>>,
}

impl std::fmt::Debug for RecordingTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingTarget")
            .field("target", &self.identity.name)
            .field("calls", &self.lock_calls().len())
            .finish_non_exhaustive()
    }
}

impl RecordingTarget {
    /// A target whose server accepts exactly `passwords`.
    pub fn accepting(identity: TargetIdentity, passwords: &[&str]) -> Self {
        Self {
            identity,
            accepted: Mutex::new(passwords.iter().map(|p| (*p).to_owned()).collect()),
            refusals: AtomicUsize::new(0),
            calls: Mutex::new(Vec::new()),
            fingerprint: Mutex::new("schema-1".into()),
            sessions: Mutex::new(None),
        }
    }

    /// From now on the server accepts only `passwords` (a rotated or revoked credential).
    pub fn accept_only(&self, passwords: &[&str]) {
        *self.accepted.lock().unwrap_or_else(|p| p.into_inner()) =
            passwords.iter().map(|p| (*p).to_owned()).collect();
    }

    /// The next `n` queries fail as a refused password.
    pub fn refuse_next_queries(&self, n: usize) {
        self.refusals.store(n, Ordering::SeqCst);
    }

    /// The schema changes: the next fingerprint differs.
    pub fn change_schema(&self, fingerprint: &str) {
        *self.fingerprint.lock().unwrap_or_else(|p| p.into_inner()) = fingerprint.to_owned();
    }

    /// What `sessions_of` answers from now on (`None`: the server cannot tell).
    pub fn set_sessions(&self, sessions: Option<u64>) {
        *self.sessions.lock().unwrap_or_else(|p| p.into_inner()) = sessions;
    }

    /// Every call so far, in order, as [`Call::shown`] spells them.
    pub fn calls(&self) -> Vec<String> {
        self.lock_calls().iter().map(Call::shown).collect()
    }

    /// A query against the target: fails while refusals are scripted.
    pub fn query(&self) -> Result<(), RecordedQueryError> {
        let refuse = self
            .refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refuse {
            Err(RecordedQueryError::PasswordRefused)
        } else {
            Ok(())
        }
    }

    fn lock_calls(&self) -> std::sync::MutexGuard<'_, Vec<Call>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, call: Call) -> usize {
        let mut calls = self.lock_calls();
        calls.push(call);
        calls.len()
    }

    fn check(&self, password: Option<&str>) -> Result<(), ConnectError> {
        let accepted = self.accepted.lock().unwrap_or_else(|p| p.into_inner());
        if password.is_some_and(|p| accepted.iter().any(|a| a == p)) {
            return Ok(());
        }
        Err(ConnectError {
            kind: ConnectErrorKind::AuthenticationFailed,
            address: "recording".into(),
            user: self.identity.user.clone().unwrap_or_default(),
            detail: "password authentication failed".into(),
            hint: None,
        })
    }
}

#[async_trait]
impl ConnectionTarget for RecordingTarget {
    type Pool = RecordedPool;
    type QueryError = RecordedQueryError;

    fn identity(&self) -> &TargetIdentity {
        &self.identity
    }

    async fn connect(&self, credential: Option<&Credential>) -> Result<RecordedPool, ConnectError> {
        let password = credential.map(|c| c.password.clone());
        let n = self.record(Call::Connect {
            password: password.clone(),
        });
        self.check(password.as_ref().map(|p| p.expose_secret()))?;
        Ok(RecordedPool(n))
    }

    async fn install(&self, _: &RecordedPool, credential: &Credential) -> Result<(), ConnectError> {
        self.record(Call::Install {
            password: credential.password.clone(),
        });
        self.check(Some(credential.password.expose_secret()))
    }

    async fn ping(&self, _: &RecordedPool) -> Result<ServerInfo, ConnectError> {
        self.record(Call::Ping);
        Ok(ServerInfo {
            version: "recording".into(),
            current_user: self.identity.user.clone().unwrap_or_default(),
            database: self.identity.database.clone().unwrap_or_default(),
            answered_by: None,
            standby: None,
        })
    }

    async fn fingerprint(
        &self,
        _: &RecordedPool,
        _: &[String],
    ) -> Result<String, RecordedQueryError> {
        self.record(Call::Fingerprint);
        self.query()?;
        Ok(self
            .fingerprint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    async fn reflect(
        &self,
        _: &RecordedPool,
        _: &[String],
    ) -> Result<Metadata, RecordedQueryError> {
        self.record(Call::Reflect);
        self.query()?;
        Ok(Metadata::default())
    }

    async fn sessions_of(&self, _: &RecordedPool, _username: &str) -> Option<u64> {
        *self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refused_password(&self, error: &RecordedQueryError) -> bool {
        matches!(error, RecordedQueryError::PasswordRefused)
    }

    async fn close(&self, _: &RecordedPool) {
        self.record(Call::Close);
    }
}
