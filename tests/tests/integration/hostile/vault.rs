//! Hostile inputs: vault. A secret (token, AppRole role id and secret id, JWT, lease id) goes to
//! the configured Vault address and nowhere else, over HTTPS unless that address is loopback
//! or the target allows plain HTTP; addresses with credentials or query strings are refused
//! without being echoed; tokens and ids are validated before they are sent; secret files that
//! are not regular files are refused at once.

use std::sync::Arc;
use std::time::Duration;

use adapters::credentials::vault::VaultSource;
use domain::{CredentialSource, Lease, Lookup, MapEnv, SecretString, SourceError};
use project_core::chain::vault_config;
use project_core::settings::Settings;
use tests::bin::ConfigDir;
use tests::servers::random_token;
use tests::vault::{FakeHttp, Received, Reply, vault_answer};

/// The source for a target whose `[vault]` table is `vault_table` (address included or not).
fn source(config: &ConfigDir, vault_table: &str, env: MapEnv) -> VaultSource {
    try_source(config, vault_table, env).expect("settings load")
}

/// The source, or the error of a target file the settings loader refuses.
fn try_source(config: &ConfigDir, vault_table: &str, env: MapEnv) -> Result<VaultSource, String> {
    config.target(
        "t",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\ndatabase = \"d\"\nuser = \"u\"\nsources = [\"vault\"]\nenv_prefix = \"P\"\n[vault]\n{vault_table}\n"
        ),
    );
    let settings =
        Settings::load("t", None, Some(config.path()), &env).map_err(|e| e.to_string())?;
    let vault = vault_config(&settings).expect("vault config");
    Ok(VaultSource::new(vault, Arc::new(env)))
}

/// What a lookup came to, as text: `found`, `not found: …`, `unavailable: …`, `error: …`.
fn outcome(result: &Result<Lookup, SourceError>) -> String {
    match result {
        Ok(Lookup::Found(_)) => "found".into(),
        Ok(Lookup::NotFound { reason }) => format!("not found: {reason}"),
        Ok(Lookup::Unavailable { reason }) => format!("unavailable: {reason}"),
        Err(e) => format!("error: {e}"),
    }
}

/// Runs `work` on a thread of its own and fails the test if it has not finished within a
/// minute: a read that blocks on a FIFO must fail the test, not hang it.
fn within_a_minute<T: Send + 'static>(what: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what}: still running after a minute (hung on a file?)"))
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn lookup_now(source: &VaultSource) -> Result<Lookup, SourceError> {
    let identity = domain::TargetIdentity {
        name: "t".into(),
        kind: domain::DbKind::Postgres,
        host: Some("127.0.0.1".into()),
        port: None,
        database: Some("d".into()),
        user: Some("u".into()),
    };
    block_on(source.lookup(&identity))
}

/// Every way of logging in, each with secrets of its own: (what, `[vault]` lines, environment,
/// the secrets it sends).
fn logins(config: &ConfigDir) -> Vec<(&'static str, String, MapEnv, Vec<String>)> {
    let s = || format!("sec-{}", random_token(16));
    let (token, file_token, role, secret, file_role, file_secret, jwt, k8s) =
        (s(), s(), s(), s(), s(), s(), s(), s());
    let token_file = config.secret_file("token", &format!("{file_token}\n"));
    let role_file = config.secret_file("role", &file_role);
    let secret_file = config.secret_file("secret", &format!("{file_secret}\r\n"));
    let jwt_file = config.secret_file("jwt", &jwt);
    let k8s_file = config.secret_file("k8s", &k8s);
    vec![
        (
            "token from VAULT_TOKEN",
            "auth = \"token\"".into(),
            MapEnv::new().with("VAULT_TOKEN", token.clone()),
            vec![token],
        ),
        (
            "token from vault.token_file",
            format!("auth = \"token\"\ntoken_file = \"{token_file}\""),
            MapEnv::new(),
            vec![file_token],
        ),
        (
            "approle from the environment",
            "auth = \"approle\"".into(),
            MapEnv::new()
                .with("P_VAULT_ROLE_ID", role.clone())
                .with("P_VAULT_SECRET_ID", secret.clone()),
            vec![role, secret],
        ),
        (
            "approle from files",
            format!(
                "auth = \"approle\"\nrole_id_file = \"{role_file}\"\nsecret_id_file = \"{secret_file}\""
            ),
            MapEnv::new(),
            vec![file_role, file_secret],
        ),
        (
            "jwt",
            format!("auth = \"jwt\"\nrole = \"app\"\njwt_file = \"{jwt_file}\""),
            MapEnv::new(),
            vec![jwt],
        ),
        (
            "kubernetes",
            format!("auth = \"kubernetes\"\nrole = \"app\"\njwt_file = \"{k8s_file}\""),
            MapEnv::new(),
            vec![k8s],
        ),
    ]
}

