//! The libpq layer: `PGSSL*` between the code defaults and the target file, `~/.postgresql/`
//! files only when they exist and nothing else names one, PostgreSQL targets only.

use super::loader_tests::config_with;
use super::*;
use domain::{MapEnv, RootCert};

fn origin(settings: &Settings, key: &str) -> String {
    settings
        .origin(key)
        .map(ToString::to_string)
        .unwrap_or_default()
}

#[test]
fn libpq_variables_apply_to_postgres_below_the_target_file_and_its_prefix() {
    let dir = config_with(&[
        ("pg.toml", "kind = \"postgres\"\nenv_prefix = \"P\"\n"),
        (
            "pinned.toml",
            "kind = \"postgres\"\nsslrootcert = \"/etc/pinned.crt\"\nenv_prefix = \"Q\"\n",
        ),
        ("my.toml", "kind = \"mysql\"\nenv_prefix = \"M\"\n"),
    ]);
    let env = MapEnv::new()
        .with("PGSSLROOTCERT", "/env/root.crt")
        .with("PGSSLMODE", "verify-full")
        .with("PGSSLCERT", "/env/client.crt")
        .with("PGSSLKEY", "/env/client.key")
        .with("Q_SSLMODE", "require");
    let pg = Settings::load("pg", None, Some(dir.path()), &env).unwrap();
    let tls = pg.spec().options.tls;
    assert_eq!(tls.root_cert, Some(RootCert::File("/env/root.crt".into())));
    assert_eq!(
        tls.cert.as_deref(),
        Some(std::path::Path::new("/env/client.crt"))
    );
    assert_eq!(
        tls.key.as_deref(),
        Some(std::path::Path::new("/env/client.key"))
    );
    assert_eq!(pg.spec().options.sslmode, Some(domain::SslMode::VerifyFull));
    assert_eq!(origin(&pg, "sslrootcert"), "env:PGSSLROOTCERT");
    assert_eq!(origin(&pg, "sslkey"), "env:PGSSLKEY");

    // The file wins over PGSSLROOTCERT, the prefix's variable over PGSSLMODE.
    let pinned = Settings::load("pinned", None, Some(dir.path()), &env).unwrap();
    assert_eq!(
        pinned.spec().options.tls.root_cert,
        Some(RootCert::File("/etc/pinned.crt".into()))
    );
    assert!(origin(&pinned, "sslrootcert").starts_with("file:"));
    assert_eq!(
        pinned.spec().options.sslmode,
        Some(domain::SslMode::Require)
    );
    assert_eq!(origin(&pinned, "sslmode"), "env:Q_SSLMODE");

    // libpq's variables are libpq's: a MySQL target does not read them.
    let my = Settings::load("my", None, Some(dir.path()), &env).unwrap();
    assert_eq!(my.spec().options.tls, domain::TlsFiles::default());
    assert_eq!(my.spec().options.sslmode, None);
}

#[test]
fn libpq_variables_are_checked_like_every_setting() {
    let dir = config_with(&[("pg.toml", "kind = \"postgres\"\n")]);
    let env = MapEnv::new().with("PGSSLMODE", "sometimes");
    let error = Settings::load("pg", None, Some(dir.path()), &env)
        .unwrap_err()
        .to_string();
    assert!(error.contains("PGSSLMODE"), "{error}");
    assert!(
        !error.contains("sometimes"),
        "values are not echoed: {error}"
    );
}

#[test]
fn home_files_are_defaults_only_when_they_exist_and_nothing_names_one() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".postgresql");
    std::fs::create_dir_all(&dir).unwrap();
    let config = config_with(&[
        ("pg.toml", "kind = \"postgres\"\n"),
        (
            "named.toml",
            "kind = \"postgres\"\nsslcert = \"/mine.crt\"\n",
        ),
        ("my.toml", "kind = \"mysql\"\n"),
    ]);
    let env = MapEnv::new().with("HOME", home.path().display().to_string());
    let load = |name: &str| Settings::load(name, None, Some(config.path()), &env).unwrap();

    // Nothing there: nothing set.
    assert_eq!(load("pg").spec().options.tls, domain::TlsFiles::default());

    std::fs::write(dir.join("root.crt"), "x").unwrap();
    std::fs::write(dir.join("postgresql.crt"), "x").unwrap();
    std::fs::write(dir.join("postgresql.key"), "x").unwrap();
    let pg = load("pg");
    let tls = pg.spec().options.tls;
    assert_eq!(tls.root_cert, Some(RootCert::File(dir.join("root.crt"))));
    assert_eq!(tls.cert, Some(dir.join("postgresql.crt")));
    assert_eq!(tls.key, Some(dir.join("postgresql.key")));
    assert_eq!(
        origin(&pg, "sslrootcert"),
        "libpq default (the file exists)"
    );
    let shown: Vec<String> = pg.entries().iter().map(|e| e.key.clone()).collect();
    assert!(
        shown.contains(&"sslcert".to_owned()),
        "explain shows it: {shown:?}"
    );

    // A target that names its certificate keeps it; the other defaults still apply.
    let named = load("named");
    assert_eq!(
        named.spec().options.tls.cert.as_deref(),
        Some(std::path::Path::new("/mine.crt"))
    );
    assert!(origin(&named, "sslcert").starts_with("file:"));
    assert_eq!(origin(&named, "sslkey"), "libpq default (the file exists)");
    // ~/.postgresql is libpq's, not the MySQL client's.
    assert_eq!(load("my").spec().options.tls, domain::TlsFiles::default());

    // A key without a certificate is not picked up (libpq looks for it only beside one),
    // and sslmode=disable reads none of them.
    std::fs::remove_file(dir.join("postgresql.crt")).unwrap();
    let keyless = load("pg");
    assert_eq!(keyless.spec().options.tls.key, None);
    assert_eq!(keyless.spec().options.tls.cert, None);
    let off = MapEnv::new()
        .with("HOME", home.path().display().to_string())
        .with("PGSSLMODE", "disable");
    let disabled = Settings::load("pg", None, Some(config.path()), &off).unwrap();
    assert_eq!(disabled.spec().options.tls, domain::TlsFiles::default());
    std::fs::write(dir.join("postgresql.crt"), "x").unwrap();

    // A PGSSLROOTCERT beats the default file.
    let env = env.clone().with("PGSSLROOTCERT", "system");
    let pg = Settings::load("pg", None, Some(config.path()), &env).unwrap();
    assert_eq!(pg.spec().options.tls.root_cert, Some(RootCert::System));
}
