//! Layered target settings: code defaults < `<config dir>/targets/<name>.toml` < environment.
//!
//! Every value remembers where it came from (`default`, `file:<path>`, `env:<VAR>`) so that
//! `dbcore explain` can say why a target goes where it goes. Files are read with `toml` rather
//! than the `config` crate because every error must name the file, the line and the key, and
//! because a file must be refused as a whole when any key holds a secret: both need the raw
//! keys and their lines, which `config` does not keep.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use domain::{DbKind, Env, PoolOptions, TargetIdentity, TargetName, TargetOptions, TargetSpec};

use adapters::fs::{FileKind, read_regular};
use domain::redact::{SecretShape, find_secret};

use adapters::credentials::keyring::StoreChoice;

use crate::chain::SourceKind;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "file:{}", path.display()),
            Origin::Env(var) => write!(f, "env:{var}"),
        }
    }
}

/// A validated setting value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Kind(DbKind),
    Text(String),
    Number(u32),
    Port(u16),
    Duration(Duration),
    Bool(bool),
    List(Vec<String>),
    Sources(Vec<SourceKind>),
    Path(PathBuf),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Kind(kind) => write!(f, "{kind}"),
            Value::Text(text) => f.write_str(text),
            Value::Number(n) => write!(f, "{n}"),
            Value::Port(n) => write!(f, "{n}"),
            Value::Duration(d) => write!(f, "{}", humantime::format_duration(*d)),
            Value::Bool(b) => write!(f, "{b}"),
            Value::List(items) => f.write_str(&items.join(",")),
            Value::Sources(items) if items.is_empty() => f.write_str("-"),
            Value::Sources(items) => {
                let names: Vec<&str> = items.iter().map(|s| s.as_str()).collect();
                f.write_str(&names.join(","))
            }
            Value::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The largest pool size accepted. sqlx and tokio accept any non-zero `u32`, but a pool of more
/// than ten thousand connections to one target is a typo, and every one of them is a server
/// process on PostgreSQL.
pub const MAX_POOL_SIZE: u32 = 10_000;

/// sqlx's `max_connections` when none is set.
const SQLX_DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// The longest duration any setting accepts. sqlx adds timeouts to `Instant`s (an overflow
/// panics) and PostgreSQL keeps `statement_timeout` in milliseconds in an `int`; a week is far
/// from both limits and longer than any sensible timeout or connection lifetime.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Kind,
    Text,
    /// A host name, an IP address or a Unix-socket directory.
    Host,
    SslMode,
    Port,
    /// A pool size: an integer from `min` to [`MAX_POOL_SIZE`].
    Count {
        min: u32,
    },
    Duration,
    Bool,
    List,
    Sources,
    Path,
    KeyringStore,
    VaultAuth,
    KvVersion,
}

impl Ty {
    fn allowed(self) -> String {
        match self {
            Ty::Kind => "one of postgres, mysql, sqlite".into(),
            Ty::Text => "a string".into(),
            Ty::Host => "a host name, an IP address or a socket directory starting with /, \
                         without `@`, spaces or control characters"
                .into(),
            Ty::SslMode => format!("one of {}", adapters::database::postgres::SSL_MODES),
            Ty::Port => "an integer from 1 to 65535".into(),
            Ty::Count { min } => format!("an integer from {min} to {MAX_POOL_SIZE}"),
            Ty::Duration => format!(
                "a duration from 1ms to {} such as \"5s\", \"250ms\", \"2m\", or whole seconds",
                humantime::format_duration(MAX_DURATION)
            ),
            Ty::Bool => "true or false".into(),
            Ty::List => "a list of strings (comma-separated in the environment)".into(),
            Ty::Sources => format!(
                "a list of sources (comma-separated in the environment) from: {}",
                SourceKind::ALL_NAMES
            ),
            Ty::Path => "a file path".into(),
            Ty::KeyringStore => format!("one of {}", StoreChoice::ALLOWED),
            Ty::VaultAuth => "one of token, approle, kubernetes, jwt".into(),
            Ty::KvVersion => "1 or 2".into(),
        }
    }
}

/// A known setting: its TOML key (`pool.` for the `[pool]` table) and its environment suffix.
struct Key {
    name: &'static str,
    env: Option<&'static str>,
    ty: Ty,
}

