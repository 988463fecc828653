//! `admin` on SQLite, as a user runs it: no server, no configuration.

use tests::bin::{ConfigDir, run};

#[test]
fn ping_local_works_with_no_configuration() {
    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().to_str().unwrap();
    let run = run("admin", &["ping", "local"], &[("HOME", home_s)]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("ok: local (sqlite)"), "{}", run.stdout);
    assert!(
        run.stdout.contains("server:     SQLite 3."),
        "{}",
        run.stdout
    );
    assert!(
        home.path()
            .join(".local/share/dbcore/local.sqlite3")
            .exists(),
        "the file is created in the user data directory"
    );
}

#[test]
fn targets_and_explain_as_json() {
    let home = tempfile::tempdir().unwrap();
    let config = ConfigDir::new();
    config.target(
        "reports",
        "kind = \"sqlite\"\npath = \"/tmp/dbcore-reports.sqlite3\"\n",
    );
    let env = [("HOME", home.path().to_str().unwrap())];
    let targets = run(
        "admin",
        &[
            "--config-dir",
            config.path_str(),
            "targets",
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(targets.code, Some(0), "{targets:?}");
    let rows = targets.json();
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["local", "laptop", "prod", "reports"]);
    let reports = &rows[3];
    assert_eq!(reports["kind"], "sqlite");
    assert_eq!(reports["where"], "/tmp/dbcore-reports.sqlite3");

    let explain = run(
        "admin",
        &[
            "--config-dir",
            config.path_str(),
            "explain",
            "reports",
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(
        explain.code,
        Some(0),
        "no credential is needed: {explain:?}"
    );
    let json = explain.json();
    assert_eq!(json["target"], "reports");
    assert_eq!(json["kind"], "sqlite");
    assert_eq!(
        json["settings"]["path"]["value"],
        "/tmp/dbcore-reports.sqlite3"
    );
    let origin = json["settings"]["path"]["origin"].as_str().unwrap();
    assert!(
        origin.starts_with("file:") && origin.ends_with("reports.toml"),
        "{origin}"
    );
    assert_eq!(json["attempts"], serde_json::json!([]));
    assert!(json["credential"].is_null());
}

#[test]
fn a_bad_target_file_is_reported_with_file_line_and_key() {
    let config = ConfigDir::new();
    config.target(
        "broken",
        "kind = \"sqlite\"\npath = \"x\"\nmax_conections = 3\n",
    );
    let run = run(
        "admin",
        &["--config-dir", config.path_str(), "explain", "broken"],
        &[],
    );
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("broken.toml line 3: unknown key `max_conections`; allowed here:"),
        "{}",
        run.stderr
    );
}

#[test]
fn explain_on_prod_without_its_vault_settings_says_what_is_missing() {
    let config = ConfigDir::new();
    let run = run(
        "admin",
        &["--config-dir", config.path_str(), "explain", "prod"],
        &[],
    );
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stdout.contains("error: target `prod`: source vault needs a secret: vault.kv = { path = … } or vault.database = { role = … }"),
        "{}",
        run.stdout
    );
}
