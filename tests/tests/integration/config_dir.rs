//! Which config directory `dbcore` reads is never a guess: a named one must exist, an empty
//! `./config` does not hide the user's, and `targets` and `explain` say which was used and why.

use std::path::Path;

use tests::bin::{ConfigDir, Run, run, run_in};

/// `dbcore ARGS` in `cwd` with only `HOME` (and `PATH`) set.
fn dbcore_in(cwd: &Path, home: &Path, args: &[&str]) -> Run {
    run_in(
        Some(cwd),
        "dbcore",
        args,
        &[("HOME", home.to_str().unwrap())],
    )
}

#[test]
fn a_named_config_directory_that_does_not_exist_is_an_error() {
    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().to_str().unwrap();
    let missing = home.path().join("no-such-dir");
    let missing_s = missing.to_str().unwrap();
    let flag = run(
        "dbcore",
        &["--config-dir", missing_s, "targets"],
        &[("HOME", home_s)],
    );
    assert_eq!(flag.code, Some(1), "{flag:?}");
    assert_eq!(
        flag.stderr.trim(),
        format!("error: config directory {missing_s} (from --config-dir) does not exist"),
    );
    let variable = run(
        "dbcore",
        &["explain", "local"],
        &[("HOME", home_s), ("PROJECT_CONFIG_DIR", missing_s)],
    );
    assert_eq!(variable.code, Some(1), "{variable:?}");
    assert!(
        variable
            .stderr
            .contains("(from PROJECT_CONFIG_DIR) does not exist"),
        "{variable:?}"
    );
    let ingest = run(
        "dbcore-ingest",
        &["--config-dir", missing_s, "local", "t", "x.csv"],
        &[("HOME", home_s)],
    );
    assert_eq!(ingest.code, Some(1), "{ingest:?}");
    assert!(ingest.stderr.contains("does not exist"), "{ingest:?}");
}

#[test]
fn targets_and_explain_say_which_directory_was_used_and_why() {
    let config = ConfigDir::new();
    config.target("lite", "kind = \"sqlite\"\npath = \":memory:\"\n");
    let home = tempfile::tempdir().unwrap();
    let env = [("HOME", home.path().to_str().unwrap())];
    let targets = run(
        "dbcore",
        &["--config-dir", config.path_str(), "targets"],
        &env,
    );
    assert_eq!(targets.code, Some(0), "{targets:?}");
    assert_eq!(
        targets.stdout.lines().next(),
        Some(
            format!(
                "config directory: {} (from --config-dir)",
                config.path_str()
            )
            .as_str()
        )
    );
    let explain = run(
        "dbcore",
        &[
            "--config-dir",
            config.path_str(),
            "--format",
            "json",
            "explain",
            "lite",
        ],
        &env,
    );
    let json = explain.json();
    assert_eq!(json["config_dir"]["path"], config.path_str());
    assert_eq!(json["config_dir"]["chosen_by"], "flag");
    assert_eq!(
        json["settings_file"],
        config.path().join("targets/lite.toml").to_str().unwrap()
    );
}

#[test]
fn an_empty_local_config_does_not_hide_the_users_and_one_with_targets_is_used() {
    let cwd = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let user = home.path().join(".config/dbcore/targets");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join("mine.toml"),
        "kind = \"sqlite\"\npath = \":memory:\"\n",
    )
    .unwrap();
    std::fs::create_dir(cwd.path().join("config")).unwrap();
    let listed = dbcore_in(cwd.path(), home.path(), &["targets"]);
    assert_eq!(listed.code, Some(0), "{listed:?}");
    assert!(
        listed.stdout.starts_with(&format!(
            "config directory: {} (from the user config directory)",
            home.path().join(".config/dbcore").display()
        )),
        "{listed:?}"
    );
    assert!(listed.stdout.contains("\nmine "), "{listed:?}");

    let local = cwd.path().join("config/targets");
    std::fs::create_dir(&local).unwrap();
    std::fs::write(
        local.join("here.toml"),
        "kind = \"sqlite\"\npath = \":memory:\"\n",
    )
    .unwrap();
    let listed = dbcore_in(cwd.path(), home.path(), &["targets"]);
    assert!(
        listed
            .stdout
            .starts_with("config directory: config (from ./config, which has targets/)"),
        "{listed:?}"
    );
    assert!(listed.stdout.contains("\nhere "), "{listed:?}");
    assert!(!listed.stdout.contains("\nmine "), "{listed:?}");
}
