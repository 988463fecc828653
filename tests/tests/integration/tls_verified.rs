//! Verified TLS to a server with a private CA (the TLS-only cluster's, made per run): the
//! right CA under `verify-full` connects; a wrong CA or a wrong host name is a classified TLS
//! error that names the CA file; `verify-*` without a CA is refused before connecting; a
//! client certificate logs in to a `cert` line with no password, its key only when private;
//! a revoked server certificate (sslcrl) is refused.

use tests::bin::{ConfigDir, Run, run};
use tests::certs::CERT_USER;
use tests::pg::{PgCluster, tls_cluster};

/// `dbcore ping t --format json` on a target of the TLS cluster at `host`, with `tls_lines`.
fn ping(pg: &PgCluster, role: &str, host: &str, tls_lines: &str) -> Run {
    let config = ConfigDir::new();
    config.target(
        "t",
        &format!(
            "kind = \"postgres\"\nhost = \"{host}\"\nport = {}\ndatabase = \"{role}\"\nuser = \"{role}\"\nsources = [\"env\"]\nenv_prefix = \"V\"\n{tls_lines}",
            pg.port()
        ),
    );
    run(
        "dbcore",
        &[
            "--config-dir",
            config.path_str(),
            "--format",
            "json",
            "ping",
            "t",
        ],
        &[("V_PASSWORD", "pw-verified")],
    )
}

#[tokio::test]
async fn verify_full_with_the_private_ca_connects_and_a_wrong_ca_or_host_is_a_named_tls_error() {
    let Some(pg) = tls_cluster() else { return };
    let pki = pg.pki().unwrap();
    pg.create_role_and_database("tls_verified", "pw-verified")
        .await;
    let ca = pki.ca_file().display().to_string();
    let with_ca = |file: &str| format!("sslmode = \"verify-full\"\nsslrootcert = \"{file}\"\n");

    let good = ping(pg, "tls_verified", "localhost", &with_ca(&ca));
    assert_eq!(good.code, Some(0), "{good:?}");
    assert_eq!(good.json()["current_user"], "tls_verified");

    // Another CA: the server's own certificate is no CA, so it signed nothing here.
    let wrong_ca = pki.server_cert_file().display().to_string();
    let refused = ping(pg, "tls_verified", "localhost", &with_ca(&wrong_ca));
    assert_eq!(refused.code, Some(1), "{refused:?}");
    let error = &refused.json()["error"];
    assert_eq!(error["kind"], "tls", "{refused:?}");
    assert!(
        error.to_string().contains(&wrong_ca),
        "the CA file is named: {refused:?}"
    );

    // The certificate names localhost, not 127.0.0.1.
    let wrong_host = ping(pg, "tls_verified", "127.0.0.1", &with_ca(&ca));
    assert_eq!(wrong_host.code, Some(1), "{wrong_host:?}");
    assert_eq!(wrong_host.json()["error"]["kind"], "tls", "{wrong_host:?}");
    // verify-ca does not look at the name.
    let chain_only = ping(
        pg,
        "tls_verified",
        "127.0.0.1",
        &format!("sslmode = \"verify-ca\"\nsslrootcert = \"{ca}\"\n"),
    );
    assert_eq!(chain_only.code, Some(0), "{chain_only:?}");

    // No CA at all: refused before connecting, saying what to set.
    let no_ca = ping(
        pg,
        "tls_verified",
        "localhost",
        "sslmode = \"verify-full\"\n",
    );
    assert_eq!(no_ca.code, Some(1), "{no_ca:?}");
    assert_eq!(no_ca.json()["error"]["kind"], "configuration", "{no_ca:?}");
    assert!(
        no_ca.all_output().contains("no sslrootcert is set"),
        "{no_ca:?}"
    );
}

/// A target of the TLS cluster as the certificate's role, with no password source that
/// answers, presenting `cert` (with its key) when given.
fn cert_target(config: &ConfigDir, pg: &PgCluster, cert: Option<(&str, &str)>) {
    let ca = pg.pki().unwrap().ca_file();
    let client = cert
        .map(|(cert, key)| format!("sslcert = \"{cert}\"\nsslkey = \"{key}\"\n"))
        .unwrap_or_default();
    config.target(
        "c",
        &format!(
            "kind = \"postgres\"\nhost = \"localhost\"\nport = {}\ndatabase = \"postgres\"\nuser = \"{CERT_USER}\"\nsources = [\"env\"]\nenv_prefix = \"C\"\nsslmode = \"verify-full\"\nsslrootcert = \"{}\"\n{client}",
            pg.port(),
            ca.display()
        ),
    );
}

fn dbcore(config: &ConfigDir, args: &[&str]) -> Run {
    let mut all = vec!["--config-dir", config.path_str(), "--format", "json"];
    all.extend_from_slice(args);
    run("dbcore", &all, &[])
}

