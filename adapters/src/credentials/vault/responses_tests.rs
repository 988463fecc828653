//! Answers as OpenBao 2.x sends them (recorded, ids and secrets replaced), through the parsing.

use serde::de::IgnoredAny;

use super::*;

fn ok<T: DeserializeOwned>(body: &str) -> T {
    match parse(body.as_bytes(), 200) {
        Ok(v) => v,
        Err(e) => panic!("{e}: {body}"),
    }
}

fn refused<T: DeserializeOwned>(body: &str) -> AnswerError {
    match parse::<T>(body.as_bytes(), 200) {
        Ok(_) => panic!("parsed: {body}"),
        Err(e) => e,
    }
}

/// An error's text: lowercase, and free of every secret in the body.
fn text(e: &AnswerError, secrets: &[&str]) -> String {
    let t = e.to_string();
    assert!(t.starts_with(|c: char| c.is_lowercase()), "{t}");
    for s in secrets {
        assert!(!t.contains(s), "echoes {s}: {t}");
    }
    t
}

const APPROLE_LOGIN: &str = r#"{"request_id":"3c5a1f7e-0d1b-6a5e-8f0c-2a4b9d7e1c3f","lease_id":"","renewable":false,"lease_duration":0,"data":null,"wrap_info":null,"warnings":null,"auth":{"client_token":"s.Tk3nFromApproleLogin0001","accessor":"AcCeSsOr00000000000001","policies":["dbcore","default"],"token_policies":["dbcore","default"],"metadata":{"role_name":"dbcore"},"lease_duration":3600,"renewable":true,"entity_id":"7d1e0b4c-5a2f-4c8e-9b3d-1f6a2e8c4b7d","token_type":"service","orphan":true,"mfa_requirement":null,"num_uses":0}}"#;

const KUBERNETES_LOGIN: &str = r#"{"request_id":"9a8b7c6d-5e4f-3a2b-1c0d-9e8f7a6b5c4d","lease_id":"","renewable":false,"lease_duration":0,"data":null,"wrap_info":null,"warnings":null,"auth":{"client_token":"s.Tk3nFromKubernetes000002","accessor":"AcCeSsOr00000000000002","policies":["default","dbcore"],"token_policies":["default","dbcore"],"metadata":{"role":"app","service_account_name":"app","service_account_namespace":"default","service_account_secret_name":"","service_account_uid":"5b2d8c1e-3f4a-4b6c-8d9e-0a1b2c3d4e5f"},"lease_duration":86400,"renewable":true,"entity_id":"1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d","token_type":"service","orphan":true,"mfa_requirement":null,"num_uses":0}}"#;

const JWT_LOGIN: &str = r#"{"request_id":"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0","lease_id":"","renewable":false,"lease_duration":0,"data":null,"wrap_info":null,"warnings":null,"auth":{"client_token":"s.Tk3nFromJwtLogin00000003","accessor":"AcCeSsOr00000000000003","policies":["default"],"token_policies":["default"],"metadata":{"role":"app"},"lease_duration":600,"renewable":false,"entity_id":"","token_type":"batch","orphan":true,"mfa_requirement":null,"num_uses":0}}"#;

const LOOKUP_SELF: &str = r#"{"request_id":"5d4c3b2a-1f0e-9d8c-7b6a-5f4e3d2c1b0a","lease_id":"","renewable":false,"lease_duration":0,"data":{"accessor":"AcCeSsOr00000000000004","creation_time":1718000000,"creation_ttl":2764800,"display_name":"token","entity_id":"","expire_time":"2024-07-12T06:13:20.000000000Z","explicit_max_ttl":0,"id":"s.TheTokenItselfInLookup04","issue_time":"2024-06-10T06:13:20.000000000Z","meta":null,"num_uses":0,"orphan":false,"path":"auth/token/create","policies":["default","dbcore"],"renewable":true,"ttl":2764790,"type":"service"},"wrap_info":null,"warnings":null,"auth":null}"#;