const SECRETS: [&str; 4] = [
    "kv = { path = \"app\" }",
    "kv = { mount = \"kv1\", path = \"app\", version = 1 }",
    "database = { role = \"app\" }",
    "database = { static_role = \"app\" }",
];

fn assert_redirect_refused(what: &str, text: &str, fake: &FakeHttp, decoy: &FakeHttp) {
    assert_eq!(
        decoy.connections(),
        0,
        "{what}: a redirect was followed to another address: {:?}",
        decoy.received()
    );
    assert!(
        text.starts_with("error: ") && text.contains("redirect"),
        "{what}: not reported as a refused redirect: {text}"
    );
    assert!(
        text.contains(&fake.address()),
        "{what}: the configured address is not named: {text}"
    );
    assert!(
        !text.contains(&decoy.port().to_string()),
        "{what}: the redirect target is named: {text}"
    );
}

#[test]
fn redirects_never_carry_a_secret_anywhere() {
    let decoy = FakeHttp::start(vault_answer);
    let targets = [
        format!("http://127.0.0.1:{}", decoy.port()),
        format!("//localhost:{}", decoy.port()),
        format!("http://[::1]:{}", decoy.port()),
    ];
    for status in [301, 302, 303, 307, 308] {
        for target in &targets {
            // A Vault that redirects every call, logins first.
            let to = target.clone();
            let fake = FakeHttp::start(move |r: &Received| {
                Reply::redirect(status, &format!("{to}{}", r.path))
            });
            let config = ConfigDir::new();
            for (login, table, env, secrets) in logins(&config) {
                let what = format!("{login}, {status} to {target}");
                let table = format!("address = \"{}\"\n{table}\n{}", fake.address(), SECRETS[0]);
                let text = outcome(&lookup_now(&source(&config, &table, env)));
                assert_redirect_refused(&what, &text, &fake, &decoy);
                for secret in &secrets {
                    assert!(
                        !text.contains(secret.as_str()),
                        "{what}: printed a secret: {text}"
                    );
                }
            }
        }
    }
    // A Vault whose logins work and whose reads, renewals and revocations redirect.
    for status in [307, 308, 302] {
        let to = targets[0].clone();
        let fake = FakeHttp::start(move |r: &Received| {
            if r.path.contains("/login") || r.path.contains("/lookup-self") {
                vault_answer(r)
            } else {
                Reply::redirect(status, &format!("{to}{}", r.path))
            }
        });
        let config = ConfigDir::new();
        for (login, table, env, _) in logins(&config) {
            for secret in SECRETS {
                let what = format!("{login}, {secret}, {status}");
                let table = format!("address = \"{}\"\n{table}\n{secret}", fake.address());
                let text = outcome(&lookup_now(&source(&config, &table, env.clone())));
                assert_redirect_refused(&what, &text, &fake, &decoy);
            }
        }
        let lease = Lease {
            id: SecretString::from(format!("database/creds/app/{}", random_token(12))),
            duration: Duration::from_secs(60),
            renewable: true,
        };
        let table = format!("address = \"{}\"\n{}", fake.address(), SECRETS[2]);
        let source = source(
            &config,
            &table,
            MapEnv::new().with("VAULT_TOKEN", "s.some-token"),
        );
        let renew = block_on(source.renew(&lease)).map(|_| ());
        let revoke = block_on(source.revoke(&lease));
        for (what, result) in [("renew", renew), ("revoke", revoke)] {
            let text = match result {
                Ok(()) => "ok".to_owned(),
                Err(e) => format!("error: {e}"),
            };
            assert_redirect_refused(what, &text, &fake, &decoy);
        }
    }
}

