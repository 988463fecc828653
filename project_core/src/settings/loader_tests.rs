//! What the settings loader promises, one test per promise, for the lines a mutation run
//! (`scripts/mutants project_core`) found no other test guarding: config and target
//! discovery, derived defaults per kind, the checks across keys and the typed accessors.

use std::time::Duration;

use super::values::SettingValue;
use super::*;
use crate::chain::order;
use domain::MapEnv;

pub(super) fn config_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets");
    std::fs::create_dir_all(&targets).unwrap();
    for (name, text) in files {
        std::fs::write(targets.join(name), text).unwrap();
    }
    dir
}

fn load(dir: &tempfile::TempDir, name: &str, env: &MapEnv) -> Result<Settings, SettingsError> {
    Settings::load(name, None, Some(dir.path()), env)
}

#[test]
fn file_targets_are_the_valid_toml_stems_in_order() {
    let dir = config_with(&[
        ("prod.toml", "kind = \"postgres\"\n"),
        ("a-lite.toml", "kind = \"sqlite\"\npath = \":memory:\"\n"),
        ("notes.txt", ""),
        ("bad name.toml", "kind = \"sqlite\"\n"),
        ("prod.toml.bak", ""),
    ]);
    assert_eq!(file_targets(dir.path()), ["a-lite", "prod"]);
    let nothing = tempfile::tempdir().unwrap();
    assert!(file_targets(nothing.path()).is_empty());
}

#[test]
fn each_kind_gets_its_usual_sources_and_the_login_name_only_when_it_has_credentials() {
    let dir = config_with(&[
        ("pg.toml", "kind = \"postgres\"\n"),
        ("my.toml", "kind = \"mysql\"\n"),
        ("lite.toml", "kind = \"sqlite\"\npath = \":memory:\"\n"),
        (
            "named.toml",
            "kind = \"postgres\"\nuser = \"bob\"\nsources = [\"file\"]\n",
        ),
    ]);
    let env = MapEnv::new().with("USER", "alice");
    let pg = load(&dir, "pg", &env).unwrap();
    assert_eq!(pg.sources(), None, "unset: chain decides");
    assert_eq!(order(&pg), [SourceKind::Env, SourceKind::Pgpass]);
    assert_eq!(pg.identity().user.as_deref(), Some("alice"));
    let my = load(&dir, "my", &env).unwrap();
    assert_eq!(order(&my), [SourceKind::Env, SourceKind::MyCnf]);
    let lite = load(&dir, "lite", &env).unwrap();
    assert!(order(&lite).is_empty());
    assert_eq!(lite.identity().user, None, "sqlite has no user");
    let named = load(&dir, "named", &env).unwrap();
    assert_eq!(named.identity().user.as_deref(), Some("bob"), "set wins");
    assert_eq!(named.sources(), Some(&[SourceKind::File][..]));
    assert_eq!(order(&named), [SourceKind::File]);
    // An empty list is "no source", not "the usual ones" (it once vanished in the merge).
    let none = config_with(&[("none.toml", "kind = \"postgres\"\nsources = []\n")]);
    let none = load(&none, "none", &env).unwrap();
    assert_eq!(none.sources(), Some(&[][..]));
    assert!(order(&none).is_empty());
    let none_from_env = load(
        &dir,
        "pg",
        &MapEnv::new().with("PROJECT_DB_PG_SOURCES", " , "),
    )
    .unwrap();
    assert!(
        order(&none_from_env).is_empty(),
        "an empty list from the environment too"
    );
}

#[test]
fn sources_are_shown_comma_separated_and_none_as_a_dash() {
    let shown = |value: serde_json::Value| {
        Entry {
            key: "k".into(),
            value,
            origin: Origin::code_default(),
        }
        .shown()
    };
    let json = |v: &dyn erased::Canon| v.json();
    assert_eq!(shown(json(&Sources(Vec::new()))), "-");
    assert_eq!(
        shown(json(&Sources(vec![SourceKind::Env, SourceKind::Pgpass]))),
        "env,pgpass"
    );
    assert_eq!(shown(json(&Names(vec!["a".into(), "b".into()]))), "a,b");
    assert_eq!(shown(json(&Port::from_env("5432").unwrap())), "5432");
    assert_eq!(shown(json(&TimeSpan(Duration::from_millis(250)))), "250ms");
}

