//! Settings under hostile input: values that would panic sqlx or tokio, secrets hidden in
//! values, and arbitrary bytes. Every case must end in an error that names the file or
//! variable and never echoes the value.
#![allow(clippy::unwrap_used)]

use super::*;
use domain::MapEnv;
use proptest::prelude::Strategy as _;

const CANARY: &str = "canary-Zq7xW";

fn load_file(text: &str) -> Result<Settings, SettingsError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("targets")).unwrap();
    std::fs::write(dir.path().join("targets/t.toml"), text).unwrap();
    Settings::load("t", None, Some(dir.path()), &MapEnv::new())
}

fn load_env(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("targets")).unwrap();
    std::fs::write(
        dir.path().join("targets/t.toml"),
        "kind = \"postgres\"\nhost = \"db\"\nenv_prefix = \"PROJECT_DB\"\n",
    )
    .unwrap();
    let env = vars
        .iter()
        .fold(MapEnv::new(), |env, (var, value)| env.with(*var, *value));
    Settings::load("t", None, Some(dir.path()), &env)
}

#[test]
fn pool_sizes_sqlx_would_panic_on_are_refused_from_files_and_the_environment() {
    for (text, expected) in [
        (
            "kind = \"postgres\"\n[pool]\nmax_connections = 0\n",
            "key `pool.max_connections`: got 0, out of range; allowed: an integer from 1 to 10000",
        ),
        (
            "kind = \"postgres\"\n[pool]\nmax_connections = 9223372036854775807\n",
            "got 9223372036854775807, out of range",
        ),
        (
            "kind = \"postgres\"\n[pool]\nmin_connections = 5\nmax_connections = 2\n",
            "pool.min_connections (5, from file:",
        ),
        (
            "kind = \"postgres\"\n[pool]\nmin_connections = 11\n",
            "is more than pool.max_connections (10, from sqlx's default)",
        ),
    ] {
        let error = load_file(text).unwrap_err().to_string();
        assert!(error.contains(expected), "{text:?}: {error}");
    }
    let error = load_env(&[("PROJECT_DB_MAX_CONNECTIONS", "0")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "PROJECT_DB_MAX_CONNECTIONS: got 0, out of range; allowed: an integer from 1 to 10000"
    );
}

#[test]
fn durations_that_would_overflow_an_instant_are_refused() {
    for value in [
        "9223372036854775807",
        "\"9223372036854775807s\"",
        "\"500000000years\"",
        "\"8days\"",
        "0",
        "\"0s\"",
        "\"10ns\"",
    ] {
        for key in [
            "connect_timeout",
            "statement_timeout",
            "pool.acquire_timeout",
            "pool.idle_timeout",
            "pool.max_lifetime",
        ] {
            let text = match key.split_once('.') {
                Some((table, key)) => format!("kind = \"postgres\"\n[{table}]\n{key} = {value}\n"),
                None => format!("kind = \"postgres\"\n{key} = {value}\n"),
            };
            let error = load_file(&text).unwrap_err().to_string();
            assert!(
                error.contains("allowed: a duration from 1ms to 7days"),
                "{key} = {value}: {error}"
            );
        }
    }
    let ok =
        load_file("kind = \"postgres\"\n[pool]\nidle_timeout = \"7days\"\nmax_lifetime = 604800\n")
            .unwrap();
    assert_eq!(ok.spec().options.pool.max_lifetime, Some(MAX_DURATION));
    let error = load_env(&[("PROJECT_DB_ACQUIRE_TIMEOUT", "9223372036854775807")])
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("PROJECT_DB_ACQUIRE_TIMEOUT: got "),
        "{error}"
    );
}

#[test]
fn secrets_hidden_anywhere_in_a_file_refuse_the_whole_file_without_showing_them() {
    for text in [
        format!("kind = \"postgres\"\nhost = \"app:{CANARY}@db\"\n"),
        format!(
            "kind = \"postgres\"\nsearch_path = [\"public\", \"postgres://u:{CANARY}@h/db\"]\n"
        ),
        format!("kind = \"postgres\"\nschemas = [\"a\", \"u:{CANARY}@h\"]\n"),
        format!("kind = \"postgres\"\napplication_name = \"host=db password={CANARY}\"\n"),
        format!("kind = \"postgres\"\ndatabase = \"db PWD = {CANARY}\"\n"),
        format!("kind = \"postgres\"\n[vault]\naddress = \"https://{CANARY}@vault:8200\"\n"),
        format!("kind = \"postgres\"\n[vault]\nkv = {{ path = \"x password={CANARY}\" }}\n"),
        format!("kind = \"postgres\"\nunknown = [[\"x\", \"a:{CANARY}@b\"]]\n"),
    ] {
        let error = load_file(&text).unwrap_err().to_string();
        assert!(
            error.contains("target files never hold secrets"),
            "{text}: {error}"
        );
        assert!(!error.contains(CANARY), "{error}");
    }
}