#[test]
fn plain_http_beyond_loopback_is_refused_unless_allowed() {
    let config = ConfigDir::new();
    let env = || MapEnv::new().with("VAULT_TOKEN", "s.some-token");
    let remote = [
        "http://10.0.0.1:8200",
        "http://vault.example.com:8200",
        "HTTP://192.168.1.10",
        "http://[2001:db8::1]:8200",
        "http://0.0.0.0:8200",
        "http://127.0.0.1.example.com:8200",
        "http://localhost.example.com",
        "http://[::ffff:10.0.0.1]:8200",
    ];
    for address in remote {
        for via_env in [false, true] {
            let (table, env) = if via_env {
                (
                    "kv = { path = \"app\" }".to_owned(),
                    env().with("VAULT_ADDR", address),
                )
            } else {
                (
                    format!("address = \"{address}\"\nkv = {{ path = \"app\" }}"),
                    env(),
                )
            };
            let text = outcome(&lookup_now(&source(&config, &table, env)));
            assert!(
                text.starts_with("error: ")
                    && text.contains("allow_http")
                    && text.contains("https"),
                "{address} (from the environment: {via_env}) was not refused as plain http: {text}"
            );
        }
    }
    // Allowed explicitly, the address is used (and here cannot be resolved).
    let table =
        "address = \"http://vault.invalid:8200\"\nallow_http = true\nkv = { path = \"app\" }";
    let text = outcome(&lookup_now(&source(&config, table, env())));
    assert!(
        !text.contains("allow_http"),
        "allow_http = true was ignored: {text}"
    );
    // Loopback needs no permission.
    let fake = FakeHttp::start(vault_answer);
    for host in ["127.0.0.1", "localhost", "127.0.0.1/"] {
        let address = format!("http://{host}:{}", fake.port()).replace("/:", ":");
        let table = format!("address = \"{address}\"\nkv = {{ path = \"app\" }}");
        let text = outcome(&lookup_now(&source(&config, &table, env())));
        assert_eq!(text, "found", "{address}");
    }
}

