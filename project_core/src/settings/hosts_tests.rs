//! Several hosts and ports: how they pair up, where they are refused, how they show.

use super::*;
use domain::{Endpoint, MapEnv, SessionAttrs};

fn load(text: &str, env: &MapEnv) -> Result<Settings, SettingsError> {
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets");
    std::fs::create_dir_all(&targets).unwrap();
    std::fs::write(targets.join("t.toml"), text).unwrap();
    Settings::load("t", None, Some(dir.path()), env)
}

fn endpoint(host: &str, port: Option<u16>) -> Endpoint {
    Endpoint {
        host: host.into(),
        port,
    }
}

#[test]
fn hosts_pair_with_one_port_or_one_port_each() {
    let env = MapEnv::new();
    let one_port = load(
        "kind = \"postgres\"\nhost = [\"a\", \"/run/pg\"]\nport = 5433\n",
        &env,
    )
    .unwrap();
    assert_eq!(
        one_port.endpoints(),
        [endpoint("a", Some(5433)), endpoint("/run/pg", Some(5433))]
    );
    assert_eq!(
        one_port.identity().host.as_deref(),
        Some("a"),
        "the first host is the identity's"
    );
    let each = load("kind = \"postgres\"\nhost = \"a,b\"\nport = [5433, 5434]\ntarget_session_attrs = \"read-write\"\n", &env).unwrap();
    assert_eq!(
        each.endpoints(),
        [endpoint("a", Some(5433)), endpoint("b", Some(5434))]
    );
    assert_eq!(
        each.spec().options.target_session_attrs,
        Some(SessionAttrs::ReadWrite)
    );
    assert_eq!(each.location(), "a:5433,b:5434/");
    let no_port = load("kind = \"postgres\"\nhost = [\"a\", \"b\"]\n", &env).unwrap();
    assert_eq!(
        no_port.endpoints(),
        [endpoint("a", None), endpoint("b", None)]
    );
    // One host stays a one-host target.
    let single = load("kind = \"postgres\"\nhost = \"a\"\nport = 5433\n", &env).unwrap();
    assert!(single.endpoints().is_empty());
    assert_eq!(single.identity().port, Some(5433));
}

#[test]
fn the_environment_sets_lists_with_commas() {
    let env = MapEnv::new()
        .with("E_HOST", "x,y")
        .with("E_PORT", "1,2")
        .with("E_TARGET_SESSION_ATTRS", "prefer-standby")
        .with("E_LOAD_BALANCE_HOSTS", "random");
    let settings = load("kind = \"postgres\"\nenv_prefix = \"E\"\n", &env).unwrap();
    assert_eq!(
        settings.endpoints(),
        [endpoint("x", Some(1)), endpoint("y", Some(2))]
    );
    assert_eq!(
        settings.spec().options.load_balance_hosts,
        Some(domain::LoadBalance::Random)
    );
    assert_eq!(settings.origin("host").unwrap().to_string(), "env:E_HOST");
}

#[test]
fn counts_that_do_not_pair_and_lists_for_other_kinds_are_refused_by_name() {
    let env = MapEnv::new();
    let error = |text: &str| load(text, &env).unwrap_err().to_string();
    let mismatch = error("kind = \"postgres\"\nhost = [\"a\", \"b\", \"c\"]\nport = [1, 2]\n");
    assert!(
        mismatch.contains(
            "port has 2 entries but host has 3; allowed: one port for every host, or one per host"
        ),
        "{mismatch}"
    );
    let ports_only = error("kind = \"postgres\"\nport = [1, 2]\n");
    assert!(ports_only.contains("but host has 0"), "{ports_only}");
    let mysql = error("kind = \"mysql\"\nhost = [\"a\", \"b\"]\n");
    assert!(mysql.contains("for postgres targets only"), "{mysql}");
    let empty = error("kind = \"postgres\"\nhost = []\n");
    assert!(empty.contains("got an empty array"), "{empty}");
    let attrs = error("kind = \"postgres\"\ntarget_session_attrs = \"read_write\"\n");
    assert!(
        attrs.contains("one of any, read-write, read-only, primary, standby, prefer-standby"),
        "{attrs}"
    );
}