mod erased {
    /// A setting value as the JSON `explain` shows.
    pub trait Canon {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Canon for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap()
        }
    }
}

#[test]
fn a_secret_inside_a_nested_table_refuses_the_file() {
    let dir = config_with(&[(
        "t.toml",
        "kind = \"postgres\"\n[vault]\naddress = \"http://127.0.0.1:8200\"\n[vault.kv]\nmount = \"u:canary-n1@db\"\n",
    )]);
    let error = load(&dir, "t", &MapEnv::new()).unwrap_err().to_string();
    assert!(error.contains("user information"), "{error}");
    assert!(!error.contains("canary-n1"), "{error}");
}

#[test]
fn sqlite_needs_a_path_and_a_pool_may_have_min_equal_to_max() {
    let dir = config_with(&[
        ("nopath.toml", "kind = \"sqlite\"\n"),
        (
            "even.toml",
            "kind = \"postgres\"\n[pool]\nmin_connections = 3\nmax_connections = 3\n",
        ),
        (
            "more.toml",
            "kind = \"postgres\"\n[pool]\nmin_connections = 4\nmax_connections = 3\n",
        ),
    ]);
    let error = load(&dir, "nopath", &MapEnv::new())
        .unwrap_err()
        .to_string();
    assert!(error.contains("kind sqlite needs `path`"), "{error}");
    assert!(load(&dir, "even", &MapEnv::new()).is_ok());
    let error = load(&dir, "more", &MapEnv::new()).unwrap_err().to_string();
    assert!(error.contains("pool.min_connections (4"), "{error}");
}

#[test]
fn typed_accessors_read_back_what_the_file_set() {
    let dir = config_with(&[(
        "v.toml",
        "kind = \"postgres\"\n[vault]\naddress = \"http://127.0.0.1:8200\"\nallow_http = true\ntoken_file = \"/run/token\"\n",
    )]);
    let s = load(&dir, "v", &MapEnv::new()).unwrap();
    assert_eq!(s.file(), Some(dir.path().join("targets/v.toml").as_path()));
    let vault = &s.values().vault;
    assert_eq!(vault.allow_http, Some(Flag(true)));
    assert_eq!(vault.address, Some(Text("http://127.0.0.1:8200".into())));
    assert_eq!(s.values().pool.test_before_acquire, None, "unset");
    assert_eq!(vault.token_file, Some(FilePath("/run/token".into())));
    let off = config_with(&[(
        "w.toml",
        "kind = \"postgres\"\n[vault]\nallow_http = false\n",
    )]);
    let s = load(&off, "w", &MapEnv::new()).unwrap();
    assert_eq!(s.values().vault.allow_http, Some(Flag(false)));
}

#[test]
fn keyring_service_schemas_and_cache_name_read_back_with_their_defaults() {
    let dir = config_with(&[
        (
            "set.toml",
            "kind = \"postgres\"\nschemas = [\"a\", \"b\"]\ncache_name = \"shared\"\n[keyring]\nservice = \"svc\"\n",
        ),
        ("pg.toml", "kind = \"postgres\"\nschemas = []\n"),
        ("my.toml", "kind = \"mysql\"\ndatabase = \"shop\"\n"),
        ("nodb.toml", "kind = \"mysql\"\n"),
        ("lite.toml", "kind = \"sqlite\"\npath = \":memory:\"\n"),
    ]);
    let env = MapEnv::new();
    let set = load(&dir, "set", &env).unwrap();
    assert_eq!(set.keyring_service(), Some("svc"));
    assert_eq!(set.schemas(), ["a", "b"]);
    assert_eq!(set.cache_name(), "shared");
    let pg = load(&dir, "pg", &env).unwrap();
    assert_eq!(pg.keyring_service(), None);
    assert_eq!(pg.schemas(), ["public"], "an empty list means the default");
    assert_eq!(pg.cache_name(), "pg_metadata");
    assert_eq!(load(&dir, "my", &env).unwrap().schemas(), ["shop"]);
    assert!(load(&dir, "nodb", &env).unwrap().schemas().is_empty());
    assert_eq!(load(&dir, "lite", &env).unwrap().schemas(), ["main"]);
}

