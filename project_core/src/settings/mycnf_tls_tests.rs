//! The MySQL client's TLS options from its option file: below the target file, with file and
//! line as origin, MySQL targets only; a bad mode named by file, line and option.

use super::*;
use domain::{MapEnv, RootCert, SslMode};

fn setup(mycnf: &str, targets: &[(&str, &str)]) -> (tempfile::TempDir, MapEnv) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".my.cnf"), mycnf).unwrap();
    let config = dir.path().join("targets");
    std::fs::create_dir_all(&config).unwrap();
    for (name, text) in targets {
        std::fs::write(config.join(format!("{name}.toml")), text).unwrap();
    }
    let env = MapEnv::new().with("HOME", dir.path().display().to_string());
    (dir, env)
}

#[test]
fn ssl_options_of_the_client_group_apply_to_mysql_targets_below_their_file() {
    let mycnf = "[client]\nuser = app\nssl-ca = /etc/mysql/ca.pem\nssl_cert = /c.pem\nssl-key = /c.key\nssl-mode = VERIFY_IDENTITY\n";
    let (dir, env) = setup(
        mycnf,
        &[
            ("my", "kind = \"mysql\"\n"),
            ("pinned", "kind = \"mysql\"\nsslmode = \"require\"\n"),
            ("pg", "kind = \"postgres\"\n"),
        ],
    );
    let load = |name: &str| Settings::load(name, None, Some(dir.path()), &env).unwrap();
    let my = load("my");
    let options = my.spec().options;
    assert_eq!(options.sslmode, Some(SslMode::VerifyFull));
    assert_eq!(
        options.tls.root_cert,
        Some(RootCert::File("/etc/mysql/ca.pem".into()))
    );
    assert_eq!(
        options.tls.cert.as_deref(),
        Some(std::path::Path::new("/c.pem"))
    );
    assert_eq!(
        options.tls.key.as_deref(),
        Some(std::path::Path::new("/c.key"))
    );
    let origin = my.origin("sslrootcert").unwrap().to_string();
    assert!(origin.ends_with(".my.cnf line 3"), "{origin}");
    // The target file wins; a PostgreSQL target does not read the MySQL client's file.
    assert_eq!(
        load("pinned").spec().options.sslmode,
        Some(SslMode::Require)
    );
    assert_eq!(load("pg").spec().options.tls, domain::TlsFiles::default());
}

#[test]
fn a_bad_mode_is_named_and_an_unparsable_file_is_left_to_the_source() {
    let (dir, env) = setup(
        "[client]\nssl-mode = SOMETIMES\n",
        &[("my", "kind = \"mysql\"\n")],
    );
    let error = Settings::load("my", None, Some(dir.path()), &env)
        .unwrap_err()
        .to_string();
    assert!(error.contains(".my.cnf line 2"), "{error}");
    assert!(error.contains("option `ssl-mode`"), "{error}");
    assert!(error.contains("VERIFY_IDENTITY"), "{error}");
    assert!(!error.contains("SOMETIMES"), "not echoed: {error}");

    let (dir, env) = setup("ssl-ca = /x\n[client\n", &[("my", "kind = \"mysql\"\n")]);
    let settings = Settings::load("my", None, Some(dir.path()), &env).unwrap();
    assert_eq!(settings.spec().options.tls, domain::TlsFiles::default());
}