#[test]
fn a_wrongly_typed_value_is_described_never_echoed() {
    for text in [
        format!("kind = \"postgres\"\nport = \"{CANARY}\"\n"),
        format!("kind = \"{CANARY}\"\n"),
        format!("kind = \"postgres\"\nsslmode = \"{CANARY}\"\n"),
        format!("kind = \"postgres\"\nsources = [\"env\", \"{CANARY}\"]\n"),
        format!("kind = \"postgres\"\nsearch_path = \"{CANARY}\"\n"),
        format!("kind = \"postgres\"\n[pool]\nmax_connections = \"{CANARY}\"\n"),
        format!("kind = \"postgres\"\n[vault]\nauth = \"{CANARY}\"\n"),
    ] {
        let error = load_file(&text).unwrap_err().to_string();
        assert!(!error.contains(CANARY), "{error}");
        assert!(error.contains("t.toml line"), "{error}");
    }
    let error = load_file(&format!("kind = \"postgres\"\nport = \"{CANARY}\"\n"))
        .unwrap_err()
        .to_string();
    assert!(error.ends_with(
        "key `port`: got a string of 12 characters; allowed: an integer from 1 to 65535, or a list of them, one per host (comma-separated in the environment)"
    ));
}

#[test]
fn a_host_never_holds_userinfo_even_with_spaces_in_the_password() {
    for host in [
        format!("app:{CANARY} x@db"),
        format!("app:{CANARY}\t@db"),
        format!("{CANARY}@db"),
        format!("db\n{CANARY}"),
    ] {
        let error = load_env(&[("PROJECT_DB_HOST", host.as_str())])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("PROJECT_DB_HOST: "), "{error}");
        assert!(!error.contains(CANARY), "{error}");
        let text = format!("kind = \"postgres\"\nhost = {host:?}\n");
        let error = load_file(&text).unwrap_err().to_string();
        assert!(!error.contains(CANARY), "{error}");
    }
    let socket = load_env(&[("PROJECT_DB_HOST", "/run/my postgres")]).unwrap();
    assert_eq!(socket.identity().host.as_deref(), Some("/run/my postgres"));
}

#[test]
fn environment_values_are_filtered_and_never_echoed() {
    for (var, value) in [
        ("PROJECT_DB_HOST", format!("app:{CANARY}@db")),
        (
            "PROJECT_DB_SEARCH_PATH",
            format!("public,postgres://u:{CANARY}@h"),
        ),
        ("PROJECT_DB_APPLICATION_NAME", format!("password={CANARY}")),
        ("PROJECT_DB_PORT", CANARY.to_owned()),
        ("PROJECT_DB_SOURCES", format!("env,{CANARY}")),
        ("PROJECT_DB_KIND", CANARY.to_owned()),
    ] {
        let error = load_env(&[(var, value.as_str())]).unwrap_err().to_string();
        assert!(error.starts_with(var), "{error}");
        assert!(!error.contains(CANARY), "{error}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Arbitrary bytes as a target file: an error or settings, never a panic, and a canary
    /// placed anywhere in the file never reaches the error.
    #[test]
    fn any_file_loads_or_fails_cleanly(
        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        at in 0usize..200,
    ) {
        let mut bytes = bytes;
        let at = at.min(bytes.len());
        bytes.splice(at..at, CANARY.bytes());
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("targets")).unwrap();
        std::fs::write(dir.path().join("targets/t.toml"), &bytes).unwrap();
        if let Err(error) = Settings::load("t", None, Some(dir.path()), &MapEnv::new()) {
            proptest::prop_assert!(!error.to_string().contains(CANARY), "{}", error);
        }
    }

    /// Structured but hostile files: every key with values of every type and size.
    #[test]
    fn any_value_of_any_key_loads_or_fails_cleanly(
        key in proptest::sample::select(fields::all_keys()),
        value in proptest::prop_oneof![
            proptest::num::i64::ANY.prop_map(|i| i.to_string()),
            "\\PC{0,20}".prop_map(|s| format!("{s:?}")),
            proptest::prelude::Just("true".to_owned()),
            proptest::prelude::Just(format!("[\"{CANARY}\", 1]")),
            proptest::prelude::Just(format!("\"{CANARY}\"")),
        ],
    ) {
        let text = match key.rsplit_once('.') {
            Some((table, name)) => format!("kind = \"postgres\"\n[{table}]\n{name} = {value}\n"),
            None => format!("kind = \"postgres\"\n{key} = {value}\n"),
        };
        match load_file(&text) {
            Err(error) => proptest::prop_assert!(!error.to_string().contains(CANARY), "{}", error),
            Ok(settings) => {
                // Whatever loaded must be safe to hand to sqlx.
                let pool = settings.spec().options.pool;
                proptest::prop_assert!(pool.max_connections.is_none_or(|n| n >= 1));
                for d in [pool.acquire_timeout, pool.idle_timeout, pool.max_lifetime].into_iter().flatten() {
                    proptest::prop_assert!(d <= MAX_DURATION);
                }
            }
        }
    }

    /// Arbitrary environment values for every variable.
    #[test]
    fn any_environment_value_loads_or_fails_cleanly(
        suffix in proptest::sample::select(ENV_KEYS.iter().map(|k| k.suffix).collect::<Vec<_>>()),
        value in "\\PC{0,30}",
    ) {
        let var = format!("PROJECT_DB_{suffix}");
        let value = format!("{value}{CANARY}");
        if let Err(error) = load_env(&[(var.as_str(), value.as_str())]) {
            proptest::prop_assert!(!error.to_string().contains(CANARY), "{}", error);
        }
    }
}