#[tokio::test]
async fn a_client_certificate_authenticates_without_a_password_and_its_key_must_be_private() {
    let Some(pg) = tls_cluster() else { return };
    let pki = pg.pki().unwrap();
    let pool = pg.superuser().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "do $$ begin if not exists (select from pg_roles where rolname = '{CERT_USER}') then create role {CERT_USER} login; end if; end $$"
    )))
    .execute(&pool)
    .await
    .expect("create the certificate's role");
    pool.close().await;

    // The key as a user keeps it: a copy of their own, readable by them only.
    let config = ConfigDir::new();
    let key = config.path().join("client.key");
    std::fs::copy(pki.client_key_file(), &key).unwrap();
    let set_mode = |mode: u32| {
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap()
    };
    set_mode(0o600);
    let cert = pki.client_cert_file().display().to_string();
    let key_s = key.display().to_string();
    cert_target(&config, pg, Some((&cert, &key_s)));

    let pinged = dbcore(&config, &["ping", "c"]);
    assert_eq!(pinged.code, Some(0), "{pinged:?}");
    assert_eq!(pinged.json()["current_user"], CERT_USER);

    let explained = dbcore(&config, &["explain", "c"]);
    assert_eq!(
        explained.code,
        Some(0),
        "a certificate is a credential: {explained:?}"
    );
    assert_eq!(explained.json()["client_certificate"], cert.as_str());
    let text = run(
        "dbcore",
        &["--config-dir", config.path_str(), "explain", "c"],
        &[],
    );
    assert!(
        text.stdout
            .contains(&format!("credential: the client certificate {cert}")),
        "{text:?}"
    );

    // A key others can read is refused before connecting, naming the file and the mode.
    set_mode(0o644);
    let loose = dbcore(&config, &["ping", "c"]);
    assert_eq!(loose.code, Some(1), "{loose:?}");
    assert_eq!(loose.json()["error"]["kind"], "configuration", "{loose:?}");
    let said = loose.all_output();
    assert!(said.contains(&key_s) && said.contains("0644"), "{loose:?}");

    // Without the certificate the `cert` line lets nobody in, and explain says nothing
    // would authenticate.
    let bare = ConfigDir::new();
    cert_target(&bare, pg, None);
    let refused = dbcore(&bare, &["ping", "c"]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert_eq!(
        refused.json()["error"]["kind"],
        "authentication_failed",
        "{refused:?}"
    );
    let unexplained = dbcore(&bare, &["explain", "c"]);
    assert_eq!(unexplained.code, Some(2), "{unexplained:?}");
}

#[tokio::test]
async fn a_revoked_server_certificate_is_refused_and_trust_is_only_the_ca_file() {
    let Some(pg) = tls_cluster() else { return };
    let pki = pg.pki().unwrap();
    pg.create_role_and_database("tls_crl", "pw-verified").await;
    let ca = pki.ca_file().display().to_string();
    let with = |crl: &std::path::Path| {
        format!(
            "sslmode = \"verify-full\"\nsslrootcert = \"{ca}\"\nsslcrl = \"{}\"\n",
            crl.display()
        )
    };
    let clean = ping(pg, "tls_crl", "localhost", &with(&pki.empty_crl_file()));
    assert_eq!(clean.code, Some(0), "{clean:?}");

    let revoked = ping(pg, "tls_crl", "localhost", &with(&pki.revoking_crl_file()));
    assert_eq!(revoked.code, Some(1), "{revoked:?}");
    assert_eq!(revoked.json()["error"]["kind"], "tls", "{revoked:?}");
    assert!(revoked.all_output().contains("Revoked"), "{revoked:?}");

    // An expired list says nothing about today: refused, as libpq (OpenSSL) refuses it.
    let expired = ping(pg, "tls_crl", "localhost", &with(&pki.expired_crl_file()));
    assert_eq!(expired.code, Some(1), "{expired:?}");
    assert_eq!(expired.json()["error"]["kind"], "tls", "{expired:?}");

    // Not a CRL at all: refused before connecting, naming the file.
    let bogus = ping(pg, "tls_crl", "localhost", &with(&pki.ca_file()));
    assert_eq!(bogus.code, Some(1), "{bogus:?}");
    assert_eq!(bogus.json()["error"]["kind"], "configuration", "{bogus:?}");
    assert!(bogus.all_output().contains("sslcrl"), "{bogus:?}");

    // `system` is the public roots only: they never vouch for the private CA's certificate.
    let public = ping(
        pg,
        "tls_crl",
        "localhost",
        "sslmode = \"verify-full\"\nsslrootcert = \"system\"\n",
    );
    assert_eq!(public.code, Some(1), "{public:?}");
    assert_eq!(public.json()["error"]["kind"], "tls", "{public:?}");
}

#[tokio::test]
async fn sslmode_is_ignored_over_a_unix_socket_as_in_libpq() {
    let Some(pg) = tls_cluster() else { return };
    pg.create_role_and_database("tls_socket", "pw-verified")
        .await;
    // `require` (as a PGSSLMODE in the shell would say) against the socket, where the server
    // offers no TLS: libpq connects in the clear, and so does dbcore.
    let socket = pg.socket_dir().display().to_string();
    let pinged = ping(pg, "tls_socket", &socket, "sslmode = \"require\"\n");
    assert_eq!(pinged.code, Some(0), "{pinged:?}");
    assert_eq!(pinged.json()["current_user"], "tls_socket");
}
