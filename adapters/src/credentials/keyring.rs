//! `keyring`: the OS keyring, through `keyring-core` and its Linux stores.
//!
//! Contract:
//! - Entry: service `dbcore:<target>` (the target's `keyring.service` overrides it), account =
//!   the target's user.
//! - Store (`keyring.store`): `secret-service` (GNOME Keyring, KWallet … over the session
//!   D-Bus), `keyutils` (the Linux kernel keyring), or `auto`: Secret Service when a session
//!   bus answers, else keyutils. `dbcore explain` shows which store was used and why.
//! - keyutils: a process without a session keyring joins a new one before the first use, so
//!   that reads work; keys are also linked to the user's persistent keyring when the kernel
//!   has one. Kernel keys do not survive a reboot.
//! - Outcomes: no entry → "not here"; a locked keyring, no session bus, no Secret Service on
//!   the bus, or no usable kernel keyring → "unavailable" with the reason (the chain goes on);
//!   anything else (a store error, a password that is not UTF-8) → a hard error carrying the
//!   store's message, never the secret.
//! - Every store call blocks, so each runs on tokio's blocking pool.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use domain::{
    Credential, CredentialSource, Env, ExposeSecret, Lookup, SecretString, SourceError,
    TargetIdentity,
};
use keyring_core::{CredentialStore, Entry, Error as KeyringError};

/// Which store a target asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    Auto,
    SecretService,
    Keyutils,
}

impl StoreChoice {
    pub const ALLOWED: &'static str = "auto, secret-service, keyutils";

    /// The spelling in settings, the inverse of [`StoreChoice::parse`].
    pub fn as_str(self) -> &'static str {
        match self {
            StoreChoice::Auto => "auto",
            StoreChoice::SecretService => "secret-service",
            StoreChoice::Keyutils => "keyutils",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "auto" => Some(StoreChoice::Auto),
            "secret-service" => Some(StoreChoice::SecretService),
            "keyutils" => Some(StoreChoice::Keyutils),
            _ => None,
        }
    }
}

/// An opened store: the store, its name and why it was chosen.
#[derive(Clone)]
pub struct OpenedStore {
    pub store: Arc<CredentialStore>,
    /// `secret-service`, `keyutils` or `mock`.
    pub name: &'static str,
    /// Why this store: "asked for in keyring.store", "auto: a session bus answered", …
    pub why: String,
}

impl std::fmt::Debug for OpenedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedStore")
            .field("name", &self.name)
            .field("why", &self.why)
            .finish_non_exhaustive()
    }
}

/// Opens the store a target asks for. `Err` is the reason it is unavailable. Blocking.
pub fn open_store(choice: StoreChoice, env: &dyn Env) -> Result<OpenedStore, String> {
    match choice {
        StoreChoice::SecretService => open_secret_service(env).map(|store| OpenedStore {
            store,
            name: "secret-service",
            why: "keyring.store = secret-service".into(),
        }),
        StoreChoice::Keyutils => open_keyutils().map(|store| OpenedStore {
            store,
            name: "keyutils",
            why: "keyring.store = keyutils".into(),
        }),
        StoreChoice::Auto => match open_secret_service(env) {
            Ok(store) => Ok(OpenedStore {
                store,
                name: "secret-service",
                why: "auto: a Secret Service answered on the session bus".into(),
            }),
            Err(no_bus) => open_keyutils()
                .map(|store| OpenedStore {
                    store,
                    name: "keyutils",
                    why: format!("auto: {no_bus}, so the kernel keyring"),
                })
                .map_err(|no_keyutils| format!("{no_bus}; and {no_keyutils}")),
        },
    }
}

