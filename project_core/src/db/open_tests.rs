//! The orchestration on a recording target, with no server: resolve → connect, a refused
//! password → resolve once more and retry once, a rotation → the new credential installed,
//! and a leased credential that never reached a pool given back.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use adapters::credentials::MockSource;
use adapters::credentials::mock::MockAnswer;
use adapters::database::recording::{RecordedQueryError, RecordingTarget};
use async_trait::async_trait;
use domain::{
    CredentialSource, DbKind, Lease, Lookup, MapEnv, SecretString, SourceError, TargetIdentity,
};

use super::*;
use crate::settings::{SourceKind, TargetDefaults};

const DEFAULTS: TargetDefaults = TargetDefaults {
    name: "rec",
    kind: DbKind::Postgres,
    host: Some("db"),
    port: None,
    user: Some("app"),
    database: Some("app"),
    path: None,
    sources: &[SourceKind::Env],
    env_prefix: "REC_DB",
    about: "",
};

fn settings() -> Settings {
    Settings::load("rec", Some(&DEFAULTS), None, &MapEnv::new()).unwrap()
}

fn target(passwords: &[&str]) -> Arc<RecordingTarget> {
    Arc::new(RecordingTarget::accepting(settings().identity(), passwords))
}

fn found(password: &str) -> MockAnswer {
    MockAnswer::Found {
        username: None,
        password: password.into(),
    }
}

fn chain_of(source: Arc<dyn CredentialSource>) -> CredentialChain {
    CredentialChain::new(vec![source])
}

#[tokio::test]
async fn opening_connects_with_what_the_chain_found_and_says_where_it_came_from() {
    let target = target(&["pw-1"]);
    let source = Arc::new(MockSource::new("mock", vec![found("pw-1")]));
    let opened = open_on(target.clone(), &settings(), chain_of(source.clone()))
        .await
        .unwrap();
    assert_eq!(target.calls(), ["connect pw-1"]);
    let provenance = opened.provenance.unwrap();
    assert_eq!(provenance.source, "mock");
    assert_eq!(
        provenance.username, "app",
        "the target's user when the source has none"
    );
    assert!(opened.manager.is_none(), "no lease, no manager");
    assert_eq!(source.calls(), 1);
}

#[tokio::test]
async fn a_refused_connect_without_a_password_says_no_source_supplied_one() {
    let target = target(&["pw-1"]);
    let source = Arc::new(MockSource::new(
        "mock",
        vec![MockAnswer::NotFound("nothing here".into())],
    ));
    let error = open_on(target.clone(), &settings(), chain_of(source))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(target.calls(), ["connect without a password"]);
    let DbError::Connect { error, .. } = error else {
        panic!("{error}")
    };
    assert_eq!(
        error.hint.as_deref(),
        Some("no source supplied a password (mock (not found): nothing here)")
    );
}

#[tokio::test]
async fn a_refused_password_that_a_source_supplied_gets_no_missing_password_hint() {
    let target = target(&["pw-1"]);
    let source = Arc::new(MockSource::new("mock", vec![found("wrong")]));
    let error = open_on(target.clone(), &settings(), chain_of(source))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(target.calls(), ["connect wrong"]);
    let DbError::Connect { error, .. } = error else {
        panic!("{error}")
    };
    assert_eq!(error.kind, domain::ConnectErrorKind::AuthenticationFailed);
    assert_eq!(
        error.hint, None,
        "a password was sent: the hint would be wrong"
    );
}

#[tokio::test]
async fn the_lease_manager_asks_the_target_how_many_sessions_a_user_has_left() {
    let target = target(&["pw-1"]);
    let sink = TargetSink {
        target: target.clone(),
        pool: adapters::database::recording::RecordedPool(1),
    };
    assert_eq!(
        sink.sessions_of("v-old").await,
        None,
        "the target cannot tell"
    );
    target.set_sessions(Some(7));
    assert_eq!(sink.sessions_of("v-old").await, Some(7));
    target.set_sessions(Some(0));
    assert_eq!(sink.sessions_of("v-old").await, Some(0));
}

#[tokio::test]
async fn a_hard_source_error_stops_before_any_connect() {
    let target = target(&["pw-1"]);
    let source = Arc::new(MockSource::new(
        "mock",
        vec![MockAnswer::Error("sealed".into())],
    ));
    let error = open_on(target.clone(), &settings(), chain_of(source))
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(error, DbError::Credential { ref source_name, .. } if source_name == "mock"),
        "{error}"
    );
    assert!(target.calls().is_empty(), "{:?}", target.calls());
}

