//! `dbcore explain` says which configured sources the chain never reached: a different
//! password there would go unnoticed. No server is needed: explain resolves, it does not
//! connect.

use tests::bin::{ConfigDir, run};

#[test]
fn explain_names_the_sources_an_earlier_answer_left_unconsulted() {
    let config = ConfigDir::new();
    config.target(
        "t",
        "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = 5999\nuser = \"u\"\nsources = [\"env\", \"pgpass\"]\nenv_prefix = \"EXS\"\n",
    );
    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().to_str().unwrap();
    let explain = |env: &[(&str, &str)], json: bool| {
        let mut args = vec!["--config-dir", config.path_str()];
        if json {
            args.extend(["--format", "json"]);
        }
        args.extend(["explain", "t"]);
        run("dbcore", &args, env)
    };
    let found = [("HOME", home_s), ("EXS_PASSWORD", "canary-exs")];
    let text = explain(&found, false);
    assert_eq!(text.code, Some(0), "{text:?}");
    assert!(
        text.stdout
            .contains("not consulted: pgpass (an earlier source answered)"),
        "{text:?}"
    );
    let json = explain(&found, true).json();
    assert_eq!(json["not_consulted"], serde_json::json!(["pgpass"]));
    assert_eq!(
        json["settings"]["port"]["value"], 5999,
        "a port is a number"
    );
    assert_eq!(
        json["settings"]["sources"]["value"],
        serde_json::json!(["env", "pgpass"])
    );

    // With nothing in the environment, both are asked and none is left out.
    let none = [("HOME", home_s)];
    let json = explain(&none, true).json();
    assert_eq!(json["not_consulted"], serde_json::json!([]));
    let text = explain(&none, false);
    assert!(!text.stdout.contains("not consulted"), "{text:?}");
}