#[rustfmt::skip]
const KEYS: &[Key] = &[
    Key { name: "kind", env: Some("KIND"), ty: Ty::Kind },
    Key { name: "host", env: Some("HOST"), ty: Ty::Host },
    Key { name: "port", env: Some("PORT"), ty: Ty::Port },
    Key { name: "database", env: Some("DATABASE"), ty: Ty::Text },
    Key { name: "user", env: Some("USER"), ty: Ty::Text },
    Key { name: "path", env: Some("PATH"), ty: Ty::Path },
    Key { name: "sources", env: Some("SOURCES"), ty: Ty::Sources },
    // The prefix cannot come from the environment: it decides which variables are read.
    Key { name: "env_prefix", env: None, ty: Ty::Text },
    Key { name: "cache_name", env: Some("CACHE_NAME"), ty: Ty::Text },
    Key { name: "password_file", env: None, ty: Ty::Path },
    Key { name: "sslmode", env: Some("SSLMODE"), ty: Ty::SslMode },
    Key { name: "application_name", env: Some("APPLICATION_NAME"), ty: Ty::Text },
    Key { name: "connect_timeout", env: Some("CONNECT_TIMEOUT"), ty: Ty::Duration },
    Key { name: "statement_timeout", env: Some("STATEMENT_TIMEOUT"), ty: Ty::Duration },
    Key { name: "search_path", env: Some("SEARCH_PATH"), ty: Ty::List },
    Key { name: "schemas", env: Some("SCHEMAS"), ty: Ty::List },
    Key { name: "pool.min_connections", env: Some("MIN_CONNECTIONS"), ty: Ty::Count { min: 0 } },
    Key { name: "pool.max_connections", env: Some("MAX_CONNECTIONS"), ty: Ty::Count { min: 1 } },
    Key { name: "pool.acquire_timeout", env: Some("ACQUIRE_TIMEOUT"), ty: Ty::Duration },
    Key { name: "pool.idle_timeout", env: Some("IDLE_TIMEOUT"), ty: Ty::Duration },
    Key { name: "pool.max_lifetime", env: Some("MAX_LIFETIME"), ty: Ty::Duration },
    Key { name: "pool.test_before_acquire", env: Some("TEST_BEFORE_ACQUIRE"), ty: Ty::Bool },
    Key { name: "keyring.service", env: Some("KEYRING_SERVICE"), ty: Ty::Text },
    Key { name: "keyring.store", env: Some("KEYRING_STORE"), ty: Ty::KeyringStore },
    Key { name: "vault.address", env: Some("VAULT_ADDRESS"), ty: Ty::Text },
    Key { name: "vault.ca_cert", env: None, ty: Ty::Path },
    // Only from the target file: plain http to a remote Vault is a decision about that target.
    Key { name: "vault.allow_http", env: None, ty: Ty::Bool },
    Key { name: "vault.namespace", env: None, ty: Ty::Text },
    Key { name: "vault.auth", env: Some("VAULT_AUTH"), ty: Ty::VaultAuth },
    Key { name: "vault.auth_mount", env: None, ty: Ty::Text },
    Key { name: "vault.role", env: None, ty: Ty::Text },
    Key { name: "vault.token_file", env: None, ty: Ty::Path },
    Key { name: "vault.role_id_file", env: None, ty: Ty::Path },
    Key { name: "vault.secret_id_file", env: None, ty: Ty::Path },
    Key { name: "vault.jwt_file", env: None, ty: Ty::Path },
    Key { name: "vault.kv.mount", env: None, ty: Ty::Text },
    Key { name: "vault.kv.path", env: None, ty: Ty::Text },
    Key { name: "vault.kv.version", env: None, ty: Ty::KvVersion },
    Key { name: "vault.kv.username_key", env: None, ty: Ty::Text },
    Key { name: "vault.kv.password_key", env: None, ty: Ty::Text },
    Key { name: "vault.database.mount", env: None, ty: Ty::Text },
    Key { name: "vault.database.role", env: None, ty: Ty::Text },
    Key { name: "vault.database.static_role", env: None, ty: Ty::Text },
];

fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

fn allowed_keys(table: Option<&str>) -> String {
    let direct = KEYS.iter().filter_map(|k| {
        let rest = match table {
            None => k.name,
            Some(t) => k.name.strip_prefix(t)?.strip_prefix('.')?,
        };
        (!rest.contains('.')).then_some(rest)
    });
    let tables = match table {
        None => vec!["[pool]", "[keyring]", "[vault]"],
        Some("vault") => vec!["kv = { … }", "database = { … }"],
        Some(_) => Vec::new(),
    };
    direct.chain(tables).collect::<Vec<_>>().join(", ")
}

/// Key names that hold secrets: a file with one of them is refused.
fn is_secret_key(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    (name.contains("password") && !matches!(name.as_str(), "password_file" | "password_key"))
        || matches!(
            name.as_str(),
            "passwd"
                | "pass"
                | "pwd"
                | "secret"
                | "secret_id"
                | "token"
                | "api_key"
                | "apikey"
                | "private_key"
        )
}