fn open_secret_service(env: &dyn Env) -> Result<Arc<CredentialStore>, String> {
    if env.non_empty("DBUS_SESSION_BUS_ADDRESS").is_none() {
        return Err("no session bus (DBUS_SESSION_BUS_ADDRESS is not set)".into());
    }
    let store = zbus_secret_service_keyring_store::Store::new()
        .map_err(|e| format!("no session bus answered: {e}"))?;
    // The bus may answer without a Secret Service on it: ask once to find out now.
    let probe = Entry::new_in_store(
        &(store.clone() as Arc<CredentialStore>),
        "dbcore:probe",
        "probe",
    )
    .and_then(|entry| entry.get_password());
    match probe {
        Ok(_) | Err(KeyringError::NoEntry) | Err(KeyringError::NoStorageAccess(_)) => Ok(store),
        Err(e) => Err(format!("no Secret Service on the session bus: {e}")),
    }
}

/// Joins a new session keyring when the process has none (once per process).
fn open_keyutils() -> Result<Arc<CredentialStore>, String> {
    static JOINED: OnceLock<Result<(), String>> = OnceLock::new();
    JOINED
        .get_or_init(|| {
            linux_keyutils::KeyRing::from_special_id(
                linux_keyutils::KeyRingIdentifier::Session,
                true,
            )
            .map(|_| ())
            .map_err(|e| format!("no usable kernel session keyring: {e:?}"))
        })
        .clone()?;
    linux_keyutils_keyring_store::Store::new()
        .map(|store| store as Arc<CredentialStore>)
        .map_err(|e| format!("the kernel keyring store cannot be used: {e}"))
}

/// How a store error is classified.
fn classify(store: &OpenedStore, error: KeyringError) -> Result<Lookup, SourceError> {
    match error {
        KeyringError::NoEntry => Ok(Lookup::not_found(format!("no entry in {}", store.name))),
        KeyringError::NoStorageAccess(cause) => Ok(Lookup::unavailable(format!(
            "{} is locked or not accessible: {cause}",
            store.name
        ))),
        KeyringError::NoDefaultStore => Ok(Lookup::unavailable("no keyring store")),
        KeyringError::PlatformFailure(cause) if looks_unreachable(&cause.to_string()) => Ok(
            Lookup::unavailable(format!("{} cannot be reached: {cause}", store.name)),
        ),
        KeyringError::BadEncoding(_) => Err(SourceError::Other(format!(
            "the {} entry holds a password that is not UTF-8",
            store.name
        ))),
        KeyringError::BadDataFormat(_, cause) => Err(SourceError::Other(format!(
            "the {} entry is not in the expected format: {cause}",
            store.name
        ))),
        other => Err(SourceError::Other(format!(
            "{}: {}",
            store.name,
            describe(&other)
        ))),
    }
}

/// A store error as text without any attached bytes (which could hold a secret).
fn describe(error: &KeyringError) -> String {
    match error {
        KeyringError::BadEncoding(_) => "the stored password is not UTF-8".into(),
        KeyringError::BadDataFormat(_, cause) => format!("bad data format: {cause}"),
        other => other.to_string(),
    }
}

fn looks_unreachable(message: &str) -> bool {
    [
        "ServiceUnknown",
        "NameHasNoOwner",
        "connection",
        "Connection",
        "No such file",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

/// The keyring source. See the module documentation for its contract.
pub struct KeyringSource {
    service: Option<String>,
    choice: StoreChoice,
    env: Arc<dyn Env>,
    /// A store given directly (tests use the mock store).
    fixed: Option<OpenedStore>,
}

impl std::fmt::Debug for KeyringSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringSource")
            .field("service", &self.service)
            .field("choice", &self.choice)
            .finish_non_exhaustive()
    }
}

/// The service name of a target's entry: `keyring.service`, else `dbcore:<target>`.
pub fn service_for(target: &str, configured: Option<&str>) -> String {
    configured.map_or_else(|| format!("dbcore:{target}"), str::to_owned)
}

impl KeyringSource {
    pub fn new(service: Option<String>, choice: StoreChoice, env: Arc<dyn Env>) -> Self {
        Self {
            service,
            choice,
            env,
            fixed: None,
        }
    }

    /// A source over a given store (the mock store in unit tests).
    pub fn with_store(service: Option<String>, store: OpenedStore, env: Arc<dyn Env>) -> Self {
        Self {
            service,
            choice: StoreChoice::Auto,
            env,
            fixed: Some(store),
        }
    }
}

