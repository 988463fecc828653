//! Hostile inputs: how the command line is driven. A pipeline whose reader goes away, numbers
//! at zero and beyond any range, no terminal where one would be prompted on.

use std::time::Duration;

use super::files::run_bounded;
use tests::bin::{ConfigDir, path};

/// Runs a binary whose standard output is a pipe closed before it writes anything, as in
/// `dbcore explain laptop | head -0`: the command must end quietly, without a panic.
fn run_into_closed_pipe(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = std::process::Command::new(path("dbcore"));
    command
        .args(args)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("admin starts");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("admin ends");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn commands_end_quietly_when_their_reader_goes_away() {
    let config = ConfigDir::new();
    config.target("lite", "kind = \"sqlite\"\npath = \":memory:\"\n");
    let dir = config.path_str();
    let env = [("HOME", dir)];
    let commands: &[&[&str]] = &[
        &["--config-dir", dir, "explain", "lite"],
        &["--config-dir", dir, "--format", "json", "explain", "lite"],
        &["--config-dir", dir, "targets"],
        &["--config-dir", dir, "ping", "lite"],
        &["--config-dir", dir, "metadata", "lite"],
        &[
            "--config-dir",
            dir,
            "ping",
            "lite",
            "--watch",
            "--duration",
            "300ms",
            "--interval",
            "100ms",
        ],
        &["completions", "bash"],
        &["completions", "zsh"],
        &["completions", "fish"],
        &["completions", "elvish"],
        &["completions", "powershell"],
    ];
    for args in commands {
        let (code, stderr) = run_into_closed_pipe(args, &env);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} said something: {stderr}");
    }
}

#[test]
fn watch_numbers_out_of_range_are_refused_by_name() {
    let config = ConfigDir::new();
    config.target("lite", "kind = \"sqlite\"\npath = \":memory:\"\n");
    let dir = config.path_str();
    for (flag, value) in [
        ("--interval", "0s"),
        ("--interval", "0"),
        ("--interval", "9223372036854775807s"),
        ("--interval", "-1s"),
        ("--duration", "0ms"),
        ("--duration", "584942417355years"),
        ("--concurrency", "0"),
        ("--concurrency", "-1"),
        ("--concurrency", "9223372036854775807"),
        ("--concurrency", "1025"),
    ] {
        let flag_value = format!("{flag}={value}");
        let run = run_bounded(
            "dbcore",
            &["--config-dir", dir, "ping", "lite", "--watch", &flag_value],
            &[("HOME", dir)],
            Duration::from_secs(20),
        );
        assert_eq!(run.code, Some(2), "{flag} {value}: {run:?}");
        assert!(
            run.stderr
                .contains(&format!("invalid value '{value}' for '{flag}")),
            "{flag} {value}: {run:?}"
        );
        assert!(!run.stderr.contains("panicked"), "{run:?}");
    }
}

#[test]
fn a_secret_prompt_without_a_terminal_says_how_to_give_the_password() {
    let config = ConfigDir::new();
    config.target(
        "k",
        "kind = \"postgres\"\nhost = \"127.0.0.1\"\nuser = \"app\"\nsources = [\"keyring\"]\n[keyring]\nstore = \"keyutils\"\n",
    );
    let dir = config.path_str();
    // setsid: a new session has no controlling terminal, so /dev/tty cannot be opened.
    let run = tests::bin::run_shell(
        &format!("setsid \"$ADMIN\" --config-dir {dir} secret set k < /dev/null"),
        &[("HOME", dir)],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("there is no terminal to prompt for the password on")
            && run.stderr.contains("--stdin"),
        "{run:?}"
    );
}

/// A PostgreSQL error is reported with its SQLSTATE, not with sqlx's "at line 3211" (a line of
/// the server's C source, printed beside pgpass's own line numbers).
#[tokio::test]
async fn server_errors_name_their_sqlstate_not_a_server_source_line() {
    let Some(pg) = tests::pg::cluster() else {
        return;
    };
    pg.create_role_and_database("cosmetic", "right-password")
        .await;
    let config = ConfigDir::new();
    config.target(
        "t",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"cosmetic\"\nuser = \"cosmetic\"\nsources = [\"pgpass\"]\nenv_prefix = \"T\"\n",
            pg.port()
        ),
    );
    let pgpass = config.secret_file("pgpass", "*:*:*:*:wrong-password\n");
    let dir = config.path_str();
    let run = run_bounded(
        "dbcore",
        &["--config-dir", dir, "ping", "t"],
        &[("HOME", dir), ("T_PGPASS", &pgpass)],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("(SQLSTATE 28P01)"), "{run:?}");
    assert!(!run.stderr.contains(" at line "), "{run:?}");
    assert!(
        run.stderr.contains("pgpass line 1") || run.stderr.contains(" line 1"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("target ``"), "{run:?}");
}