/// The first secret-looking text anywhere inside a TOML value: strings, list items, tables.
fn secret_in(value: &toml::Value) -> Option<SecretShape> {
    match value {
        toml::Value::String(s) => find_secret(s),
        toml::Value::Array(items) => items.iter().find_map(secret_in),
        toml::Value::Table(table) => table.values().find_map(secret_in),
        _ => None,
    }
}

/// Where settings are wrong; every message names the file or variable, the key, and what is
/// allowed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    File {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{var}: {message}")]
    Env { var: String, message: String },
    /// The target file could not be read: missing permissions, a FIFO, over its size cap.
    #[error(transparent)]
    Unreadable(#[from] adapters::fs::FileError),
    #[error("target `{target}`: {message}")]
    Target { target: String, message: String },
    #[error("invalid target name: {0}")]
    Name(#[from] domain::InvalidTargetName),
    #[error("config directory {} (from {chosen_by}) {problem}", path.display())]
    ConfigDir {
        path: PathBuf,
        chosen_by: crate::config_dir::ChosenBy,
        problem: &'static str,
    },
}

/// Where a compiled connection module's SQLite file lives by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultPath {
    /// A file name inside the user data directory (`~/.local/share/dbcore/` on Linux).
    UserData(&'static str),
}

/// The code defaults of a connection module (dm-dbcore's `_DEFAULT_DB_CONFIG`).
#[derive(Debug, Clone, Copy)]
pub struct TargetDefaults {
    pub name: &'static str,
    pub kind: DbKind,
    pub host: Option<&'static str>,
    pub port: Option<u16>,
    pub user: Option<&'static str>,
    pub database: Option<&'static str>,
    pub path: Option<DefaultPath>,
    pub sources: &'static [SourceKind],
    pub env_prefix: &'static str,
    /// One line saying what the target is, for `dbcore targets`.
    pub about: &'static str,
}

/// The default environment prefix of a file-only target: `PROJECT_DB_<NAME>`, so that two
/// targets open in one process never read each other's variables.
pub fn default_prefix_for(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("PROJECT_DB_{upper}")
}

/// A target's settings after layering, each with its origin.
#[derive(Debug, Clone)]
pub struct Settings {
    name: String,
    values: BTreeMap<&'static str, (Value, Origin)>,
    file: Option<PathBuf>,
}

/// The target file for `name` in `config_dir`. Only a validated name is ever joined into a
/// path, so no name can leave `targets/`.
pub fn target_file(config_dir: &Path, name: &TargetName) -> PathBuf {
    config_dir.join("targets").join(format!("{name}.toml"))
}

/// Names of the targets defined by files in `<config_dir>/targets/`.
pub fn file_targets(config_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(config_dir.join("targets")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let path = e.path();
            (path.extension().is_some_and(|x| x == "toml"))
                .then(|| path.file_stem()?.to_str().map(str::to_owned))
                .flatten()
                // A file whose stem is not a valid name could never be opened: not listed.
                .filter(|name| TargetName::parse(name).is_ok())
        })
        .collect();
    names.sort();
    names
}

impl Settings {
    /// Layers code defaults (when the target is a compiled module), the target file (when it
    /// exists) and the environment.
    pub fn load(
        name: &str,
        defaults: Option<&TargetDefaults>,
        config_dir: Option<&Path>,
        env: &dyn Env,
    ) -> Result<Self, SettingsError> {
        let name = &TargetName::parse(name)?;
        let mut settings = Settings {
            name: name.to_string(),
            values: BTreeMap::new(),
            file: None,
        };
        if let Some(d) = defaults {
            settings.apply_defaults(d);
        }
        if let Some(dir) = config_dir {
            let path = target_file(dir, name);
            if let Some(bytes) = read_regular(&path, FileKind::SETTINGS)? {
                let text = String::from_utf8(bytes).map_err(|_| SettingsError::File {
                    path: path.clone(),
                    line: None,
                    message: "the file is not valid UTF-8".into(),
                })?;
                settings.apply_file(&path, &text)?;
                settings.file = Some(path);
            }
        }
        if defaults.is_none() && settings.file.is_none() {
            return Err(SettingsError::Target {
                target: name.to_string(),
                message: match config_dir {
                    Some(dir) => format!(
                        "no such target: it is not a compiled connection module and {} does not exist",
                        target_file(dir, name).display()
                    ),
                    None => "no such target: it is not a compiled connection module and there is no config directory".into(),
                },
            });
        }
        if !settings.values.contains_key("env_prefix") {
            settings.set(
                "env_prefix",
                Value::Text(default_prefix_for(name.as_str())),
                Origin::Default,
            );
        }
        settings.apply_env(env)?;
        settings.fill_derived_defaults(env);
        settings.check()?;
        Ok(settings)
    }