#[async_trait]
impl CredentialSource for KeyringSource {
    fn name(&self) -> &str {
        "keyring"
    }

    async fn lookup(&self, target: &TargetIdentity) -> Result<Lookup, SourceError> {
        let Some(user) = target.user.clone().filter(|u| !u.is_empty()) else {
            return Ok(Lookup::not_found(
                "the target has no user, and keyring entries are per user",
            ));
        };
        let service = service_for(&target.name, self.service.as_deref());
        let (fixed, choice, env) = (self.fixed.clone(), self.choice, self.env.clone());
        tokio::task::spawn_blocking(move || {
            let store = match fixed {
                Some(store) => store,
                None => match open_store(choice, env.as_ref()) {
                    Ok(store) => store,
                    Err(reason) => return Ok(Lookup::unavailable(reason)),
                },
            };
            let at = format!(
                "{} ({}), service {service}, account {user}",
                store.name, store.why
            );
            let read =
                Entry::new_in_store(&store.store, &service, &user).and_then(|e| e.get_password());
            match read {
                Ok(password) => Ok(Lookup::Found(Credential::new(
                    None,
                    SecretString::from(password),
                    "keyring",
                    at,
                ))),
                Err(KeyringError::NoEntry) => Ok(Lookup::not_found(format!("no entry in {at}"))),
                Err(other) => classify(&store, other),
            }
        })
        .await
        .map_err(|e| SourceError::Other(format!("the keyring task failed: {e}")))?
    }
}

/// One account in one store, for `dbcore secret`.
#[derive(Debug)]
pub struct KeyringAccount {
    pub store: OpenedStore,
    pub service: String,
    pub user: String,
}

/// What `dbcore secret` can fail with; never holds the secret.
#[derive(Debug, thiserror::Error)]
#[error("{store}: {message}")]
pub struct AccountError {
    pub store: &'static str,
    pub message: String,
}

impl KeyringAccount {
    fn entry(&self) -> Result<Entry, AccountError> {
        Entry::new_in_store(&self.store.store, &self.service, &self.user)
            .map_err(|e| self.error(&e))
    }

    fn error(&self, e: &KeyringError) -> AccountError {
        AccountError {
            store: self.store.name,
            message: describe(e),
        }
    }

    /// Stores `password`, then reads it back and compares (without returning it).
    pub fn set_and_verify(&self, password: &SecretString) -> Result<bool, AccountError> {
        let entry = self.entry()?;
        entry
            .set_password(password.expose_secret())
            .map_err(|e| self.error(&e))?;
        let read = entry.get_password().map_err(|e| self.error(&e))?;
        Ok(read.as_bytes() == password.expose_secret().as_bytes())
    }

    pub fn exists(&self) -> Result<bool, AccountError> {
        match self.entry()?.get_password() {
            Ok(_) => Ok(true),
            Err(KeyringError::NoEntry) => Ok(false),
            Err(e) => Err(self.error(&e)),
        }
    }

