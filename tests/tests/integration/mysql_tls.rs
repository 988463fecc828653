//! Verified TLS to MariaDB with a CA made per run: `sslrootcert` (MySQL's `ssl-ca`) with
//! `verify-full` / `VERIFY_IDENTITY` connects to `localhost`, a wrong CA is a classified TLS
//! error naming the file, and the MySQL client's own option file supplies the same settings,
//! shown by explain with its file and line.

use tests::bin::{ConfigDir, Run, run};
use tests::mariadb::{MariaDb, server};

fn target(config: &ConfigDir, db: &MariaDb, tls_lines: &str) {
    config.target(
        "m",
        &format!(
            "kind = \"mysql\"\nhost = \"localhost\"\nport = {}\ndatabase = \"my_tls\"\nuser = \"my_tls\"\nsources = [\"env\"]\nenv_prefix = \"MT\"\n{tls_lines}",
            db.port()
        ),
    );
}

fn dbcore(config: &ConfigDir, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec!["--config-dir", config.path_str(), "--format", "json"];
    all.extend_from_slice(args);
    let mut env = env.to_vec();
    env.push(("MT_PASSWORD", "pw-my-tls"));
    run("dbcore", &all, &env)
}

#[tokio::test]
async fn verify_identity_with_the_private_ca_connects_and_the_option_file_can_say_so() {
    let Some(db) = server() else { return };
    db.create_user_and_database("my_tls", "pw-my-tls").await;
    // The account takes TLS only, so a connection that is not encrypted cannot pass.
    db.sql_as_root("alter user 'my_tls'@'127.0.0.1' require ssl")
        .unwrap();
    let ca = db.pki().ca_file().display().to_string();
    let config = ConfigDir::new();

    target(
        &config,
        db,
        &format!("sslmode = \"VERIFY_IDENTITY\"\nsslrootcert = \"{ca}\"\n"),
    );
    let ok = dbcore(&config, &["ping", "m"], &[]);
    assert_eq!(ok.code, Some(0), "{ok:?}");
    assert_eq!(
        ok.json()["current_user"]
            .as_str()
            .map(|u| u.starts_with("my_tls@")),
        Some(true),
        "{ok:?}"
    );

    let wrong = db.pki().server_cert_file().display().to_string();
    target(
        &config,
        db,
        &format!("sslmode = \"verify-full\"\nsslrootcert = \"{wrong}\"\n"),
    );
    let refused = dbcore(&config, &["ping", "m"], &[]);
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert_eq!(refused.json()["error"]["kind"], "tls", "{refused:?}");
    assert!(
        refused.all_output().contains(&wrong),
        "the CA file is named: {refused:?}"
    );

    // TLS off: the account refuses the login.
    target(&config, db, "sslmode = \"disable\"\n");
    let plain = dbcore(&config, &["ping", "m"], &[]);
    assert_eq!(plain.code, Some(1), "{plain:?}");
    assert_eq!(
        plain.json()["error"]["kind"],
        "authentication_failed",
        "{plain:?}"
    );

    // The same trust from ~/.my.cnf, as the mariadb client reads it.
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".my.cnf"),
        format!("[client]\nssl-ca = {ca}\nssl-mode = VERIFY_IDENTITY\n"),
    )
    .unwrap();
    target(&config, db, "");
    let home_env = [("HOME", home.path().to_str().unwrap())];
    let from_file = dbcore(&config, &["ping", "m"], &home_env);
    assert_eq!(from_file.code, Some(0), "{from_file:?}");
    let explained = dbcore(&config, &["explain", "m"], &home_env);
    let settings = &explained.json()["settings"];
    assert_eq!(
        settings["sslrootcert"]["value"],
        ca.as_str(),
        "{explained:?}"
    );
    assert!(
        settings["sslrootcert"]["origin"]
            .as_str()
            .unwrap()
            .ends_with(".my.cnf line 2"),
        "{explained:?}"
    );
    assert_eq!(settings["sslmode"]["value"], "verify-full", "{explained:?}");
}
