//! `dbcore` on SQLite, as a user runs it: no server, no configuration.

use tests::bin::{ConfigDir, run};

#[test]
fn ping_local_works_with_no_configuration() {
    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().to_str().unwrap();
    let run = run("dbcore", &["ping", "local"], &[("HOME", home_s)]);
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
        "dbcore",
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
        "dbcore",
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
        origin.starts_with("file:") && origin.contains("reports.toml line "),
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
        "dbcore",
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
        "dbcore",
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

#[test]
fn every_command_has_help_examples_and_shells_get_completions() {
    for command in [
        vec!["targets"],
        vec!["explain"],
        vec!["ping"],
        vec!["metadata"],
        vec!["secret"],
        vec!["secret", "set"],
        vec!["secret", "status"],
        vec!["secret", "delete"],
        vec!["completions"],
    ] {
        let mut args = command.clone();
        args.push("--help");
        let help = run("dbcore", &args, &[]);
        assert_eq!(help.code, Some(0), "{help:?}");
        assert!(
            help.stdout.contains("Example"),
            "dbcore {} --help has no examples:\n{}",
            command.join(" "),
            help.stdout
        );
    }
    for (shell, marker) in [
        ("bash", "_dbcore()"),
        ("zsh", "#compdef dbcore"),
        ("fish", "complete -c dbcore"),
    ] {
        let out = run("dbcore", &["completions", shell], &[]);
        assert_eq!(out.code, Some(0));
        assert!(
            out.stdout.contains(marker),
            "{shell}: {}",
            &out.stdout[..out.stdout.len().min(200)]
        );
    }
}

#[tokio::test]
async fn the_scripts_count_rows_and_use_two_targets() {
    let config = ConfigDir::new();
    let pool = config.sqlite_target("shop", "shop.sqlite3").await;
    sqlx::query("create table items (id integer primary key, name text)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let items = config.secret_file("items.csv", "id,name\n1,a\n2,b\n3,c\n");
    let local = config.path().join("local.sqlite3");
    let env = [("PROJECT_LOCAL_DB_PATH", local.to_str().unwrap())];
    let loaded = run(
        "dbcore-ingest",
        &["--config-dir", config.path_str(), "shop", "items", &items],
        &[],
    );
    assert_eq!(loaded.code, Some(0), "{loaded:?}");
    let count = run(
        "count_rows",
        &["--config-dir", config.path_str(), "shop", "items"],
        &env,
    );
    assert_eq!(count.stdout.trim(), "rows: 3", "{count:?}");
    let two = run(
        "two_targets",
        &["--config-dir", config.path_str(), "shop", "items"],
        &env,
    );
    assert_eq!(two.code, Some(0), "{two:?}");
    assert!(
        two.stdout
            .contains("shop.items: 3 rows; local has 1 recorded counts"),
        "{}",
        two.stdout
    );
}

/// The scripts answer `--help` with their usage (exit 0), wrong arguments with it on stderr
/// (exit 2), and a failure with one line naming each cause once (exit 1).
#[test]
fn the_scripts_say_their_usage_and_report_an_error_once() {
    for script in ["count_rows", "two_targets"] {
        let help = run(script, &["--help"], &[]);
        assert_eq!(help.code, Some(0), "{help:?}");
        assert!(
            help.stdout.starts_with(&format!("usage: {script} ")),
            "{help:?}"
        );
        let wrong = run(script, &["only-one"], &[]);
        assert_eq!(wrong.code, Some(2), "{wrong:?}");
        assert!(wrong.stderr.starts_with("usage: "), "{wrong:?}");
        let config = ConfigDir::new();
        let failed = run(
            script,
            &["--config-dir", config.path_str(), "nope", "t"],
            &[],
        );
        assert_eq!(failed.code, Some(1), "{failed:?}");
        let prefix = format!("{script}: error: ");
        assert_eq!(failed.stderr.matches(&prefix).count(), 1, "{failed:?}");
        assert_eq!(failed.stderr.lines().count(), 1, "{failed:?}");
    }
}

#[tokio::test]
async fn admin_metadata_as_json_then_from_the_cache() {
    let config = ConfigDir::new();
    let pool = config.sqlite_target("meta", "meta.sqlite3").await;
    sqlx::raw_sql(
        "create table a (id integer primary key, name text not null default 'x');
         create table b (id integer primary key, a_id integer references a (id));
         create index b_a on b (a_id);",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let cache = config.path().join("cache");
    let env = [("PROJECT_CACHE_DIR", cache.to_str().unwrap())];
    let args = [
        "--config-dir",
        config.path_str(),
        "--format",
        "json",
        "metadata",
        "meta",
        "--table",
        "b",
    ];
    let first = run("dbcore", &args, &env);
    assert_eq!(first.code, Some(0), "{first:?}");
    let json = first.json();
    assert_eq!(json["target"], "meta");
    assert_eq!(json["cache"]["status"], "rebuilt");
    let steps: Vec<&String> = json["timings_ms"].as_object().unwrap().keys().collect();
    assert_eq!(
        steps,
        ["fingerprint", "read_cache", "reflect", "write_cache"],
        "{json}"
    );
    assert!(json["timings_ms"]["reflect"].as_f64().unwrap() >= 0.0);
    assert!(
        json["cache"]["path"]
            .as_str()
            .unwrap()
            .ends_with("meta_metadata.dbmeta")
    );
    let tables = json["schemas"][0]["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1, "--table keeps one table");
    let b = &tables[0];
    assert_eq!(b["name"], "b");
    assert_eq!(b["kind"], "table");
    assert_eq!(
        b["columns"][1],
        serde_json::json!({"name": "a_id", "type": "INTEGER", "nullable": true, "default": null})
    );
    assert_eq!(b["primary_key"], serde_json::json!(["id"]));
    assert_eq!(
        b["foreign_keys"][0]["references"],
        serde_json::json!({"schema": "main", "table": "a", "columns": ["id"]})
    );
    assert_eq!(b["indexes"][0]["name"], "b_a");
    let second = run("dbcore", &args, &env);
    assert_eq!(second.json()["cache"]["status"], "used");
    let text = run(
        "dbcore",
        &["--config-dir", config.path_str(), "metadata", "meta"],
        &env,
    );
    assert!(
        text.stdout.contains("used (fingerprint matched)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("foreign key (a_id) references main.a (id)"),
        "{}",
        text.stdout
    );
    // SCHEMA.NAME, as dbcore-ingest takes it.
    let qualified = run(
        "dbcore",
        &[
            "--config-dir",
            config.path_str(),
            "--format",
            "json",
            "metadata",
            "meta",
            "--table",
            "main.a",
        ],
        &env,
    );
    let json = qualified.json();
    assert_eq!(json["schemas"][0]["name"], "main");
    let tables = json["schemas"][0]["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1, "{json}");
    assert_eq!(tables[0]["name"], "a");
    let elsewhere = run(
        "dbcore",
        &[
            "--config-dir",
            config.path_str(),
            "metadata",
            "meta",
            "--table",
            "other.a",
        ],
        &env,
    );
    assert_eq!(elsewhere.code, Some(1), "{elsewhere:?}");
    assert!(
        elsewhere
            .stderr
            .contains("has no table `other.a` in schemas main"),
        "{elsewhere:?}"
    );
}

/// `dbcore targets` lines its columns up however long a path is.
#[test]
fn targets_line_up_their_columns_around_a_long_path() {
    let config = ConfigDir::new();
    let long = format!("/tmp/{}/reports.sqlite3", "deep/".repeat(12));
    config.target(
        "reports",
        &format!("kind = \"sqlite\"\npath = \"{long}\"\n"),
    );
    config.target("broken", "kind = \"oracle\"\n");
    let home = tempfile::tempdir().unwrap();
    let out = run(
        "dbcore",
        &["--config-dir", config.path_str(), "targets"],
        &[("HOME", home.path().to_str().unwrap())],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().skip(1).collect();
    let sources_at = lines[0].find("SOURCES").expect("a header");
    for line in &lines[1..] {
        if line.contains(" error: ") {
            assert!(line.starts_with("broken "), "{line:?}");
            continue;
        }
        assert_eq!(&line[sources_at - 1..sources_at], " ", "{}", out.stdout);
        assert_ne!(&line[sources_at..sources_at + 1], " ", "{}", out.stdout);
    }
    assert!(out.stdout.contains(&long), "{}", out.stdout);
}
