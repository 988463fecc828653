use std::time::Duration;

use super::*;
use adapters::credentials::keyring::StoreChoice;
use domain::MapEnv;

const LAPTOP: TargetDefaults = TargetDefaults {
    name: "laptop",
    kind: DbKind::Postgres,
    host: Some("127.0.0.1"),
    port: Some(5432),
    user: Some("app"),
    database: Some("project"),
    path: None,
    sources: &[SourceKind::Env, SourceKind::Pgpass],
    env_prefix: "PROJECT_DB",
    about: "test",
};

fn dir_with(name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("targets")).unwrap();
    std::fs::write(
        target_file(dir.path(), &TargetName::parse(name).unwrap()),
        text,
    )
    .unwrap();
    dir
}

fn value_and_origin(s: &Settings, key: &str) -> (String, String) {
    let entry = s.entries().into_iter().find(|e| e.key == key).unwrap();
    (entry.shown(), entry.origin.to_string())
}

#[test]
fn layers_defaults_then_file_then_environment_with_origins() {
    let dir = dir_with(
        "laptop",
        "host = \"db.local\"\nport = 6543\n[pool]\nmax_connections = 7\n",
    );
    let env = MapEnv::new()
        .with("PROJECT_DB_PORT", "7000")
        .with("PROJECT_DB_DATABASE", "")
        .with("PROJECT_DB_STATEMENT_TIMEOUT", "250ms");
    let s = Settings::load("laptop", Some(&LAPTOP), Some(dir.path()), &env).unwrap();
    let file = format!(
        "file:{}",
        target_file(dir.path(), &TargetName::parse("laptop").unwrap()).display()
    );
    assert_eq!(
        value_and_origin(&s, "host"),
        ("db.local".into(), format!("{file} line 1"))
    );
    assert_eq!(
        value_and_origin(&s, "port"),
        ("7000".into(), "env:PROJECT_DB_PORT".into())
    );
    assert_eq!(
        value_and_origin(&s, "user"),
        ("app".into(), "default".into())
    );
    assert_eq!(
        value_and_origin(&s, "database"),
        ("project".into(), "default".into()),
        "an empty variable counts as unset"
    );
    assert_eq!(
        value_and_origin(&s, "pool.max_connections"),
        ("7".into(), format!("{file} line 4"))
    );
    assert_eq!(
        value_and_origin(&s, "statement_timeout"),
        ("250ms".into(), "env:PROJECT_DB_STATEMENT_TIMEOUT".into())
    );
    let spec = s.spec();
    assert_eq!(spec.identity.port, Some(7000));
    assert_eq!(spec.options.pool.max_connections, Some(7));
    assert_eq!(
        spec.options.statement_timeout,
        Some(Duration::from_millis(250))
    );
}

#[test]
fn another_prefix_is_not_moved_by_project_db_variables() {
    let dir = dir_with("laptop", "env_prefix = \"OTHER_DB\"\n");
    let env = MapEnv::new()
        .with("PROJECT_DB_HOST", "moved")
        .with("OTHER_DB_HOST", "other");
    let s = Settings::load("laptop", Some(&LAPTOP), Some(dir.path()), &env).unwrap();
    assert_eq!(s.identity().host.as_deref(), Some("other"));
}

#[test]
fn file_only_targets_need_a_kind_and_get_their_own_prefix() {
    let dir = dir_with("reports", "kind = \"sqlite\"\npath = \"/tmp/r.db\"\n");
    let env = MapEnv::new().with("PROJECT_DB_REPORTS_PATH", "/tmp/other.db");
    let s = Settings::load("reports", None, Some(dir.path()), &env).unwrap();
    assert_eq!(s.env_prefix(), "PROJECT_DB_REPORTS");
    assert_eq!(s.path(), Some(Path::new("/tmp/other.db")));

    let dir = dir_with("nokind", "host = \"x\"\n");
    let err = Settings::load("nokind", None, Some(dir.path()), &MapEnv::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "target `nokind`: no kind: set `kind` in the target file to one of postgres, mysql, sqlite"
    );
    let err = Settings::load("ghost", None, Some(dir.path()), &MapEnv::new()).unwrap_err();
    assert!(err.to_string().contains("no such target"), "{err}");
}