    fn set(&mut self, key: &'static str, value: Value, origin: Origin) {
        self.values.insert(key, (value, origin));
    }

    fn apply_defaults(&mut self, d: &TargetDefaults) {
        let o = || Origin::Default;
        self.set("kind", Value::Kind(d.kind), o());
        if let Some(h) = d.host {
            self.set("host", Value::Text(h.into()), o());
        }
        if let Some(p) = d.port {
            self.set("port", Value::Port(p), o());
        }
        if let Some(u) = d.user {
            self.set("user", Value::Text(u.into()), o());
        }
        if let Some(db) = d.database {
            self.set("database", Value::Text(db.into()), o());
        }
        if let Some(DefaultPath::UserData(file)) = d.path {
            let dir = dirs::data_dir().unwrap_or_else(|| PathBuf::from("."));
            self.set("path", Value::Path(dir.join("dbcore").join(file)), o());
        }
        self.set("sources", Value::Sources(d.sources.to_vec()), o());
        self.set("env_prefix", Value::Text(d.env_prefix.into()), o());
    }

    fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), SettingsError> {
        let file_error = |line: Option<usize>, message: String| SettingsError::File {
            path: path.to_owned(),
            line,
            message,
        };
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
            file_error(line, e.message().trim_end().to_owned())
        })?;
        // Refuse the whole file before taking anything from it when it holds a secret.
        for (name, table_name, value) in flatten(&table) {
            let line = line_of(text, table_name.as_deref(), name);
            if is_secret_key(name) {
                return Err(file_error(
                    line,
                    format!(
                        "key `{name}` would hold a secret, and target files never hold secrets; \
                         use a credential source instead (env, pgpass, mycnf, file, keyring, vault)"
                    ),
                ));
            }
            if let Some(shape) = secret_in(value) {
                return Err(file_error(
                    line,
                    format!(
                        "key `{name}` holds {}; target files never hold secrets, \
                         use a credential source instead",
                        shape.describe()
                    ),
                ));
            }
        }
        for (name, table_name, value) in flatten(&table) {
            let line = line_of(text, table_name.as_deref(), name);
            let full = match &table_name {
                Some(t) => format!("{t}.{name}"),
                None => name.to_owned(),
            };
            // A quoted top-level key with a dot (`"pool.max_connections" = 1`) is one key of
            // that name, not a key of the table.
            let Some(spec) = key(&full).filter(|_| !name.contains('.')) else {
                return Err(file_error(
                    line,
                    format!(
                        "unknown key `{full}`; allowed here: {}",
                        allowed_keys(table_name.as_deref())
                    ),
                ));
            };
            let parsed = from_toml(spec.ty, value).map_err(|message| {
                file_error(
                    line,
                    format!("key `{full}`: {message}; allowed: {}", spec.ty.allowed()),
                )
            })?;
            self.set(spec.name, parsed, Origin::File(path.to_owned()));
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &dyn Env) -> Result<(), SettingsError> {
        let prefix = self.text("env_prefix").unwrap_or("PROJECT_DB").to_owned();
        for spec in KEYS {
            let Some(suffix) = spec.env else { continue };
            let var = format!("{prefix}_{suffix}");
            // Empty counts as unset, as in the original pattern.
            let Some(raw) = env.non_empty(&var) else {
                continue;
            };
            // The environment is a place for the password (`_PASSWORD`), not for a secret
            // hidden in a host, a list or a name, where explain and errors would show it.
            if let Some(shape) = find_secret(&raw) {
                return Err(SettingsError::Env {
                    var,
                    message: format!(
                        "holds {}; put the password in a credential source instead",
                        shape.describe()
                    ),
                });
            }
            let parsed = from_env(spec.ty, &raw).map_err(|message| SettingsError::Env {
                var: var.clone(),
                message: format!("{message}; allowed: {}", spec.ty.allowed()),
            })?;
            self.set(spec.name, parsed, Origin::Env(var));
        }
        Ok(())
    }

    /// Defaults that depend on the run: the login name as user (as libpq), the binary's name as
    /// application_name, and each kind's usual sources.
    fn fill_derived_defaults(&mut self, env: &dyn Env) {
        let kind = self.kind();
        if kind.is_some_and(DbKind::uses_credentials)
            && !self.values.contains_key("user")
            && let Some(login) = env.login_name()
        {
            self.set("user", Value::Text(login), Origin::Default);
        }
        if !self.values.contains_key("application_name")
            && let Some(name) = binary_name()
        {
            self.set("application_name", Value::Text(name), Origin::Default);
        }
        if !self.values.contains_key("sources") {
            let sources = match kind {
                Some(DbKind::Postgres) => vec![SourceKind::Env, SourceKind::Pgpass],
                Some(DbKind::MySql) => vec![SourceKind::Env, SourceKind::MyCnf],
                _ => Vec::new(),
            };
            self.set("sources", Value::Sources(sources), Origin::Default);
        }
    }

    fn check(&self) -> Result<(), SettingsError> {
        let err = |message: String| SettingsError::Target {
            target: self.name.clone(),
            message,
        };
        match self.kind() {
            None => Err(err(
                "no kind: set `kind` in the target file to one of postgres, mysql, sqlite".into(),
            )),
            Some(DbKind::Sqlite) if self.path().is_none() => Err(err(
                "kind sqlite needs `path` (a database file, or \":memory:\")".into(),
            )),
            _ => self.check_pool(),
        }
    }

    /// Pool sizes that sqlx would refuse or panic on, across the two keys.
    fn check_pool(&self) -> Result<(), SettingsError> {
        let min = self.number("pool.min_connections").unwrap_or(0);
        let max = self
            .number("pool.max_connections")
            .unwrap_or(SQLX_DEFAULT_MAX_CONNECTIONS);
        if min > max {
            let origin = |key: &str| {
                self.origin(key)
                    .map_or_else(|| "sqlx's default".to_owned(), ToString::to_string)
            };
            return Err(SettingsError::Target {
                target: self.name.clone(),
                message: format!(
                    "pool.min_connections ({min}, from {}) is more than pool.max_connections \
                     ({max}, from {}); allowed: min_connections <= max_connections",
                    origin("pool.min_connections"),
                    origin("pool.max_connections"),
                ),
            });
        }
        Ok(())
    }

    // ---- typed access ----

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The target file that was read, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key).map(|(v, _)| v)
    }

    fn text(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        }
    }

    fn duration(&self, key: &str) -> Option<Duration> {
        match self.get(key) {
            Some(Value::Duration(d)) => Some(*d),
            _ => None,
        }
    }

    fn number(&self, key: &str) -> Option<u32> {
        match self.get(key) {
            Some(Value::Number(n)) => Some(*n),
            _ => None,
        }
    }

    fn path_value(&self, key: &str) -> Option<&Path> {
        match self.get(key) {
            Some(Value::Path(p)) => Some(p),
            _ => None,
        }
    }

    pub fn kind(&self) -> Option<DbKind> {
        match self.get("kind") {
            Some(Value::Kind(k)) => Some(*k),
            _ => None,
        }
    }

    pub fn env_prefix(&self) -> &str {
        self.text("env_prefix").unwrap_or("PROJECT_DB")
    }

    pub fn sources(&self) -> &[SourceKind] {
        match self.get("sources") {
            Some(Value::Sources(s)) => s,
            _ => &[],
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path_value("path")
    }

    /// A setting as text, for the groups of keys other modules assemble (`vault.*`).
    pub fn text_setting(&self, key: &str) -> Option<&str> {
        self.text(key)
    }

    /// A boolean setting (`vault.allow_http`).
    pub fn bool_setting(&self, key: &str) -> Option<bool> {
        match self.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// A path setting (`vault.token_file` …).
    pub fn path_setting(&self, key: &str) -> Option<&Path> {
        self.path_value(key)
    }

    /// `keyring.service`, when set.
    pub fn keyring_service(&self) -> Option<&str> {
        self.text("keyring.service")
    }

    /// `keyring.store` (default `auto`).
    pub fn keyring_store(&self) -> StoreChoice {
        self.text("keyring.store")
            .and_then(StoreChoice::parse)
            .unwrap_or(StoreChoice::Auto)
    }

    pub fn password_file(&self) -> Option<&Path> {
        self.path_value("password_file")
    }

    /// The schemas `metadata()` reflects: the `schemas` setting, else PostgreSQL `public`,
    /// MySQL the connection's database, SQLite `main`. Never whatever `search_path` says.
    pub fn schemas(&self) -> Vec<String> {
        if let Some(Value::List(list)) = self.get("schemas")
            && !list.is_empty()
        {
            return list.clone();
        }
        match self.kind() {
            Some(DbKind::Postgres) => vec!["public".into()],
            Some(DbKind::MySql) => self
                .text("database")
                .map(|d| vec![d.to_owned()])
                .unwrap_or_default(),
            _ => vec!["main".into()],
        }
    }

    pub fn cache_name(&self) -> String {
        self.text("cache_name")
            .map_or_else(|| format!("{}_metadata", self.name), str::to_owned)
    }

    /// Every setting as (key, value, origin), in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, String, &Origin)> {
        self.typed_entries().map(|(k, v, o)| (k, v.to_string(), o))
    }

    /// [`Settings::entries`] with each value as its type (a port is a number), for JSON.
    pub fn typed_entries(&self) -> impl Iterator<Item = (&'static str, &Value, &Origin)> {
        self.values.iter().map(|(k, (v, o))| (*k, v, o))
    }

    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.values.get(key).map(|(_, o)| o)
    }

    /// The non-secret identity credential sources match against.
    pub fn identity(&self) -> TargetIdentity {
        TargetIdentity {
            name: self.name.clone(),
            kind: self.kind().unwrap_or(DbKind::Sqlite),
            host: self.text("host").map(str::to_owned),
            port: match self.get("port") {
                Some(Value::Port(p)) => Some(*p),
                _ => None,
            },
            database: self.text("database").map(str::to_owned),
            user: self.text("user").map(str::to_owned),
        }
    }

    /// Everything the database adapter needs, except the secret.
    pub fn spec(&self) -> TargetSpec {
        TargetSpec {
            identity: self.identity(),
            path: self.path().map(Path::to_owned),
            options: TargetOptions {
                sslmode: self.text("sslmode").map(str::to_owned),
                application_name: self.text("application_name").map(str::to_owned),
                connect_timeout: self.duration("connect_timeout"),
                statement_timeout: self.duration("statement_timeout"),
                search_path: match self.get("search_path") {
                    Some(Value::List(l)) => Some(l.clone()),
                    _ => None,
                },
                pool: PoolOptions {
                    min_connections: self.number("pool.min_connections"),
                    max_connections: self.number("pool.max_connections"),
                    acquire_timeout: self.duration("pool.acquire_timeout"),
                    idle_timeout: self.duration("pool.idle_timeout"),
                    max_lifetime: self.duration("pool.max_lifetime"),
                    test_before_acquire: match self.get("pool.test_before_acquire") {
                        Some(Value::Bool(b)) => Some(*b),
                        _ => None,
                    },
                },
            },
        }
    }

    /// `where` for `dbcore targets`: `host:port/database` or the SQLite path.
    pub fn location(&self) -> String {
        match self.kind() {
            Some(DbKind::Sqlite) => self
                .path()
                .map_or_else(String::new, |p| p.display().to_string()),
            _ => {
                let id = self.identity();
                format!(
                    "{}:{}/{}",
                    id.host.as_deref().unwrap_or("localhost"),
                    id.port.map_or_else(|| "default".into(), |p| p.to_string()),
                    id.database.as_deref().unwrap_or("")
                )
            }
        }
    }
}

