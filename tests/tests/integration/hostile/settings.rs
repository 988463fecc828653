//! Hostile inputs: target names and setting values. A name from a command line is never a
//! path, a value of any key cannot panic a command, and a secret hidden in a value is refused
//! without being shown.

use std::net::TcpListener;
use std::time::Duration;

use super::files::run_bounded;
use tests::bin::ConfigDir;

const LIMIT: Duration = Duration::from_secs(30);
const CANARY: &str = "canary-hostile-Zq7xW";

/// A listener that records whether anything connected to it.
fn trap() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    (listener, port)
}

fn nothing_connected(listener: &TcpListener) -> bool {
    matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[test]
fn a_target_name_is_never_a_path_and_a_planted_file_is_never_used() {
    let outside = tempfile::tempdir().expect("tempdir");
    let config = ConfigDir::new();
    config.target("lite", "kind = \"sqlite\"\npath = \":memory:\"\n");
    let (listener, port) = trap();
    // A file outside the config directory naming a host the attacker controls.
    let evil = format!(
        "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"app\"\nsources = [\"env\"]\nenv_prefix = \"PROJECT_DB\"\n"
    );
    std::fs::write(outside.path().join("evil.toml"), &evil).expect("write");
    std::fs::write(config.path().join("evil.toml"), &evil).expect("write");
    let absolute = outside.path().join("evil").display().to_string();
    let names = [
        absolute.as_str(),
        "../evil",
        "../../evil",
        "targets/../evil",
        "./lite",
        "././lite",
        "lite.toml",
        "lite/",
        "..",
        "%2e%2e%2fevil",
        "lité",
        "lite\u{202e}",
        " lite",
        "",
    ];
    let long = "x".repeat(65);
    for name in names.iter().copied().chain([long.as_str()]) {
        for command in ["explain", "ping", "metadata"] {
            let run = run_bounded(
                "dbcore",
                &["--config-dir", config.path_str(), command, name],
                &[("HOME", config.path_str()), ("PROJECT_DB_PASSWORD", CANARY)],
                LIMIT,
            );
            assert_eq!(run.code, Some(1), "{command} {name:?}: {run:?}");
            assert!(
                run.stderr.contains("invalid target name"),
                "{command} {name:?}: {run:?}"
            );
            assert!(!run.all_output().contains(CANARY));
        }
    }
    assert!(
        nothing_connected(&listener),
        "a command connected to the host named by a planted file"
    );
}

#[test]
fn no_value_of_a_pool_or_timeout_setting_panics_a_command() {
    let config = ConfigDir::new();
    let env = [("HOME", config.path_str())];
    let cases = [
        "[pool]\nmax_connections = 0\n",
        "[pool]\nmax_connections = -1\n",
        "[pool]\nmax_connections = 4294967296\n",
        "[pool]\nmin_connections = 9\nmax_connections = 3\n",
        "[pool]\nacquire_timeout = 9223372036854775807\n",
        "[pool]\nacquire_timeout = -1\n",
        "[pool]\nidle_timeout = \"400000000years\"\nmax_lifetime = \"400000000years\"\n",
        "[pool]\nidle_timeout = \"0s\"\n",
        "statement_timeout = \"1ns\"\n",
        "connect_timeout = 18446744073709551615\n",
        "port = 65536\n",
        "port = 0\n",
    ];
    for case in cases {
        config.target(
            "t",
            &format!("kind = \"sqlite\"\npath = \":memory:\"\nenv_prefix = \"T\"\n{case}"),
        );
        for command in ["ping", "metadata", "explain"] {
            let run = run_bounded(
                "dbcore",
                &["--config-dir", config.path_str(), command, "t"],
                &env,
                LIMIT,
            );
            assert_eq!(run.code, Some(1), "{case:?} {command}: {run:?}");
            assert!(run.stderr.contains("t.toml"), "{case:?}: {run:?}");
            assert!(!run.stderr.contains("panicked"), "{case:?}: {run:?}");
        }
    }
    config.target(
        "t",
        "kind = \"sqlite\"\npath = \":memory:\"\nenv_prefix = \"T\"\n",
    );
    for (var, value) in [
        ("T_MAX_CONNECTIONS", "0"),
        ("T_MIN_CONNECTIONS", "11"),
        ("T_ACQUIRE_TIMEOUT", "9223372036854775807"),
        ("T_IDLE_TIMEOUT", "18446744073709551615s"),
        ("T_MAX_LIFETIME", "-5s"),
    ] {
        let run = run_bounded(
            "dbcore",
            &["--config-dir", config.path_str(), "ping", "t"],
            &[("HOME", config.path_str()), (var, value)],
            LIMIT,
        );
        assert_eq!(run.code, Some(1), "{var}={value}: {run:?}");
        assert!(!run.stderr.contains("panicked"), "{var}={value}: {run:?}");
        assert!(
            run.stderr.contains(var) || run.stderr.contains("pool.min_connections"),
            "{var}={value}: {run:?}"
        );
    }
    // The largest values allowed still work end to end.
    config.target(
        "t",
        "kind = \"sqlite\"\npath = \":memory:\"\n[pool]\nmax_connections = 10000\nidle_timeout = \"7days\"\nmax_lifetime = \"7days\"\nacquire_timeout = \"7days\"\n",
    );
    let run = run_bounded(
        "dbcore",
        &["--config-dir", config.path_str(), "ping", "t"],
        &env,
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
}

#[test]
fn secrets_hidden_in_values_are_refused_and_never_printed() {
    let config = ConfigDir::new();
    let env = [("HOME", config.path_str())];
    let cases = [
        format!("host = \"app:{CANARY}@db\""),
        format!("host = \"db,app:{CANARY}@replica\""),
        format!("search_path = [\"public\", \"postgres://u:{CANARY}@h/db\"]"),
        format!("schemas = [\"u:{CANARY}@h\"]"),
        format!("application_name = \"host=h password = {CANARY}\""),
        format!("database = \"Pwd={CANARY};x\""),
        format!("port = \"{CANARY}\""),
        format!("sslmode = \"{CANARY}\""),
        format!("sources = [\"{CANARY}\"]"),
        format!("[vault]\naddress = \"http://root:{CANARY}@127.0.0.1:1\""),
    ];
    for case in &cases {
        config.target(
            "t",
            &format!("kind = \"postgres\"\nenv_prefix = \"T\"\n{case}\n"),
        );
        for format in ["text", "json"] {
            let run = run_bounded(
                "dbcore",
                &[
                    "--config-dir",
                    config.path_str(),
                    "--format",
                    format,
                    "explain",
                    "t",
                ],
                &env,
                LIMIT,
            );
            assert_eq!(run.code, Some(1), "{case}: {run:?}");
            assert!(run.stderr.contains("t.toml line"), "{case}: {run:?}");
            assert!(!run.all_output().contains(CANARY), "{case}: {run:?}");
        }
        let targets = run_bounded(
            "dbcore",
            &["--config-dir", config.path_str(), "targets"],
            &env,
            LIMIT,
        );
        assert!(
            !targets.all_output().contains(CANARY),
            "{case}: {targets:?}"
        );
    }
}

#[test]
fn explain_never_prints_userinfo_it_finds_in_the_environment() {
    let config = ConfigDir::new();
    config.target(
        "v",
        "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = 1\nuser = \"app\"\nsources = [\"vault\", \"env\", \"pgpass\"]\nenv_prefix = \"V\"\n[vault]\nauth = \"token\"\nkv = { mount = \"secret\", path = \"app\" }\n",
    );
    let addr = format!("http://root:{CANARY}@127.0.0.1:1");
    let pgpass = config.path().join(format!("a:{CANARY}@b"));
    let pgpass = pgpass.display().to_string();
    for format in ["text", "json"] {
        let run = run_bounded(
            "dbcore",
            &[
                "--config-dir",
                config.path_str(),
                "--format",
                format,
                "explain",
                "v",
            ],
            &[
                ("HOME", config.path_str()),
                ("VAULT_ADDR", &addr),
                ("VAULT_TOKEN", "hvs.x"),
                ("V_PGPASS", &pgpass),
                ("RUST_LOG", "trace"),
            ],
            LIMIT,
        );
        assert!(!run.all_output().contains(CANARY), "{format}: {run:?}");
    }
}

/// A password may hold any printable character: whatever punctuation it holds (`;`, `/`, `"`,
/// `,`, `(`, `#`), and whatever key introduces it (`sslpassword=`, `MYSQL_PWD=`, a quoted
/// libpq value), no part of it is accepted as a setting or printed by explain.
#[test]
fn secrets_with_punctuation_in_the_environment_are_refused_or_redacted_whole() {
    let config = ConfigDir::new();
    config.target(
        "v",
        "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = 1\nuser = \"app\"\nsources = [\"vault\", \"env\", \"pgpass\"]\nenv_prefix = \"V\"\n[vault]\nauth = \"token\"\nkv = { mount = \"secret\", path = \"app\" }\n",
    );
    let (head, tail) = CANARY.split_at(7);
    for punct in [";", "/", "\"", ",", "(", "#", "<"] {
        let password = format!("{head}{punct}{tail}");
        let values = [
            ("V_HOST", format!("app:{password}@db")),
            ("V_DATABASE", format!("db sslpassword={password}")),
            ("V_APPLICATION_NAME", format!("x MYSQL_PWD={password}")),
            ("V_HOST", format!("db password='{head} {tail}'")),
            ("VAULT_ADDR", format!("http://root:{password}@127.0.0.1:1")),
            (
                "V_PGPASS",
                config
                    .path()
                    .join(format!("a:{password}@b"))
                    .display()
                    .to_string(),
            ),
        ];
        for (var, value) in &values {
            let run = run_bounded(
                "dbcore",
                &["--config-dir", config.path_str(), "explain", "v"],
                &[
                    ("HOME", config.path_str()),
                    ("VAULT_TOKEN", "hvs.x"),
                    (var, value),
                ],
                LIMIT,
            );
            let out = run.all_output();
            assert!(
                !out.contains(head) && !out.contains(tail),
                "{var}={value:?}: {run:?}"
            );
        }
    }
}
