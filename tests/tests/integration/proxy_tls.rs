//! `dbcore proxy` to a PostgreSQL that takes TCP connections over TLS only: the proxy
//! encrypts as the target's sslmode says, binds SCRAM to the server's certificate, and
//! sends cancel requests the same way.

use tests::bin::ConfigDir;
use tests::pg::{PgCluster, tls_cluster};
use tests::servers::random_token;

use super::proxy::{Proxy, assert_canceled_within_a_second, press_ctrl_c, text};

/// A role and database named `role`, and a proxy serving them through an env target on the
/// TLS-only cluster with `sslmode` (none: the default, prefer).
async fn tls_proxy(
    pg: &PgCluster,
    role: &str,
    password: &str,
    sslmode: Option<&str>,
) -> (ConfigDir, Proxy) {
    pg.create_role_and_database(role, password).await;
    let config = ConfigDir::new();
    let sslmode = sslmode.map_or(String::new(), |mode| format!("sslmode = \"{mode}\"\n"));
    config.target(
        "t",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{role}\"\nuser = \"{role}\"\nsources = [\"env\"]\nenv_prefix = \"PX\"\n{sslmode}",
            pg.port()
        ),
    );
    let proxy = Proxy::start(
        &config,
        &[("PX_PASSWORD", password), ("RUST_LOG", "trace")],
        &[],
    );
    (config, proxy)
}

/// What `pg_stat_ssl` says of the session the proxy opened for this client.
fn session_encryption(proxy: &Proxy, pg: &PgCluster, database: &str) -> String {
    let out = proxy.psql(
        pg,
        database,
        "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()",
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stderr),
        proxy.log()
    );
    text(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn under_require_the_proxy_logs_in_over_tls_with_channel_binding_and_cancels_over_it() {
    let Some(pg) = tls_cluster() else { return };
    let canary = format!("canary-{}", random_token(12));
    let (_config, proxy) = tls_proxy(pg, "px_tls", &canary, Some("require")).await;
    assert_eq!(session_encryption(&proxy, pg, "px_tls"), "t|TLSv1.3");
    let log = proxy.log();
    assert!(
        log.contains("SCRAM-SHA-256-PLUS"),
        "SCRAM bound to the certificate: {log}"
    );
    assert!(!log.contains("mechanism=\"SCRAM-SHA-256\""), "{log}");

    assert_canceled_within_a_second(&proxy, pg, "px_tls", press_ctrl_c);
    assert!(
        !proxy.log().contains(&canary),
        "the password is in the log at trace"
    );
}

#[tokio::test]
async fn the_default_sslmode_finds_the_servers_tls_on_its_own() {
    let Some(pg) = tls_cluster() else { return };
    let (_config, proxy) = tls_proxy(pg, "px_prefer", "pw-prefer", None).await;
    assert_eq!(session_encryption(&proxy, pg, "px_prefer"), "t|TLSv1.3");
    assert!(proxy.log().contains("SCRAM-SHA-256-PLUS"));
}