#[test]
fn entries_list_every_setting_with_its_origin_and_the_spec_carries_lists_and_flags() {
    let dir = config_with(&[(
        "t.toml",
        "kind = \"postgres\"\nhost = \"db\"\nport = 5433\ndatabase = \"app\"\nsearch_path = [\"s1\", \"public\"]\n[pool]\ntest_before_acquire = false\n",
    )]);
    let s = load(&dir, "t", &MapEnv::new().with("USER", "u")).unwrap();
    let entries: Vec<(String, String, String)> = s
        .entries()
        .into_iter()
        .map(|e| (e.key.clone(), e.shown(), e.origin.to_string()))
        .collect();
    let file = format!(
        "file:{} line 2",
        dir.path().join("targets/t.toml").display()
    );
    assert!(
        entries.contains(&("host".into(), "db".into(), file.clone())),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("user".into(), "u".into(), "default".into())),
        "{entries:?}"
    );
    let port = s.entries().into_iter().find(|e| e.key == "port").unwrap();
    assert_eq!(port.value, serde_json::json!(5433), "a port is a number");
    let spec = s.spec();
    assert_eq!(
        spec.options.search_path,
        Some(vec!["s1".to_owned(), "public".to_owned()])
    );
    assert_eq!(spec.options.pool.test_before_acquire, Some(false));
    assert_eq!(s.location(), "db:5433/app");
}

#[test]
fn the_location_is_the_sqlite_path_or_host_port_and_database_with_defaults() {
    let dir = config_with(&[
        ("lite.toml", "kind = \"sqlite\"\npath = \"/data/x.db\"\n"),
        ("bare.toml", "kind = \"postgres\"\n"),
    ]);
    let env = MapEnv::new();
    assert_eq!(load(&dir, "lite", &env).unwrap().location(), "/data/x.db");
    assert_eq!(
        load(&dir, "bare", &env).unwrap().location(),
        "localhost:default/"
    );
}

#[test]
fn the_default_application_name_is_the_running_binary() {
    let dir = config_with(&[("t.toml", "kind = \"postgres\"\n")]);
    let s = load(&dir, "t", &MapEnv::new()).unwrap();
    let binary = std::env::current_exe().unwrap();
    let stem = binary.file_stem().unwrap().to_str().unwrap();
    assert_eq!(s.spec().options.application_name.as_deref(), Some(stem));
    assert_eq!(s.origin("application_name"), Some(&Origin::code_default()));
}

#[test]
fn a_table_that_is_not_a_settings_table_is_an_unknown_key() {
    let dir = config_with(&[("t.toml", "kind = \"postgres\"\n[bogus]\nhost = \"x\"\n")]);
    let error = load(&dir, "t", &MapEnv::new()).unwrap_err().to_string();
    assert!(error.contains("unknown key `bogus`"), "{error}");
}

#[test]
fn hosts_from_the_environment_refuse_spaces_except_in_a_socket_directory_and_ports_refuse_zero() {
    let dir = config_with(&[("t.toml", "kind = \"postgres\"\nenv_prefix = \"T\"\n")]);
    let with = |name: &str, value: &str| {
        load(&dir, "t", &MapEnv::new().with(name, value)).map(|s| s.identity())
    };
    let error = with("T_HOST", "db host").unwrap_err().to_string();
    assert!(error.contains("a space at position 3"), "{error}");
    let error = with("T_HOST", "db\u{7}x").unwrap_err().to_string();
    assert!(
        error.contains("a control character at position 3"),
        "{error}"
    );
    assert_eq!(
        with("T_HOST", "/run/my sockets").unwrap().host.as_deref(),
        Some("/run/my sockets")
    );
    let error = with("T_PORT", "0").unwrap_err().to_string();
    assert!(error.contains("got 0, out of range"), "{error}");
    assert_eq!(with("T_PORT", "1").unwrap().port, Some(1));
}