/// The running program's file name, used as the default `application_name`.
fn binary_name() -> Option<String> {
    std::env::current_exe()
        .ok()?
        .file_stem()?
        .to_str()
        .map(str::to_owned)
}

/// The tables a target file may have (nested ones by their dotted path).
const TABLES: &[&str] = &["pool", "keyring", "vault", "vault.kv", "vault.database"];

/// (key, table, value) for every leaf of the known tables; other tables are reported as
/// unknown keys by their name.
fn flatten(table: &toml::Table) -> Vec<(&str, Option<String>, &toml::Value)> {
    fn walk<'t>(
        table: &'t toml::Table,
        at: Option<&str>,
        out: &mut Vec<(&'t str, Option<String>, &'t toml::Value)>,
    ) {
        for (name, value) in table {
            let path = match at {
                Some(at) => format!("{at}.{name}"),
                None => name.clone(),
            };
            match value {
                toml::Value::Table(inner) if TABLES.contains(&path.as_str()) => {
                    walk(inner, Some(&path), out)
                }
                _ => out.push((name.as_str(), at.map(str::to_owned), value)),
            }
        }
    }
    let mut out = Vec::new();
    walk(table, None, &mut out);
    out
}

/// The 1-based line where `key` is assigned in `table` (or at the top level).
fn line_of(text: &str, table: Option<&str>, key: &str) -> Option<usize> {
    line_in_section(text, table, key).or_else(|| {
        // A key of an inline table (`database = { mount = … }`) is on its parent's line.
        let (parent, name) = table?
            .rsplit_once('.')
            .map_or((None, table?), |(p, n)| (Some(p), n));
        line_in_section(text, parent, name)
    })
}