    /// Deletes the entry; `false` when there was none.
    pub fn delete(&self) -> Result<bool, AccountError> {
        match self.entry()?.delete_credential() {
            Ok(()) => Ok(true),
            Err(KeyringError::NoEntry) => Ok(false),
            Err(e) => Err(self.error(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{DbKind, MapEnv};
    use keyring_core::mock;

    fn mock_store() -> OpenedStore {
        OpenedStore {
            store: mock::Store::new().unwrap(),
            name: "mock",
            why: "test".into(),
        }
    }

    fn target() -> TargetIdentity {
        TargetIdentity {
            name: "laptop".into(),
            kind: DbKind::Postgres,
            host: None,
            port: None,
            database: None,
            user: Some("app".into()),
        }
    }

    fn source(store: &OpenedStore) -> KeyringSource {
        KeyringSource::with_store(None, store.clone(), Arc::new(MapEnv::new()))
    }

    /// Sets the next error the mock entry for (service, app) will return.
    fn inject(store: &OpenedStore, service: &str, error: KeyringError) {
        let entry = Entry::new_in_store(&store.store, service, "app").unwrap();
        let cred: &mock::Cred = entry.as_any().downcast_ref().unwrap();
        cred.set_error(error);
    }

    #[tokio::test]
    async fn found_and_not_found() {
        let store = mock_store();
        let missing = source(&store).lookup(&target()).await.unwrap();
        assert!(
            matches!(missing, Lookup::NotFound { reason } if reason == "no entry in mock (test), service dbcore:laptop, account app")
        );
        let account = KeyringAccount {
            store: store.clone(),
            service: "dbcore:laptop".into(),
            user: "app".into(),
        };
        assert!(
            account
                .set_and_verify(&SecretString::from("s3cret"))
                .unwrap()
        );
        assert!(account.exists().unwrap());
        let Lookup::Found(c) = source(&store).lookup(&target()).await.unwrap() else {
            panic!("expected found")
        };
        assert_eq!(c.password.expose_secret(), "s3cret");
        assert_eq!(c.source, "keyring");
        assert!(account.delete().unwrap());
        assert!(!account.delete().unwrap(), "a second delete finds nothing");
        assert!(!account.exists().unwrap());
    }

    #[tokio::test]
    async fn the_service_name_is_configurable() {
        let store = mock_store();
        let account = KeyringAccount {
            store: store.clone(),
            service: "custom".into(),
            user: "app".into(),
        };
        account.set_and_verify(&SecretString::from("x")).unwrap();
        let s = KeyringSource::with_store(
            Some("custom".into()),
            store.clone(),
            Arc::new(MapEnv::new()),
        );
        assert!(matches!(
            s.lookup(&target()).await.unwrap(),
            Lookup::Found(_)
        ));
        assert!(matches!(
            source(&store).lookup(&target()).await.unwrap(),
            Lookup::NotFound { .. }
        ));
    }

    #[tokio::test]
    async fn locked_stores_are_unavailable_and_other_errors_are_hard() {
        let store = mock_store();
        KeyringAccount {
            store: store.clone(),
            service: "dbcore:laptop".into(),
            user: "app".into(),
        }
        .set_and_verify(&SecretString::from("canary-kr"))
        .unwrap();
        inject(
            &store,
            "dbcore:laptop",
            KeyringError::NoStorageAccess("collection is locked".into()),
        );
        match source(&store).lookup(&target()).await.unwrap() {
            Lookup::Unavailable { reason } => assert_eq!(
                reason,
                "mock is locked or not accessible: collection is locked"
            ),
            other => panic!("expected unavailable, got {other:?}"),
        }
        inject(
            &store,
            "dbcore:laptop",
            KeyringError::PlatformFailure("org.freedesktop.DBus.Error.ServiceUnknown".into()),
        );
        assert!(matches!(
            source(&store).lookup(&target()).await.unwrap(),
            Lookup::Unavailable { .. }
        ));
        inject(
            &store,
            "dbcore:laptop",
            KeyringError::PlatformFailure("disk on fire".into()),
        );
        let err = source(&store).lookup(&target()).await.unwrap_err();
        assert_eq!(err.to_string(), "mock: Platform failure: disk on fire");
        inject(
            &store,
            "dbcore:laptop",
            KeyringError::BadEncoding(b"canary-kr\xff".to_vec()),
        );
        let err = source(&store)
            .lookup(&target())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not UTF-8") && !err.contains("canary"),
            "{err}"
        );
        // After the injected errors the entry reads normally again.
        assert!(matches!(
            source(&store).lookup(&target()).await.unwrap(),
            Lookup::Found(_)
        ));
    }

    #[test]
    fn without_a_session_bus_secret_service_is_unavailable_with_the_reason() {
        let env = MapEnv::new();
        let reason = open_store(StoreChoice::SecretService, &env).unwrap_err();
        assert_eq!(
            reason,
            "no session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
        );
    }
}