#[test]
fn errors_name_the_line_of_the_key_wherever_the_file_writes_it() {
    let cases = [
        // In its table.
        ("kind = \"postgres\"\n\n[pool]\nmax_connections = 0\n", 4),
        // As a dotted key at the top level.
        (
            "kind = \"postgres\"\nhost = \"db\"\npool.max_connections = 0\n",
            3,
        ),
        // As a dotted key under its parent's header.
        ("kind = \"postgres\"\n[vault]\nkv . version = 3\n", 3),
        // Quoted, after another table that has a key of the same name.
        (
            "kind = \"postgres\"\n[vault.kv]\nmount = \"m\"\n[vault.database]\n\"mount\" = 0\n",
            5,
        ),
        // A quoted key with a dot in it is one key, not a path.
        (
            "kind = \"postgres\"\n\"pool.max_connections\" = 1\n[pool]\nmax_connections = 0\n",
            2,
        ),
        // A table header written with quotes.
        (
            "kind = \"postgres\"\n[\"pool\"]\n'max_connections' = 0\n",
            3,
        ),
        // A top-level key.
        ("kind = \"postgres\"\nport = 0\n", 2),
    ];
    for (text, line) in cases {
        let dir = config_with(&[("t.toml", text)]);
        let error = load(&dir, "t", &MapEnv::new()).unwrap_err().to_string();
        assert!(
            error.contains(&format!(" line {line}:")),
            "{text:?}: {error}"
        );
    }
}

#[test]
fn environment_values_parse_by_type_at_their_bounds() {
    assert_eq!(Flag::from_env("yes"), Ok(Flag(true)));
    assert_eq!(Flag::from_env(" ON "), Ok(Flag(true)));
    assert_eq!(Flag::from_env("0"), Ok(Flag(false)));
    assert_eq!(Flag::from_env("off"), Ok(Flag(false)));
    assert!(Flag::from_env("maybe").is_err());
    assert_eq!(
        Names::from_env("a, ,b,"),
        Ok(Names(vec!["a".into(), "b".into()]))
    );
    assert_eq!(KvVersion::from_env("2"), Ok(KvVersion::V2));
    assert_eq!(KvVersion::from_env("1"), Ok(KvVersion::V1));
    assert!(KvVersion::from_env("3").is_err());
    assert_eq!(
        TimeSpan::from_env("1ms"),
        Ok(TimeSpan(Duration::from_millis(1)))
    );
    assert_eq!(TimeSpan::from_env("7days"), Ok(TimeSpan(MAX_DURATION)));
    assert!(TimeSpan::from_env("0").is_err());
    assert!(TimeSpan::from_env("7days 1s").is_err());
    assert_eq!(Port::from_env("65535"), Ok(Integer(65535)));
    assert!(Port::from_env("65536").is_err());
}

#[test]
fn a_secret_inside_a_table_that_is_not_a_settings_table_is_refused_as_a_secret() {
    for text in [
        "kind = \"postgres\"\n[bogus]\nx = \"u:canary-t2@db\"\n",
        "kind = \"postgres\"\nhost = { a = [\"u:canary-t2@db\"] }\n",
        "kind = \"postgres\"\nschemas = [{ a = \"u:canary-t2@db\" }]\n",
    ] {
        let dir = config_with(&[("t.toml", text)]);
        let error = load(&dir, "t", &MapEnv::new()).unwrap_err().to_string();
        assert!(
            error.contains("holds user information"),
            "{text:?}: {error}"
        );
        assert!(!error.contains("canary-t2"), "{error}");
    }
}