/// The 1-based line where `key` of `table` is assigned: under its own `[table]` header, or as
/// a dotted key under a parent header or at the top level (`pool.max_connections = …`).
fn line_in_section(text: &str, table: Option<&str>, key: &str) -> Option<usize> {
    let wanted = table.map_or_else(|| key.to_owned(), |t| format!("{t}.{key}"));
    let dotted = |path: &str| key_path(path).join(".");
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix('[') {
            current = header.split(']').next().map(dotted);
            continue;
        }
        let Some((lhs, _)) = trimmed.split_once('=') else {
            continue;
        };
        let lhs = dotted(lhs);
        let full = current
            .as_ref()
            .map_or(lhs.clone(), |c| format!("{c}.{lhs}"));
        if full == wanted {
            return Some(i + 1);
        }
    }
    None
}

/// The parts of a written TOML key path: `a . "b.c"` is `a` then `b.c` (a dot inside quotes
/// belongs to the key).
fn key_path(path: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut quote: Option<char> = None;
    for c in path.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '.') => parts.push(std::mem::take(&mut part)),
            (None, c) if c.is_whitespace() => {}
            (_, c) => part.push(c),
        }
    }
    parts.push(part);
    parts
}

fn from_toml(ty: Ty, value: &toml::Value) -> Result<Value, String> {
    use toml::Value as T;
    let got = |v: &T| match v {
        T::String(s) => format!("got {}", describe_text(s)),
        T::Integer(i) => format!("got the integer {i}"),
        other => format!("got {}", other.type_str()),
    };
    match (ty, value) {
        (Ty::Port | Ty::Count { .. } | Ty::Duration | Ty::KvVersion, T::Integer(i)) => {
            from_env(ty, &i.to_string())
        }
        // Numbers, flags and lists must be written as such; every other setting is a string.
        (ty, T::String(s))
            if !matches!(
                ty,
                Ty::Port | Ty::Count { .. } | Ty::Bool | Ty::List | Ty::Sources
            ) =>
        {
            from_env(ty, s)
        }
        (Ty::Bool, T::Boolean(b)) => Ok(Value::Bool(*b)),
        (Ty::List | Ty::Sources, T::Array(items)) => {
            let strings: Result<Vec<&str>, String> = items
                .iter()
                .map(|i| i.as_str().ok_or_else(|| format!("list item {}", got(i))))
                .collect();
            let strings = strings?;
            if ty == Ty::Sources {
                parse_sources(strings.iter().copied())
            } else {
                Ok(Value::List(
                    strings.into_iter().map(str::to_owned).collect(),
                ))
            }
        }
        (_, other) => Err(got(other)),
    }
}