#[test]
fn addresses_with_credentials_or_queries_are_refused_unechoed() {
    let fake = FakeHttp::start(vault_answer);
    let config = ConfigDir::new();
    let port = fake.port();
    let canary = format!("canary{}", random_token(12));
    let addresses = [
        format!("http://user:{canary}@127.0.0.1:{port}"),
        format!("http://{canary}@127.0.0.1:{port}"),
        format!("http://{canary}:@127.0.0.1:{port}/"),
        format!("https://{canary}:x@vault.example.com"),
        format!("http://127.0.0.1:{port}/?token={canary}"),
        format!("http://127.0.0.1:{port}?{canary}"),
        format!("http://127.0.0.1:{port}/#{canary}"),
        format!("http://127.0.0.1:{port}/v1/../{canary}/../"),
    ];
    for address in &addresses {
        for via_env in [false, true] {
            let env = MapEnv::new().with("VAULT_TOKEN", "s.some-token");
            let (table, env) = if via_env {
                (
                    "kv = { path = \"app\" }".to_owned(),
                    env.with("VAULT_ADDR", address.clone()),
                )
            } else {
                (
                    format!("address = \"{address}\"\nkv = {{ path = \"app\" }}"),
                    env,
                )
            };
            let what = format!("{address} (from the environment: {via_env})");
            let source = match try_source(&config, &table, env) {
                Ok(source) => source,
                Err(refused) => {
                    assert!(
                        !refused.contains(&canary),
                        "{what}: the error echoes it: {refused}"
                    );
                    continue;
                }
            };
            let text = outcome(&lookup_now(&source));
            assert!(text.starts_with("error: "), "{what} was used: {text}");
            assert!(
                !text.contains(&canary),
                "{what}: the error echoes it: {text}"
            );
            let details = format!("{:?}", source.details());
            assert!(
                !details.contains(&canary),
                "{what}: explain shows it: {details}"
            );
            assert!(
                !format!("{source:?}").contains(&canary),
                "{what}: Debug shows it"
            );
        }
    }
    assert_eq!(fake.connections(), 0, "{:?}", fake.received());
    // A clean address is shown as configured.
    let table = format!(
        "address = \"{}\"\nkv = {{ path = \"app\" }}",
        fake.address()
    );
    let source = source(&config, &table, MapEnv::new());
    assert!(source.details().contains(&("address", fake.address())));
}

#[test]
fn malformed_tokens_and_ids_are_refused_saying_what_is_wrong() {
    let fake = FakeHttp::start(vault_answer);
    let config = ConfigDir::new();
    // (value with {} for a random part, the value sent when accepted, or the words of the error)
    let cases: [(&str, Result<&str, &str>); 14] = [
        ("tok-{}", Ok("tok-{}")),
        ("tok-{}\n", Ok("tok-{}")),
        ("tok-{}\r\n", Ok("tok-{}")),
        ("tok-\n{}", Err("line break")),
        ("tok-{}\n\n", Err("line break")),
        ("tok-{}\r", Err("line break")),
        ("tok-\r\n{}\r\n", Err("line break")),
        (" tok-{}", Err("space")),
        ("tok {}", Err("space")),
        ("tok-{}\t", Err("control character")),
        ("tok-\u{1b}[2J{}", Err("control character")),
        ("tök-{}", Err("non-ASCII")),
        ("tok-{}\u{a0}", Err("non-ASCII")),
        ("\n", Err("empty")),
    ];
    let too_long = format!("tok-{}{}", "{}", "x".repeat(70_000));
    let cases = cases
        .iter()
        .map(|(v, r)| ((*v).to_owned(), r.map(str::to_owned).map_err(str::to_owned)))
        .chain([(too_long, Err("long".to_owned()))]);
    for (template, expected) in cases {
        let random = random_token(16);
        let value = template.replace("{}", &random);
        let expected = expected.map(|e| e.replace("{}", &random));
        let file = config.secret_file("value", &value);
        let other = config.secret_file("other", "fine-id");
        let places: Vec<(&str, String, MapEnv, &str)> = vec![
            (
                "VAULT_TOKEN",
                "auth = \"token\"".into(),
                MapEnv::new().with("VAULT_TOKEN", value.clone()),
                "VAULT_TOKEN",
            ),
            (
                "vault.token_file",
                format!("auth = \"token\"\ntoken_file = \"{file}\""),
                MapEnv::new(),
                "token file",
            ),
            (
                "P_VAULT_ROLE_ID",
                "auth = \"approle\"".into(),
                MapEnv::new()
                    .with("P_VAULT_ROLE_ID", value.clone())
                    .with("P_VAULT_SECRET_ID", "fine-id"),
                "P_VAULT_ROLE_ID",
            ),
            (
                "vault.secret_id_file",
                format!(
                    "auth = \"approle\"\nrole_id_file = \"{other}\"\nsecret_id_file = \"{file}\""
                ),
                MapEnv::new(),
                "secret id file",
            ),
            (
                "vault.jwt_file",
                format!("auth = \"jwt\"\nrole = \"r\"\njwt_file = \"{file}\""),
                MapEnv::new(),
                "jwt file",
            ),
        ];
        for (place, table, env, named) in places {
            if value.trim().is_empty() && !place.contains('.') {
                continue; // an empty variable counts as not set
            }
            let before = fake.received().len();
            let table = format!(
                "address = \"{}\"\n{table}\nkv = {{ path = \"app\" }}",
                fake.address()
            );
            let text = outcome(&lookup_now(&source(&config, &table, env)));
            let sent = fake.received().split_off(before);
            let what = format!("{template:?} in {place}");
            match &expected {
                Ok(clean) => {
                    assert_eq!(text, "found", "{what}");
                    let first = sent.first().expect("a request");
                    let carried = first
                        .header("x-vault-token")
                        .map(str::to_owned)
                        .unwrap_or_else(|| {
                            let body: serde_json::Value =
                                serde_json::from_str(first.body()).expect("json body");
                            body["role_id"]
                                .as_str()
                                .or(body["jwt"].as_str())
                                .or(body["secret_id"].as_str())
                                .unwrap_or_default()
                                .to_owned()
                        });
                    if place != "vault.secret_id_file" {
                        assert_eq!(&carried, clean, "{what}: sent something else");
                    } else {
                        let body: serde_json::Value =
                            serde_json::from_str(first.body()).expect("json body");
                        assert_eq!(body["secret_id"].as_str(), Some(clean.as_str()), "{what}");
                    }
                }
                Err(words) => {
                    assert!(sent.is_empty(), "{what}: sent to vault: {sent:?}");
                    assert!(text.starts_with("error: "), "{what}: {text}");
                    assert!(
                        text.contains(words),
                        "{what}: does not say `{words}`: {text}"
                    );
                    assert!(
                        text.contains(named),
                        "{what}: does not name {named}: {text}"
                    );
                    assert!(!text.contains("cannot be reached"), "{what}: {text}");
                    assert!(!text.contains(&random), "{what}: echoes the value: {text}");
                }
            }
        }
    }
}