const LOOKUP_SELF_ROOT: &str = r#"{"request_id":"6e5d4c3b-2a1f-0e9d-8c7b-6a5f4e3d2c1b","lease_id":"","renewable":false,"lease_duration":0,"data":{"accessor":"AcCeSsOr00000000000005","creation_time":1718000000,"creation_ttl":0,"display_name":"root","entity_id":"","expire_time":null,"explicit_max_ttl":0,"id":"s.RootTokenItself000000005","meta":null,"num_uses":0,"orphan":true,"path":"auth/token/root","policies":["root"],"ttl":0,"type":"service"},"wrap_info":null,"warnings":null,"auth":null}"#;

const RENEW_SELF: &str = r#"{"request_id":"7f6e5d4c-3b2a-1f0e-9d8c-7b6a5f4e3d2c","lease_id":"","renewable":false,"lease_duration":0,"data":null,"wrap_info":null,"warnings":null,"auth":{"client_token":"s.Tk3nFromApproleLogin0001","accessor":"AcCeSsOr00000000000001","policies":["dbcore","default"],"token_policies":["dbcore","default"],"metadata":{"role_name":"dbcore"},"lease_duration":1800,"renewable":true,"entity_id":"","token_type":"service","orphan":true,"mfa_requirement":null,"num_uses":0}}"#;

const KV1_READ: &str = r#"{"request_id":"8a7f6e5d-4c3b-2a1f-0e9d-8c7b6a5f4e3d","lease_id":"","renewable":false,"lease_duration":2764800,"data":{"password":"kv1-Pa55word-0006","port":5432,"tags":["a","b"],"username":"vault_kv1"},"wrap_info":null,"warnings":null,"auth":null}"#;

const KV2_READ: &str = r#"{"request_id":"9b8a7f6e-5d4c-3b2a-1f0e-9d8c7b6a5f4e","lease_id":"","renewable":false,"lease_duration":0,"data":{"data":{"password":"kv2-Pa55word-0007","username":"vault_kv2"},"metadata":{"created_time":"2024-06-10T06:13:20.123456789Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":3}},"wrap_info":null,"warnings":null,"auth":null}"#;

const DATABASE_CREDS: &str = r#"{"request_id":"ac9b8a7f-6e5d-4c3b-2a1f-0e9d8c7b6a5f","lease_id":"database/creds/app/Lea5eIdSecret0008","renewable":true,"lease_duration":3600,"data":{"password":"Db-Pa55word-0008","username":"v-approle-app-Xy12Ab34Cd56Ef78Gh90-1718000000"},"wrap_info":null,"warnings":null,"auth":null}"#;

const STATIC_CREDS: &str = r#"{"request_id":"bdac9b8a-7f6e-5d4c-3b2a-1f0e9d8c7b6a","lease_id":"","renewable":false,"lease_duration":0,"data":{"last_vault_rotation":"2024-06-10T06:13:20.123456789Z","password":"Static-Pa55word-0009","rotation_period":86400,"ttl":86390,"username":"vault_static"},"wrap_info":null,"warnings":null,"auth":null}"#;

const LEASE_RENEW: &str = r#"{"request_id":"cebdac9b-8a7f-6e5d-4c3b-2a1f0e9d8c7b","lease_id":"database/creds/app/Lea5eIdSecret0008","renewable":true,"lease_duration":3600,"data":null,"wrap_info":null,"warnings":null,"auth":null}"#;

#[test]
fn logins_give_the_token_and_its_life() {
    for (body, token, ttl, renewable) in [
        (APPROLE_LOGIN, "s.Tk3nFromApproleLogin0001", 3600, true),
        (KUBERNETES_LOGIN, "s.Tk3nFromKubernetes000002", 86400, true),
        (JWT_LOGIN, "s.Tk3nFromJwtLogin00000003", 600, false),
    ] {
        let (got, life) = ok::<AuthResponse>(body).login().unwrap();
        assert_eq!(got.expose_secret(), token);
        assert_eq!(
            life,
            TokenLife {
                ttl: Some(Duration::from_secs(ttl)),
                renewable
            }
        );
    }
}