fn from_env(ty: Ty, raw: &str) -> Result<Value, String> {
    let raw_t = raw.trim();
    // Never echo the value: a secret pasted into the wrong key must not reach a terminal.
    let bad = || format!("got {}", describe_text(raw));
    match ty {
        Ty::Kind => raw_t.parse().map(Value::Kind).map_err(|_| bad()),
        Ty::Text => Ok(Value::Text(raw.to_owned())),
        Ty::Host => {
            // `@` never belongs in a host (it is where userinfo ends, `app:pw@db`), nor do
            // control characters; spaces only in a socket directory.
            let socket = raw.starts_with('/');
            match raw
                .char_indices()
                .find(|(_, c)| *c == '@' || c.is_control() || (!socket && c.is_whitespace()))
            {
                Some((at, c)) => Err(format!(
                    "got {} with {} at position {}",
                    describe_text(raw),
                    match c {
                        '@' => "`@`",
                        c if c.is_whitespace() => "a space",
                        _ => "a control character",
                    },
                    raw[..at].chars().count() + 1
                )),
                None => Ok(Value::Text(raw.to_owned())),
            }
        }
        Ty::SslMode => {
            let mode = raw_t.to_ascii_lowercase();
            if adapters::database::postgres::SSL_MODES
                .split(", ")
                .any(|m| m == mode)
            {
                Ok(Value::Text(mode))
            } else {
                Err(bad())
            }
        }
        Ty::Port => match raw_t.parse::<i128>() {
            Ok(p) => match u16::try_from(p) {
                Ok(p) if p > 0 => Ok(Value::Port(p)),
                _ => Err(format!("got {p}, out of range")),
            },
            Err(_) => Err(bad()),
        },
        Ty::Count { min } => match raw_t.parse::<i128>() {
            Ok(n) => match u32::try_from(n) {
                Ok(n) if (min..=MAX_POOL_SIZE).contains(&n) => Ok(Value::Number(n)),
                _ => Err(format!("got {n}, out of range")),
            },
            Err(_) => Err(bad()),
        },
        Ty::Duration => {
            let duration = match raw_t.parse::<u64>() {
                Ok(secs) => Duration::from_secs(secs),
                Err(_) => humantime::parse_duration(raw_t).map_err(|_| bad())?,
            };
            if duration < Duration::from_millis(1) || duration > MAX_DURATION {
                return Err(format!(
                    "got {}, out of range",
                    humantime::format_duration(duration)
                ));
            }
            Ok(Value::Duration(duration))
        }
        Ty::Bool => match raw_t.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(bad()),
        },
        Ty::List => Ok(Value::List(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
        Ty::Sources => parse_sources(raw.split(',').map(str::trim).filter(|s| !s.is_empty())),
        Ty::Path => Ok(Value::Path(PathBuf::from(raw))),
        Ty::VaultAuth => match raw_t {
            "token" | "approle" | "kubernetes" | "jwt" => Ok(Value::Text(raw_t.to_owned())),
            _ => Err(bad()),
        },
        Ty::KvVersion => match raw_t {
            "1" | "2" => Ok(Value::Text(raw_t.to_owned())),
            _ => Err(bad()),
        },
        Ty::KeyringStore => match StoreChoice::parse(raw_t) {
            Some(_) => Ok(Value::Text(raw_t.to_owned())),
            None => Err(bad()),
        },
    }
}

fn parse_sources<'a>(names: impl Iterator<Item = &'a str>) -> Result<Value, String> {
    let mut sources = Vec::new();
    for (i, name) in names.enumerate() {
        // Item numbers, not the text: a secret pasted into the list must not be echoed.
        let source: SourceKind = name
            .parse()
            .map_err(|_| format!("item {} ({}) is not a source", i + 1, describe_text(name)))?;
        if sources.contains(&source) {
            return Err(format!("source `{}` is listed twice", source.as_str()));
        }
        sources.push(source);
    }
    Ok(Value::Sources(sources))
}