fn file_error(text: &str) -> String {
    let dir = dir_with("t", text);
    let err = Settings::load("t", Some(&LAPTOP), Some(dir.path()), &MapEnv::new()).unwrap_err();
    let path = target_file(dir.path(), &TargetName::parse("t").unwrap())
        .display()
        .to_string();
    err.to_string().replace(&path, "t.toml")
}

#[test]
fn bad_files_name_file_line_key_and_what_is_allowed() {
    assert_eq!(
        file_error("host = \"h\"\nprot = 5432\n"),
        "t.toml line 2: unknown key `prot`; allowed here: application_name, cache_name, connect_timeout, database, env_prefix, host, kind, load_balance_hosts, password_file, path, port, schemas, search_path, service, sources, sslcert, sslcrl, sslkey, sslmode, sslrootcert, statement_timeout, target_session_attrs, user, [keyring], [pool], [vault]"
    );
    assert_eq!(
        file_error("port = \"abc\"\n"),
        "t.toml line 1: key `port`: got a string of 3 characters; allowed: an integer from 1 to 65535, or a list of them, one per host (comma-separated in the environment)"
    );
    assert_eq!(
        file_error("\n[pool]\nmax_connections = -1\n"),
        "t.toml line 3: key `pool.max_connections`: got -1, out of range; allowed: an integer from 1 to 10000"
    );
    assert_eq!(
        file_error("[pool]\nsize = 3\n"),
        "t.toml line 2: unknown key `pool.size`; allowed here: acquire_timeout, idle_timeout, max_connections, max_lifetime, min_connections, test_before_acquire"
    );
    assert!(file_error("sources = [\"env\", \"ldap\"]\n").starts_with(
        "t.toml line 1: key `sources`: item 2 (a string of 4 characters) is not a source; allowed: a list of sources"
    ));
    assert!(file_error("kind = \"oracle\"\n").contains("allowed: one of postgres, mysql, sqlite"));
    assert!(file_error("sslmode = \"maybe\"\n").contains("allowed: one of disable, allow, prefer"));
    assert!(
        file_error("port = 5432\nport = 1\n").starts_with("t.toml line 2:"),
        "{}",
        file_error("port = 5432\nport = 1\n")
    );
}

#[test]
fn vault_tables_inline_and_nested() {
    let dir = dir_with(
        "t",
        "[vault]\nauth = \"approle\"\nrole_id_file = \"/run/role\"\ndatabase = { mount = \"db\", role = \"app\" }\n",
    );
    let s = Settings::load("t", Some(&LAPTOP), Some(dir.path()), &MapEnv::new()).unwrap();
    let vault = &s.values().vault;
    assert_eq!(vault.database.role, Some(Text("app".into())));
    assert_eq!(vault.auth, Some(Choice(VaultAuthMethod::AppRole)));
    assert_eq!(
        file_error("[vault]\ndatabase = { mount = \"db\", rol = \"app\" }\n"),
        "t.toml line 2: unknown key `vault.database.rol`; allowed here: mount, role, static_role"
    );
    assert!(
        file_error("[vault]\nauth = \"ldap\"\n")
            .contains("allowed: one of token, approle, kubernetes, jwt")
    );
    assert!(file_error("[vault]\nsecret_id = \"canary\"\n").contains("never hold secrets"));
}

#[test]
fn files_with_secrets_are_refused_whole() {
    for text in [
        "host = \"h\"\npassword = \"canary-1\"\n",
        "host = \"h\"\n[pool]\nPassword = \"canary-1\"\n",
        "host = \"h\"\ntoken = \"canary-1\"\n",
        "host = \"postgres://app:canary-1@db/x\"\n",
    ] {
        let message = file_error(text);
        assert!(message.contains("never hold secrets"), "{message}");
        assert!(message.starts_with("t.toml line "), "{message}");
        assert!(!message.contains("canary"), "{message}");
    }
    // `password_file` is a path, not a secret
    let dir = dir_with("t", "password_file = \"/run/secrets/db\"\n");
    let s = Settings::load("t", Some(&LAPTOP), Some(dir.path()), &MapEnv::new()).unwrap();
    assert_eq!(s.password_file(), Some(Path::new("/run/secrets/db")));
}