#[test]
fn secret_files_that_are_not_regular_files_are_refused_at_once() {
    let fake = FakeHttp::start(vault_answer);
    let config = ConfigDir::new();
    let fifo = config.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let home = config.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let fine = config.secret_file("fine", "fine-id");
    // The FIFO first: before the fix it hangs, and /dev/zero would be read until memory ran out.
    let specials = [
        (fifo.display().to_string(), "a FIFO"),
        ("/dev/zero".to_owned(), "a character device"),
        ("/dev/null".to_owned(), "a character device"),
        (config.path().display().to_string(), "a directory"),
    ];
    for (special, found) in specials {
        let home_token = home.join(".vault-token");
        let _ = std::fs::remove_file(&home_token);
        if special != config.path().display().to_string() {
            std::os::unix::fs::symlink(&special, &home_token).unwrap();
        }
        let mut places = vec![
            (
                "vault.token_file",
                format!("auth = \"token\"\ntoken_file = \"{special}\""),
                MapEnv::new(),
            ),
            (
                "vault.role_id_file",
                format!(
                    "auth = \"approle\"\nrole_id_file = \"{special}\"\nsecret_id_file = \"{fine}\""
                ),
                MapEnv::new(),
            ),
            (
                "vault.secret_id_file",
                format!(
                    "auth = \"approle\"\nrole_id_file = \"{fine}\"\nsecret_id_file = \"{special}\""
                ),
                MapEnv::new(),
            ),
            (
                "vault.jwt_file",
                format!("auth = \"jwt\"\nrole = \"r\"\njwt_file = \"{special}\""),
                MapEnv::new(),
            ),
            (
                "kubernetes",
                format!("auth = \"kubernetes\"\nrole = \"r\"\njwt_file = \"{special}\""),
                MapEnv::new(),
            ),
            (
                "vault.ca_cert",
                format!("auth = \"token\"\nca_cert = \"{special}\""),
                MapEnv::new().with("VAULT_TOKEN", "s.t"),
            ),
        ];
        if home_token.exists() || special.starts_with(&fifo.display().to_string()) {
            places.push((
                "~/.vault-token",
                "auth = \"token\"".into(),
                MapEnv::new().with("HOME", home.display().to_string()),
            ));
        }
        for (place, table, env) in places {
            let what = format!("{found} as {place}");
            let table = format!(
                "address = \"{}\"\n{table}\nkv = {{ path = \"app\" }}",
                fake.address()
            );
            let source = source(&config, &table, env);
            let text = within_a_minute(&what, move || outcome(&lookup_now(&source)));
            assert!(
                text.starts_with("error: ") && text.contains(found),
                "{what}: {text}"
            );
        }
    }
    assert_eq!(fake.received().len(), 0);
}