#[test]
fn a_renewal_and_a_lookup_give_the_life_left() {
    let life = ok::<AuthResponse>(RENEW_SELF).renewed().unwrap();
    assert_eq!(life.ttl, Some(Duration::from_secs(1800)));
    assert!(life.renewable);
    let life = ok::<LookupSelfResponse>(LOOKUP_SELF).life();
    assert_eq!(life.ttl, Some(Duration::from_secs(2_764_790)));
    assert!(life.renewable);
    // A root token never expires: a TTL of 0 is none, and `renewable` may be absent.
    let life = ok::<LookupSelfResponse>(LOOKUP_SELF_ROOT).life();
    assert_eq!(
        life,
        TokenLife {
            ttl: None,
            renewable: false
        }
    );
    // A renewal that says nothing about the token is not a renewal.
    let e = refused_call(ok::<AuthResponse>(r#"{"auth":null}"#).renewed());
    assert_eq!(text(&e, &[]), "the answer has no `auth`");
}

fn refused_call<T>(result: Result<T, AnswerError>) -> AnswerError {
    match result {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    }
}

#[test]
fn kv_reads_give_the_configured_keys() {
    let kv1 = ok::<KvV1Response>(KV1_READ)
        .credential("username", "password")
        .unwrap();
    assert_eq!(kv1.username.as_deref(), Some("vault_kv1"));
    assert_eq!(kv1.password.expose_secret(), "kv1-Pa55word-0006");
    assert!(kv1.lease.is_none(), "kv secrets have no lease to renew");
    let kv2 = ok::<KvV2Response>(KV2_READ)
        .credential("username", "password")
        .unwrap();
    assert_eq!(kv2.username.as_deref(), Some("vault_kv2"));
    assert_eq!(kv2.password.expose_secret(), "kv2-Pa55word-0007");
    // Other keys: a user name that is not text (or absent) is none; the password is the key's.
    let other = ok::<KvV1Response>(KV1_READ)
        .credential("port", "username")
        .unwrap();
    assert_eq!(other.username, None);
    assert_eq!(other.password.expose_secret(), "vault_kv1");
}

#[test]
fn database_reads_give_the_credential_and_its_lease() {
    let dynamic = ok::<DynamicCredsResponse>(DATABASE_CREDS)
        .credential()
        .unwrap();
    assert_eq!(
        dynamic.username.as_deref(),
        Some("v-approle-app-Xy12Ab34Cd56Ef78Gh90-1718000000")
    );
    assert_eq!(dynamic.password.expose_secret(), "Db-Pa55word-0008");
    let lease = dynamic.lease.unwrap();
    assert_eq!(
        lease.id.expose_secret(),
        "database/creds/app/Lea5eIdSecret0008"
    );
    assert_eq!(lease.duration, Duration::from_secs(3600));
    assert!(lease.renewable);
    let fixed = ok::<StaticCredsResponse>(STATIC_CREDS)
        .credential()
        .unwrap();
    assert_eq!(fixed.username.as_deref(), Some("vault_static"));
    assert_eq!(fixed.password.expose_secret(), "Static-Pa55word-0009");
    assert!(
        fixed.lease.is_none(),
        "a static role's password is rotated, not leased"
    );
    // An empty lease id is no lease.
    let unleased = ok::<DynamicCredsResponse>(r#"{"lease_id":"","data":{"password":"p"}}"#)
        .credential()
        .unwrap();
    assert!(unleased.lease.is_none());
}

#[test]
fn a_lease_renewal_gives_the_new_duration() {
    assert_eq!(
        ok::<LeaseRenewalResponse>(LEASE_RENEW).renewal(),
        Renewal {
            duration: Duration::from_secs(3600),
            renewable: true
        }
    );
    // Absent fields: 0 s, not renewable (as before the answers had types).
    assert_eq!(
        ok::<LeaseRenewalResponse>("{}").renewal(),
        Renewal {
            duration: Duration::ZERO,
            renewable: false
        }
    );
}

#[test]
fn no_content_is_an_empty_answer() {
    // `sys/leases/revoke` answers 204 with no body.
    assert!(parse::<IgnoredAny>(b"", 204).is_ok());
    let e = refused_call(parse::<AuthResponse>(b"", 204).unwrap().login());
    assert_eq!(text(&e, &[]), "the answer has no `auth`");
}

#[test]
fn error_bodies_give_vaults_messages() {
    assert_eq!(
        error_messages(br#"{"errors":["permission denied"]}"#),
        ["permission denied"]
    );
    assert_eq!(
        error_messages(br#"{"errors":["1 error occurred:\n\t* invalid role or secret ID\n\n"]}"#),
        ["1 error occurred:  * invalid role or secret ID  "]
    );
    // At most three, each at most 200 characters; entries that are not text are skipped.
    let long = "x".repeat(300);
    let body = format!(r#"{{"errors":[7,"a",{{"b":1}},"{long}","c","d"]}}"#);
    let messages = error_messages(body.as_bytes());
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0], "a");
    assert_eq!(messages[1].len(), 200);
    assert_eq!(messages[2], "c");
    // A 404 for nothing there, a proxy's page, a body of another shape: no messages.
    for body in [
        r#"{"errors":[]}"#,
        "<html><body>502 Bad Gateway</body></html>",
        r#"{"errors":"permission denied"}"#,
        "",
    ] {
        assert!(error_messages(body.as_bytes()).is_empty(), "{body}");
    }
}

#[test]
fn a_body_that_is_not_json_is_refused() {
    for body in [
        "<html><body>OK</body></html>",
        r#"{"auth":{"client_token":"s.Truncated0000"#,
        r#"{"auth":null} trailing"#,
    ] {
        let e = refused::<AuthResponse>(body);
        assert_eq!(e, AnswerError::NotJson { status: 200 }, "{body}");
        assert_eq!(
            text(&e, &["s.Truncated0000"]),
            "not a JSON answer (status 200)"
        );
    }
    for body in ["[]", r#""s.AStringAnswer00""#, "42"] {
        let e = refused::<AuthResponse>(body);
        assert_eq!(
            text(&e, &["s.AStringAnswer00"]),
            "the answer is not the JSON object vault sends",
            "{body}"
        );
    }
}

/// Reads a body as one kind of answer, to the credential or token it holds.
type Read = fn(&str) -> Result<(), AnswerError>;
/// Parses a body as one kind of answer, which must fail.
type Refuse = fn(&str) -> AnswerError;

#[test]
fn a_missing_field_is_named() {
    let cases: [(&str, Read, &str); 8] = [
        (
            r#"{"auth":null,"data":{"id":"s.NotALoginToken00"}}"#,
            |b| ok::<AuthResponse>(b).login().map(drop),
            "auth",
        ),
        (
            r#"{"auth":{"accessor":"a","lease_duration":60}}"#,
            |b| ok::<AuthResponse>(b).login().map(drop),
            "auth.client_token",
        ),
        (
            r#"{"data":{"username":"u","pass":"Secret-Under-Another-Key"}}"#,
            |b| {
                ok::<KvV1Response>(b)
                    .credential("username", "password")
                    .map(drop)
            },
            "data.password",
        ),
        (
            r#"{"data":{"data":null,"metadata":{"deletion_time":"2024-06-10T00:00:00Z"}}}"#,
            |b| {
                ok::<KvV2Response>(b)
                    .credential("username", "password")
                    .map(drop)
            },
            "data.data",
        ),
        (
            r#"{"data":{"data":{"user":"u","pw":"Secret-Under-Another-Key"}}}"#,
            |b| {
                ok::<KvV2Response>(b)
                    .credential("user", "password")
                    .map(drop)
            },
            "data.data.password",
        ),
        (
            r#"{"lease_id":"database/creds/app/Lea5eIdSecret0010","data":{"username":"u"}}"#,
            |b| ok::<DynamicCredsResponse>(b).credential().map(drop),
            "data.password",
        ),
        (
            r#"{"lease_id":"database/creds/app/Lea5eIdSecret0010"}"#,
            |b| ok::<DynamicCredsResponse>(b).credential().map(drop),
            "data",
        ),
        (
            r#"{"data":{"username":"u","ttl":60}}"#,
            |b| ok::<StaticCredsResponse>(b).credential().map(drop),
            "data.password",
        ),
    ];
    for (body, read, field) in cases {
        let e = refused_call(read(body));
        assert_eq!(
            text(
                &e,
                &[
                    "s.NotALoginToken00",
                    "Secret-Under-Another-Key",
                    "Lea5eIdSecret0010"
                ]
            ),
            format!("the answer has no `{field}`"),
            "{body}"
        );
    }
}

#[test]
fn a_field_of_the_wrong_type_is_named_without_its_value() {
    let secret = "s.LeakedIntoTheWrongField";
    let cases: [(String, Refuse, &str); 6] = [
        (
            format!(r#"{{"auth":{{"client_token":"{secret}","lease_duration":"{secret}"}}}}"#),
            |b| refused::<AuthResponse>(b),
            "auth.lease_duration",
        ),
        (
            r#"{"auth":{"client_token":12345,"renewable":true}}"#.to_owned(),
            |b| refused::<AuthResponse>(b),
            "auth.client_token",
        ),
        (
            format!(r#"{{"auth":{{"client_token":"{secret}","renewable":"yes"}}}}"#),
            |b| refused::<AuthResponse>(b),
            "auth.renewable",
        ),
        (
            format!(r#"{{"data":{{"ttl":"{secret}"}}}}"#),
            |b| refused::<LookupSelfResponse>(b),
            "data.ttl",
        ),
        (
            format!(
                r#"{{"lease_id":"{secret}","data":{{"username":"u","password":["{secret}"]}}}}"#
            ),
            |b| refused::<DynamicCredsResponse>(b),
            "data.password",
        ),
        (
            format!(
                r#"{{"lease_id":"x","lease_duration":"{secret}","data":{{"password":"{secret}"}}}}"#
            ),
            |b| refused::<DynamicCredsResponse>(b),
            "lease_duration",
        ),
    ];
    for (body, read, field) in cases {
        let e = read(&body);
        assert_eq!(
            text(&e, &[secret]),
            format!("the answer's `{field}` has the wrong type"),
            "{body}"
        );
    }
    // In a KV secret any value may be stored, so only the password's own type matters.
    let e = refused_call(
        ok::<KvV2Response>(&format!(
            r#"{{"data":{{"data":{{"username":"u","password":{{"nested":"{secret}"}}}}}}}}"#
        ))
        .credential("username", "password"),
    );
    assert_eq!(
        text(&e, &[secret]),
        "the answer's `data.data.password` has the wrong type"
    );
}

#[test]
fn a_login_token_that_cannot_be_a_token_is_refused_unechoed() {
    for (token, problem) in [
        ("s.Has Space0000000000", "has a space at character 6"),
        (
            "s.HasLineBreak0000000\\n",
            "has a line break at character 22",
        ),
        ("", "is empty"),
    ] {
        let body = format!(r#"{{"auth":{{"client_token":"{token}","lease_duration":60}}}}"#);
        let e = refused_call(ok::<AuthResponse>(&body).login());
        let shown = if token.is_empty() { "-" } else { &token[2..10] };
        let t = text(&e, &[shown]);
        assert!(
            t.starts_with(&format!("the answer's `auth.client_token` {problem}")),
            "{t}"
        );
    }
}
