//! The harness's own promise: a test that skips for want of its server says so where a
//! developer looks (the terminal of a bare `cargo test`, without `--nocapture`), is counted in
//! `DBCORE_SKIP_LOG` for `scripts/test`'s closing line, and fails when servers are required.
//!
//! Method: this binary runs itself on the ignored probe below, exactly as `cargo test` would
//! (output captured by libtest), and the test reads what the child printed.

use std::process::{Command, Output};

/// The probe's full name inside this binary.
const PROBE: &str = "integration::harness::skip_probe";

#[test]
#[ignore = "a probe run by `a_skip_is_visible_without_nocapture_and_counted`"]
fn skip_probe() {
    let _: Option<()> = tests::servers::unavailable("ProbeServer", "a probe of the skip line");
}

/// Runs the probe in a child of this binary; `require` sets `DBCORE_REQUIRE_SERVERS=1`.
fn run_probe(require: bool, skip_log: Option<&std::path::Path>) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--ignored", "--exact", PROBE, "--test-threads=2"])
        .env_remove("DBCORE_REQUIRE_SERVERS")
        .env_remove("DBCORE_SKIP_LOG")
        .env_remove("RUST_TEST_NOCAPTURE");
    if require {
        command.env("DBCORE_REQUIRE_SERVERS", "1");
    }
    if let Some(log) = skip_log {
        command.env("DBCORE_SKIP_LOG", log);
    }
    command.output().unwrap()
}

/// What a terminal shows: both streams.
fn shown(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_skip_is_visible_without_nocapture_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("skips");
    let out = run_probe(false, Some(&log));
    let text = shown(&out);
    assert!(out.status.success(), "a skip is not a failure:\n{text}");
    assert!(
        text.contains("1 passed") && !text.contains("0 passed"),
        "the probe ran:\n{text}"
    );
    let line = format!(
        "SKIP: {PROBE}: ProbeServer is not available (a probe of the skip line); run scripts/test to run this test"
    );
    assert!(
        text.lines().any(|l| l.trim() == line),
        "the skip line is not in what the terminal shows:\n{text}"
    );
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        logged.lines().collect::<Vec<_>>(),
        [line.as_str()],
        "one line per skip in DBCORE_SKIP_LOG"
    );

    // Without DBCORE_SKIP_LOG the line is still shown, and no file is needed.
    let out = run_probe(false, None);
    assert!(
        shown(&out).lines().any(|l| l.trim() == line),
        "{}",
        shown(&out)
    );
}

#[test]
fn a_missing_server_fails_when_servers_are_required() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("skips");
    let out = run_probe(true, Some(&log));
    let text = shown(&out);
    assert!(!out.status.success(), "must fail:\n{text}");
    assert!(
        text.contains("ProbeServer is required (DBCORE_REQUIRE_SERVERS=1) but could not be started: a probe of the skip line"),
        "{text}"
    );
    assert!(!log.exists(), "a failure is not counted as a skip");
}

/// A port held for a refused connection is refused, and nobody else can take it meanwhile.
#[test]
fn a_refusing_port_refuses_and_cannot_be_taken() {
    let held = tests::servers::RefusingPort::new().unwrap();
    let taken = std::net::TcpListener::bind(("127.0.0.1", held.port()));
    assert!(
        taken.is_err(),
        "another listener took port {} while it was held",
        held.port()
    );
    let err = std::net::TcpStream::connect(("127.0.0.1", held.port())).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
}
