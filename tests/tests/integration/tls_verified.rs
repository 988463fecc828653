//! Verified TLS to a server with a private CA (the TLS-only cluster's, made per run): the
//! right CA under `verify-full` connects; a wrong CA or a wrong host name is a classified TLS
//! error that names the CA file; `verify-*` without a CA is refused before connecting.

use tests::bin::{ConfigDir, Run, run};
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