#[tokio::test]
async fn a_refused_password_resolves_once_installs_the_new_one_and_retries_once() {
    let target = target(&["pw-1"]);
    let source = Arc::new(MockSource::new("mock", vec![found("pw-1"), found("pw-2")]));
    let opened = open_on(target.clone(), &settings(), chain_of(source.clone()))
        .await
        .unwrap();
    // The password was rotated at the server: the next query is refused.
    target.accept_only(&["pw-2"]);
    target.refuse_next_queries(1);
    let tries = AtomicUsize::new(0);
    let outcome = retry_after_refusal(&*target, &opened.leases, || async {
        tries.fetch_add(1, Ordering::SeqCst);
        target.query()
    })
    .await;
    assert_eq!(outcome, Ok(()));
    assert_eq!(
        tries.load(Ordering::SeqCst),
        2,
        "the attempt, then one retry"
    );
    assert_eq!(target.calls(), ["connect pw-1", "install pw-2"]);
    assert_eq!(source.calls(), 2, "resolved once more");
    assert_eq!(opened.leases.rotations(), 1);
}

#[tokio::test]
async fn a_password_refused_again_after_the_retry_is_the_error_and_nothing_loops() {
    let target = target(&["pw-1", "pw-2"]);
    let source = Arc::new(MockSource::new("mock", vec![found("pw-1"), found("pw-2")]));
    let opened = open_on(target.clone(), &settings(), chain_of(source.clone()))
        .await
        .unwrap();
    target.refuse_next_queries(5);
    let tries = AtomicUsize::new(0);
    let outcome = retry_after_refusal(&*target, &opened.leases, || async {
        tries.fetch_add(1, Ordering::SeqCst);
        target.query()
    })
    .await;
    assert_eq!(outcome, Err(RecordedQueryError::PasswordRefused));
    assert_eq!(tries.load(Ordering::SeqCst), 2);
    assert_eq!(target.calls(), ["connect pw-1", "install pw-2"]);
}

#[tokio::test]
async fn a_new_credential_the_server_refuses_never_replaces_the_pools() {
    let target = target(&["pw-1"]);
    let source = Arc::new(MockSource::new("mock", vec![found("pw-1"), found("wrong")]));
    let opened = open_on(target.clone(), &settings(), chain_of(source))
        .await
        .unwrap();
    let reason = opened.leases.rotate().await.unwrap_err();
    assert!(
        reason.contains("password authentication failed"),
        "{reason}"
    );
    assert_eq!(target.calls(), ["connect pw-1", "install wrong"]);
    assert_eq!(
        opened.leases.rotations(),
        0,
        "a refused install is no rotation"
    );
}

#[tokio::test]
async fn other_query_errors_are_not_retried() {
    let target = target(&["pw-1"]);
    let source = Arc::new(MockSource::new("mock", vec![found("pw-1")]));
    let opened = open_on(target.clone(), &settings(), chain_of(source.clone()))
        .await
        .unwrap();
    let tries = AtomicUsize::new(0);
    let outcome: Result<(), RecordedQueryError> =
        retry_after_refusal(&*target, &opened.leases, || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(RecordedQueryError::Other)
        })
        .await;
    assert_eq!(outcome, Err(RecordedQueryError::Other));
    assert_eq!(tries.load(Ordering::SeqCst), 1);
    assert_eq!(source.calls(), 1, "nothing resolved again");
}

/// A source whose credentials are leased, counting revocations.
#[derive(Default)]
struct Leasing {
    revoked: AtomicUsize,
}

#[async_trait]
impl CredentialSource for Leasing {
    fn name(&self) -> &str {
        "leasing"
    }

    async fn lookup(&self, _: &TargetIdentity) -> Result<Lookup, SourceError> {
        let mut credential = domain::Credential::new(
            Some("v-1".into()),
            SecretString::from("leased-pw"),
            "leasing".to_owned(),
            "a lease".to_owned(),
        );
        credential.lease = Some(Lease {
            id: SecretString::from("lease-1"),
            duration: std::time::Duration::from_secs(60),
            renewable: true,
        });
        Ok(Lookup::Found(credential))
    }

    async fn revoke(&self, _: &Lease) -> Result<(), SourceError> {
        self.revoked.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_leased_credential_that_fails_to_connect_is_given_back_at_once() {
    let target = target(&["something else"]);
    let source = Arc::new(Leasing::default());
    let error = open_on(target.clone(), &settings(), chain_of(source.clone())).await;
    assert!(error.is_err());
    assert_eq!(target.calls(), ["connect leased-pw"]);
    assert_eq!(source.revoked.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_leased_credential_that_connects_is_kept_and_managed() {
    let target = target(&["leased-pw"]);
    let source = Arc::new(Leasing::default());
    let opened = open_on(target.clone(), &settings(), chain_of(source.clone()))
        .await
        .unwrap();
    let manager = opened.manager.expect("a leased credential has a manager");
    manager.abort();
    assert_eq!(source.revoked.load(Ordering::SeqCst), 0);
    let status = opened.leases.status().await.unwrap();
    assert_eq!(status.source, "leasing");
    assert_eq!(status.username.as_deref(), Some("v-1"));
    opened.leases.revoke_all().await;
    assert_eq!(
        source.revoked.load(Ordering::SeqCst),
        1,
        "given back on close"
    );
}