/// What a value is, without what it says: `a string of 12 characters`.
fn describe_text(text: &str) -> String {
    match text.chars().count() {
        0 => "an empty string".to_owned(),
        1 => "a string of 1 character".to_owned(),
        n => format!("a string of {n} characters"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let (v, o) = &s.values[key];
        (v.to_string(), o.to_string())
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
            ("db.local".into(), file.clone())
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
            ("7".into(), file)
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
            "t.toml line 2: unknown key `prot`; allowed here: kind, host, port, database, user, path, sources, env_prefix, cache_name, password_file, sslmode, application_name, connect_timeout, statement_timeout, search_path, schemas, [pool], [keyring], [vault]"
        );
        assert_eq!(
            file_error("port = \"abc\"\n"),
            "t.toml line 1: key `port`: got a string of 3 characters; allowed: an integer from 1 to 65535"
        );
        assert_eq!(
            file_error("\n[pool]\nmax_connections = -1\n"),
            "t.toml line 3: key `pool.max_connections`: got -1, out of range; allowed: an integer from 1 to 10000"
        );
        assert_eq!(
            file_error("[pool]\nsize = 3\n"),
            "t.toml line 2: unknown key `pool.size`; allowed here: min_connections, max_connections, acquire_timeout, idle_timeout, max_lifetime, test_before_acquire"
        );
        assert!(file_error("sources = [\"env\", \"ldap\"]\n").starts_with(
            "t.toml line 1: key `sources`: item 2 (a string of 4 characters) is not a source; allowed: a list of sources"
        ));
        assert!(
            file_error("kind = \"oracle\"\n").contains("allowed: one of postgres, mysql, sqlite")
        );
        assert!(
            file_error("sslmode = \"maybe\"\n").contains("allowed: one of disable, allow, prefer")
        );
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
        assert_eq!(s.text_setting("vault.database.role"), Some("app"));
        assert_eq!(s.text_setting("vault.auth"), Some("approle"));
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
            "PROJECT_DB_PORT: got 99999, out of range; allowed: an integer from 1 to 65535"
        );
        let env = MapEnv::new().with("PROJECT_DB_SOURCES", "env, vault ,pgpass");
        let s = Settings::load("laptop", Some(&LAPTOP), None, &env).unwrap();
        assert_eq!(
            s.sources(),
            &[SourceKind::Env, SourceKind::Vault, SourceKind::Pgpass]
        );
    }

    #[test]
    fn the_login_name_is_the_default_user_as_in_libpq() {
        let mut no_user = LAPTOP;
        no_user.user = None;
        let env = MapEnv::new().with("USER", "alice");
        let s = Settings::load("laptop", Some(&no_user), None, &env).unwrap();
        assert_eq!(s.identity().user.as_deref(), Some("alice"));
        assert_eq!(s.origin("user"), Some(&Origin::Default));
    }
}

#[cfg(test)]
#[path = "settings_hostile_tests.rs"]
mod hostile_tests;

#[cfg(test)]
#[path = "settings_loader_tests.rs"]
mod loader_tests;