#[test]
fn an_untrusted_certificate_is_a_tls_error() {
    // Something that does not speak TLS at all, addressed with https.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::Write;
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let config = ConfigDir::new();
    let env = || MapEnv::new().with("VAULT_TOKEN", "s.some-token");
    let table = format!("address = \"https://127.0.0.1:{port}\"\nkv = {{ path = \"app\" }}");
    let text = outcome(&lookup_now(&source(&config, &table, env())));
    assert!(
        text.starts_with("error: ") && text.contains("TLS"),
        "{text}"
    );
    assert!(
        text.contains(&format!("https://127.0.0.1:{port}")),
        "{text}"
    );

    let Some(vault) = tests::vault::Vault::start_tls()
        .map_err(|why| tests::servers::unavailable::<()>("OpenBao (TLS)", &why))
        .ok()
    else {
        return;
    };
    let password = format!("tls-{}", random_token(10));
    vault
        .bao(&[
            "kv",
            "put",
            "secret/dbcore/tls",
            "username=u",
            &format!("password={password}"),
        ])
        .unwrap();
    let env = || MapEnv::new().with("VAULT_TOKEN", vault.root_token());
    let table = format!(
        "address = \"{}\"\nkv = {{ path = \"dbcore/tls\" }}",
        vault.address()
    );
    // The system's roots do not know OpenBao's generated CA.
    let text = outcome(&lookup_now(&source(&config, &table, env())));
    assert!(
        text.starts_with("error: ") && text.contains("TLS") && text.contains("certificate"),
        "{text}"
    );
    assert!(
        text.contains("ca_cert"),
        "the error does not say what to do: {text}"
    );
    assert!(!text.contains(vault.root_token()), "{text}");
    // A CA file that is not the one: still refused.
    let other = ConfigDir::new();
    let wrong = other.secret_file(
        "ca.pem",
        &std::fs::read_to_string(std::path::Path::new("/etc/ssl/certs/ca-certificates.crt"))
            .unwrap_or_default(),
    );
    if std::fs::metadata(&wrong).is_ok_and(|m| m.len() > 0) {
        let table = format!("{table}\nca_cert = \"{wrong}\"");
        let text = outcome(&lookup_now(&source(&config, &table, env())));
        assert!(
            text.starts_with("error: ") && text.contains("TLS"),
            "{text}"
        );
    }
    // With the right CA it works, and VAULT_CACERT is honoured as well.
    let ca = vault.ca_cert().unwrap().display().to_string();
    let with_ca = format!("{table}\nca_cert = \"{ca}\"");
    assert_eq!(
        outcome(&lookup_now(&source(&config, &with_ca, env()))),
        "found"
    );
    let from_env = env().with("VAULT_CACERT", ca.clone());
    assert_eq!(
        outcome(&lookup_now(&source(&config, &table, from_env))),
        "found"
    );
}
