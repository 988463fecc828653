//! The source against a fake Vault: what a malformed answer becomes, in the chain's words.

use domain::{DbKind, MapEnv};

use super::http::tests::{reply, server};
use super::*;

fn identity() -> TargetIdentity {
    TargetIdentity {
        name: "t".into(),
        kind: DbKind::Postgres,
        host: Some("127.0.0.1".into()),
        port: None,
        database: Some("d".into()),
        user: Some("u".into()),
    }
}

fn source(port: u16, auth: VaultAuth, secret: VaultSecret, env: MapEnv) -> VaultSource {
    let config = VaultConfig {
        address: Some(format!("http://127.0.0.1:{port}")),
        ca_cert: None,
        namespace: None,
        auth,
        secret,
        env_prefix: "P".into(),
        allow_http: false,
    };
    VaultSource::new(config, Arc::new(env))
}

async fn error_of(source: &VaultSource) -> String {
    match source.lookup(&identity()).await {
        Err(e) => e.to_string(),
        Ok(other) => panic!("not an error: {other:?}"),
    }
}

#[tokio::test]
async fn a_login_answer_without_a_token_names_the_login_and_the_field() {
    let (port, _) = server(reply(
        "200 OK",
        "",
        r#"{"auth":{"accessor":"a","lease_duration":60}}"#,
    ))
    .await;
    let env = MapEnv::new()
        .with("P_VAULT_ROLE_ID", "role-Canary0001")
        .with("P_VAULT_SECRET_ID", "secret-Canary0002");
    let auth = VaultAuth::AppRole {
        mount: "approle".into(),
        role_id_file: None,
        secret_id_file: None,
    };
    let secret = VaultSecret::Static {
        mount: "database".into(),
        role: "app".into(),
    };
    let e = error_of(&source(port, auth, secret, env)).await;
    assert_eq!(
        e,
        format!(
            "vault at http://127.0.0.1:{port}: approle login at auth/approle/login: the answer has no `auth.client_token`"
        )
    );
}

#[tokio::test]
async fn a_read_with_a_wrongly_typed_field_names_the_read_and_not_the_value() {
    // One answer for every call: the lookup-self reads it as a token with no TTL, the read as
    // a dynamic credential whose lease duration is a string.
    let (port, _) = server(reply(
        "200 OK",
        "",
        r#"{"lease_id":"database/creds/app/Lease-Canary0003","lease_duration":"Lease-Canary0003","data":{"password":"Pw-Canary0004"}}"#,
    ))
    .await;
    let env = MapEnv::new().with("VAULT_TOKEN", "s.Token-Canary0005");
    let auth = VaultAuth::Token { token_file: None };
    let secret = VaultSecret::Dynamic {
        mount: "database".into(),
        role: "app".into(),
    };
    let e = error_of(&source(port, auth, secret, env)).await;
    assert_eq!(
        e,
        format!(
            "vault at http://127.0.0.1:{port}: read of database/creds/app: the answer's `lease_duration` has the wrong type"
        )
    );
    assert!(!e.contains("Canary"), "{e}");
}