#[test]
fn bad_environment_values_name_the_variable() {
    let env = MapEnv::new().with("PROJECT_DB_PORT", "99999");
    let err = Settings::load("laptop", Some(&LAPTOP), None, &env).unwrap_err();
    assert_eq!(
        err.to_string(),
        "PROJECT_DB_PORT: got 99999, out of range; allowed: an integer from 1 to 65535, or a list of them, one per host (comma-separated in the environment)"
    );
    let env = MapEnv::new().with("PROJECT_DB_SOURCES", "env, vault ,pgpass");
    let s = Settings::load("laptop", Some(&LAPTOP), None, &env).unwrap();
    assert_eq!(
        s.sources(),
        Some(&[SourceKind::Env, SourceKind::Vault, SourceKind::Pgpass][..])
    );
}

#[test]
fn the_login_name_is_the_default_user_as_in_libpq() {
    let mut no_user = LAPTOP;
    no_user.user = None;
    let env = MapEnv::new().with("USER", "alice");
    let s = Settings::load("laptop", Some(&no_user), None, &env).unwrap();
    assert_eq!(s.identity().user.as_deref(), Some("alice"));
    assert_eq!(s.origin("user"), Some(&Origin::code_default()));
}

#[test]
fn code_defaults_alone_give_the_module_its_host_port_sources_and_path() {
    let s = Settings::load("laptop", Some(&LAPTOP), None, &MapEnv::new()).unwrap();
    let id = s.identity();
    assert_eq!(id.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(id.port, Some(5432));
    assert_eq!(id.database.as_deref(), Some("project"));
    assert_eq!(
        s.sources(),
        Some(&[SourceKind::Env, SourceKind::Pgpass][..])
    );
    for key in ["host", "port", "sources", "kind"] {
        assert_eq!(s.origin(key), Some(&Origin::code_default()), "{key}");
    }
    let lite = TargetDefaults {
        name: "lite",
        kind: DbKind::Sqlite,
        host: None,
        port: None,
        user: None,
        database: None,
        path: Some(DefaultPath::UserData("lite.sqlite3")),
        sources: &[],
        env_prefix: "LITE_DB",
        about: "",
    };
    let mut zero = LAPTOP;
    zero.port = Some(0);
    let s = Settings::load("laptop", Some(&zero), None, &MapEnv::new()).unwrap();
    assert_eq!(s.identity().port, None, "a port of 0 in code is no port");
    let s = Settings::load("lite", Some(&lite), None, &MapEnv::new()).unwrap();
    let path = s.path().unwrap();
    assert!(path.ends_with("dbcore/lite.sqlite3"), "{}", path.display());
    assert_eq!(s.sources(), Some(&[][..]), "no sources, set in code");
    assert_eq!(s.env_prefix(), "LITE_DB", "the module's own prefix");
    assert_eq!(s.origin("env_prefix"), Some(&Origin::code_default()));
}

#[test]
fn an_error_inside_an_inline_table_names_the_innermost_key() {
    assert_eq!(
        file_error("[vault]\ndatabase = { role = \"r\", mount = 5 }\n"),
        "t.toml line 2: key `vault.database.mount`: got the integer 5; allowed: a string"
    );
    assert_eq!(
        file_error("[pool]\nmax_connections = 4\nmin_connections = \"x\"\n"),
        "t.toml line 3: key `pool.min_connections`: got a string of 1 character; allowed: an integer from 0 to 10000"
    );
}

#[test]
fn a_layer_shows_its_keys_and_never_its_values() {
    let mut values = config::Map::new();
    values.insert(
        "host".to_owned(),
        config::Value::new(None, config::ValueKind::String("db-canary".into())),
    );
    let shown = format!("{:?}", layer::Layer::new("test layer", values));
    assert!(
        shown.contains("test layer") && shown.contains("host"),
        "{shown}"
    );
    assert!(!shown.contains("db-canary"), "{shown}");
}

/// Every key set in one file comes back through the merge as its type.
#[test]
fn every_key_of_a_file_comes_back_through_the_merge() {
    let text = "kind = \"mysql\"\nhost = \"/run/my sockets\"\nport = 3307\ndatabase = \"d\"\n\
        user = \"u\"\nservice = \"svc\"\npath = \"/p\"\nsources = []\nenv_prefix = \"T_DB\"\ncache_name = \"c\"\n\
        password_file = \"/pw\"\nsslmode = \"verify-full\"\nsslrootcert = \"/ca.crt\"\nsslcert = \"/c.crt\"\nsslkey = \"/c.key\"\nsslcrl = \"/r.crl\"\napplication_name = \"a\"\n\
        connect_timeout = 3\nstatement_timeout = \"1m 30s\"\nsearch_path = [\"s\"]\nschemas = []\n\
        target_session_attrs = \"standby\"\nload_balance_hosts = \"random\"\n\
        [pool]\nmin_connections = 0\nmax_connections = 10000\nacquire_timeout = \"250ms\"\n\
        idle_timeout = \"7days\"\nmax_lifetime = 1\ntest_before_acquire = false\n\
        [keyring]\nservice = \"svc\"\nstore = \"keyutils\"\n\
        [vault]\naddress = \"https://v\"\nca_cert = \"/ca\"\nallow_http = true\nnamespace = \"n\"\n\
        auth = \"kubernetes\"\nauth_mount = \"k8s\"\nrole = \"r\"\ntoken_file = \"/t\"\n\
        role_id_file = \"/ri\"\nsecret_id_file = \"/si\"\njwt_file = \"/j\"\n\
        kv = { mount = \"m\", path = \"p\", version = 1, username_key = \"uk\", password_key = \"pk\" }\n\
        database = { mount = \"dbm\" }\n";
    let dir = dir_with("t", text);
    let s = Settings::load("t", None, Some(dir.path()), &MapEnv::new()).unwrap();
    let v = s.values();
    assert_eq!(v.kind, Some(Choice(DbKind::MySql)));
    assert_eq!(v.sslmode, Some(Choice(domain::SslMode::VerifyFull)));
    assert_eq!(v.sources, Some(Sources(Vec::new())));
    assert_eq!(v.schemas, Some(Names(Vec::new())));
    assert_eq!(v.keyring.store.map(|c| c.0), Some(StoreChoice::Keyutils));
    assert_eq!(v.vault.auth, Some(Choice(VaultAuthMethod::Kubernetes)));
    assert_eq!(v.vault.kv.version, Some(KvVersion::V1));
    assert_eq!(v.vault.allow_http, Some(Flag(true)));
    let spec = s.spec();
    assert_eq!(spec.identity.port, Some(3307));
    assert_eq!(
        spec.options.statement_timeout,
        Some(Duration::from_secs(90))
    );
    assert_eq!(spec.options.connect_timeout, Some(Duration::from_secs(3)));
    assert_eq!(spec.options.pool.max_connections, Some(10_000));
    assert_eq!(spec.options.pool.min_connections, Some(0));
    assert_eq!(spec.options.pool.idle_timeout, Some(MAX_DURATION));
    assert_eq!(spec.options.pool.test_before_acquire, Some(false));
    assert_eq!(s.env_prefix(), "T_DB");
    // Every key of the tree was written, and each one's origin is its own line.
    let entries = s.entries();
    for key in fields::all_keys() {
        let entry = entries.iter().find(|e| e.key == key);
        let skipped = ["vault.database.role", "vault.database.static_role"];
        if skipped.contains(&key.as_str()) {
            continue;
        }
        let entry = entry.unwrap_or_else(|| panic!("{key} missing"));
        assert!(
            entry.origin.to_string().contains(" line "),
            "{key}: {}",
            entry.origin
        );
    }
}
