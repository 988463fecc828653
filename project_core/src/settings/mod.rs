//! Layered target settings: code defaults < `<config dir>/targets/<name>.toml` < environment,
//! typed once and merged by the `config` crate with every value's origin kept exact.
//!
//! The design: one typed tree ([`TargetSettings`]) is the only place a key exists. The target
//! file deserializes into it (`deny_unknown_fields`, with spans, so every message names the
//! file and line), the environment table ([`environment::ENV_KEYS`]) names the fields a
//! variable may set and parses with the field's type, and the code defaults are a value of the
//! same tree. Each becomes a `config` layer whose values carry their origin (`default`,
//! `file:<path> line N`, `env:<VAR>`); `config` merges them and the result deserializes back
//! into the tree. What `config` cannot do is read the file with lines (its TOML reader keeps
//! none), so `file.rs` reads the file and hands `config` a layer. Which sources a target tries
//! when it names none is `chain`'s decision, not a setting default.

mod entries;
mod environment;
pub mod fields;
mod file;
mod layer;
mod libpq;
mod mycnf_tls;
mod origin;
mod service;
mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use domain::{
    DbKind, Env, PoolOptions, TargetIdentity, TargetName, TargetOptions, TargetSpec, TlsFiles,
};

use adapters::credentials::keyring::StoreChoice;
use adapters::fs::{FileKind, read_regular};

pub use entries::Entry;
pub use environment::{ENV_KEYS, EnvKey};
pub(crate) use fields::setting_key;
pub use fields::{
    KeyringSettings, PoolSettings, TargetSettings, VaultDatabaseSettings, VaultKvSettings,
    VaultSettings,
};
pub use origin::Origin;
pub use values::{
    Choice, FilePath, Flag, Host, Hosts, Integer, Kind, KvVersion, MAX_DURATION, MAX_POOL_SIZE,
    Names, PoolSize, Port, Ports, RootCertSetting, SourceKind, Sources, Ssl, Store, Text, TimeSpan,
    VaultAuthMethod, Vocabulary,
};

use layer::Layer;

mod error;
mod targets;

pub use error::SettingsError;
pub use targets::{DefaultPath, TargetDefaults, default_prefix_for, file_targets, target_file};

/// sqlx's `max_connections` when none is set.
const SQLX_DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// A target's settings after layering, each set key with its origin.
#[derive(Debug, Clone)]
pub struct Settings {
    name: TargetName,
    values: TargetSettings,
    origins: BTreeMap<String, Origin>,
    file: Option<PathBuf>,
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
        let name = TargetName::parse(name)?;
        let mut layers = Vec::new();
        let mut prefix = defaults.map(|d| d.env_prefix.to_owned());
        if let Some(d) = defaults {
            let code = d.settings();
            layers.push(Layer::from_settings("code defaults", &code, |_| {
                Origin::code_default()
            })?);
        }
        let file = match config_dir {
            Some(dir) => read_target_file(&target_file(dir, &name))?,
            None => None,
        };
        if defaults.is_none() && file.is_none() {
            return Err(targets::no_such_target(&name, config_dir));
        }
        if let Some((_, settings, layer)) = &file {
            prefix = settings.env_prefix.as_ref().map(|p| p.0.clone()).or(prefix);
            layers.push(layer.clone());
        }
        let prefix_is_derived = prefix.is_none();
        let prefix = prefix.unwrap_or_else(|| default_prefix_for(name.as_str()));
        layers.push(environment::overlay(&prefix, env)?);
        let (merged, _) = layer::merge(&layers)?;
        let kind = merged.kind.as_ref().map(|k| k.0);
        // What the kind's own client reads, above the code defaults, below the target file.
        let below_file = usize::from(defaults.is_some());
        if let Some(libpq_env) = libpq::variables(kind, env)? {
            layers.insert(below_file, libpq_env);
        }
        if let Some(option_file) = mycnf_tls::options_layer(kind, name.as_str(), &prefix, env)? {
            layers.insert(below_file, option_file);
        }
        // The service's name comes from the target file or its variables, which `merged`
        // already holds (the layers just added set no `service`): no merge again for it.
        if let Some(service) = service::service_layer(name.as_str(), &merged, env)? {
            // Right below the target file (and its variables): above libpq's environment,
            // which libpq consults only after the service.
            let above_libpq_env = layers.len() - 1 - usize::from(file.is_some());
            layers.insert(above_libpq_env, service);
        }
        let (merged, _) = layer::merge(&layers)?;
        if let Some(home_files) = libpq::home_files(&merged, env)? {
            layers.insert(0, home_files);
        }
        let derived = derived_defaults(&merged, prefix_is_derived.then_some(prefix), env);
        layers.insert(
            0,
            Layer::from_settings("derived defaults", &derived, |_| Origin::code_default())?,
        );
        let (values, origins) = layer::merge(&layers)?;
        let settings = Settings {
            name,
            values,
            origins,
            file: file.map(|(path, _, _)| path),
        };
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), SettingsError> {
        let err = |message: String| SettingsError::Target {
            target: self.name.to_string(),
            message,
        };
        match self.kind() {
            None => Err(err(
                "no kind: set `kind` in the target file to one of postgres, mysql, sqlite".into(),
            )),
            Some(DbKind::Sqlite) if self.path().is_none() => Err(err(
                "kind sqlite needs `path` (a database file, or \":memory:\")".into(),
            )),
            _ => {
                self.check_hosts()?;
                self.check_pool()
            }
        }
    }

    /// Several hosts are PostgreSQL's (libpq's), and ports must be one, or one per host.
    fn check_hosts(&self) -> Result<(), SettingsError> {
        let v = &self.values;
        let hosts = v.host.as_ref().map_or(0, |h| h.0.len());
        let ports = v.port.as_ref().map_or(0, |p| p.0.len());
        let (host_key, port_key) = (setting_key!(host), setting_key!(port));
        let message = if (hosts > 1 || ports > 1) && self.kind() != Some(DbKind::Postgres) {
            Some(format!(
                "{host_key} and {port_key} take several values for postgres targets only; allowed here: one each"
            ))
        } else if ports > 1 && ports != hosts {
            Some(format!(
                "{port_key} has {ports} entries but {host_key} has {hosts}; allowed: one port for every host, or one per host"
            ))
        } else {
            None
        };
        match message {
            Some(message) => Err(SettingsError::Target {
                target: self.name.to_string(),
                message,
            }),
            None => Ok(()),
        }
    }

    /// Pool sizes that sqlx would refuse or panic on, across the two keys.
    fn check_pool(&self) -> Result<(), SettingsError> {
        let pool = &self.values.pool;
        let min = pool.min_connections.map_or(0, |n| n.0);
        let max = pool
            .max_connections
            .map_or(SQLX_DEFAULT_MAX_CONNECTIONS, |n| n.0);
        if min <= max {
            return Ok(());
        }
        let origin = |key: &str| {
            self.origin(key)
                .map_or_else(|| "sqlx's default".to_owned(), ToString::to_string)
        };
        let (min_key, max_key) = (
            setting_key!(pool.min_connections),
            setting_key!(pool.max_connections),
        );
        Err(SettingsError::Target {
            target: self.name.to_string(),
            message: format!(
                "{min_key} ({min}, from {}) is more than {max_key} ({max}, from {}); \
                 allowed: min_connections <= max_connections",
                origin(min_key),
                origin(max_key),
            ),
        })
    }

    // ---- typed access ----

    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The target file that was read, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Every setting, typed.
    pub fn values(&self) -> &TargetSettings {
        &self.values
    }

    pub fn kind(&self) -> Option<DbKind> {
        self.values.kind.map(|k| k.0)
    }

    pub fn env_prefix(&self) -> &str {
        self.values
            .env_prefix
            .as_ref()
            .map_or("PROJECT_DB", |p| p.0.as_str())
    }

    /// The `sources` setting, when set; `chain::order` gives the order actually tried.
    pub fn sources(&self) -> Option<&[SourceKind]> {
        self.values.sources.as_ref().map(|s| s.0.as_slice())
    }

    pub fn path(&self) -> Option<&Path> {
        self.values.path.as_ref().map(|p| p.0.as_path())
    }

    /// `keyring.service`, when set.
    pub fn keyring_service(&self) -> Option<&str> {
        self.values.keyring.service.as_ref().map(|s| s.0.as_str())
    }

    /// `keyring.store` (default `auto`).
    pub fn keyring_store(&self) -> StoreChoice {
        self.values.keyring.store.map_or(StoreChoice::Auto, |s| s.0)
    }

    pub fn password_file(&self) -> Option<&Path> {
        self.values.password_file.as_ref().map(|p| p.0.as_path())
    }

    /// The schemas `metadata()` reflects: the `schemas` setting, else PostgreSQL `public`,
    /// MySQL the connection's database, SQLite `main`. Never whatever `search_path` says.
    pub fn schemas(&self) -> Vec<String> {
        if let Some(list) = &self.values.schemas
            && !list.0.is_empty()
        {
            return list.0.clone();
        }
        match self.kind() {
            Some(DbKind::Postgres) => vec!["public".into()],
            Some(DbKind::MySql) => self.values.database.iter().map(|d| d.0.clone()).collect(),
            _ => vec!["main".into()],
        }
    }

    pub fn cache_name(&self) -> String {
        self.values
            .cache_name
            .as_ref()
            .map_or_else(|| format!("{}_metadata", self.name), |c| c.0.clone())
    }

    /// Every set key with its typed value and origin, in key order.
    pub fn entries(&self) -> Vec<Entry> {
        entries::entries(&self.values, &self.origins)
    }

    /// The origin of a set key (name it with `setting_key!`).
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.origins.get(key)
    }

    /// The non-secret identity credential sources match against.
    pub fn identity(&self) -> TargetIdentity {
        let v = &self.values;
        TargetIdentity {
            name: self.name.to_string(),
            kind: self.kind().unwrap_or(DbKind::Sqlite),
            host: v.host.as_ref().and_then(Hosts::first).map(str::to_owned),
            port: v.port.as_ref().and_then(|p| p.numbers().first().copied()),
            database: v.database.as_ref().map(|d| d.0.clone()),
            user: v.user.as_ref().map(|u| u.0.clone()),
        }
    }

    /// Everything the database adapter needs, except the secret.
    pub fn spec(&self) -> TargetSpec {
        let v = &self.values;
        let pool = &v.pool;
        TargetSpec {
            identity: self.identity(),
            path: self.path().map(Path::to_owned),
            options: TargetOptions {
                sslmode: v.sslmode.map(|m| m.0),
                tls: TlsFiles {
                    root_cert: v.sslrootcert.as_ref().map(|r| r.0.clone()),
                    cert: v.sslcert.as_ref().map(|p| p.0.clone()),
                    key: v.sslkey.as_ref().map(|p| p.0.clone()),
                    crl: v.sslcrl.as_ref().map(|p| p.0.clone()),
                },
                application_name: v.application_name.as_ref().map(|a| a.0.clone()),
                connect_timeout: v.connect_timeout.map(|t| t.0),
                statement_timeout: v.statement_timeout.map(|t| t.0),
                search_path: v.search_path.as_ref().map(|l| l.0.clone()),
                hosts: self.endpoints(),
                target_session_attrs: v.target_session_attrs.map(|a| a.0),
                load_balance_hosts: v.load_balance_hosts.map(|b| b.0),
                pool: PoolOptions {
                    min_connections: pool.min_connections.map(|n| n.0),
                    max_connections: pool.max_connections.map(|n| n.0),
                    acquire_timeout: pool.acquire_timeout.map(|t| t.0),
                    idle_timeout: pool.idle_timeout.map(|t| t.0),
                    max_lifetime: pool.max_lifetime.map(|t| t.0),
                    test_before_acquire: pool.test_before_acquire.map(|f| f.0),
                },
            },
        }
    }

    /// Every server of a target with several, each host with its port (the one port, or the
    /// port in the same place); empty for a target with one. `check` has made the counts fit.
    pub fn endpoints(&self) -> Vec<domain::Endpoint> {
        let v = &self.values;
        let hosts: Vec<&str> = v
            .host
            .as_ref()
            .map_or_else(Vec::new, |h| h.0.iter().map(|h| h.0.as_str()).collect());
        let ports = v.port.as_ref().map_or_else(Vec::new, Ports::numbers);
        if hosts.len() < 2 && ports.len() < 2 {
            return Vec::new();
        }
        hosts
            .iter()
            .enumerate()
            .map(|(i, host)| domain::Endpoint {
                host: (*host).to_owned(),
                port: match ports.len() {
                    0 => None,
                    1 => Some(ports[0]),
                    _ => ports.get(i).copied(),
                },
            })
            .collect()
    }

    /// Whether connections choose among servers (several hosts, or a `target_session_attrs`
    /// to check), which only the pool's connector does: tools that reach one server
    /// themselves refuse such a target.
    pub fn chooses_a_server(&self) -> bool {
        !self.endpoints().is_empty()
            || self
                .values
                .target_session_attrs
                .is_some_and(|a| a.0.needs_check())
    }

    /// `where` for `dbcore targets`: `host:port/database` or the SQLite path.
    pub fn location(&self) -> String {
        match self.kind() {
            Some(DbKind::Sqlite) => self
                .path()
                .map_or_else(String::new, |p| p.display().to_string()),
            _ if !self.endpoints().is_empty() => {
                let hosts: Vec<String> = self
                    .endpoints()
                    .iter()
                    .map(|e| {
                        let port = e.port.map_or_else(|| "default".into(), |p| p.to_string());
                        format!("{}:{port}", e.host)
                    })
                    .collect();
                let database = self.identity().database.unwrap_or_default();
                format!("{}/{database}", hosts.join(","))
            }
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

/// The target file, when it exists: its path, typed settings and layer.
fn read_target_file(
    path: &Path,
) -> Result<Option<(PathBuf, TargetSettings, Layer)>, SettingsError> {
    let Some(bytes) = read_regular(path, FileKind::SETTINGS)? else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes).map_err(|_| SettingsError::File {
        path: path.to_owned(),
        line: None,
        message: "the file is not valid UTF-8".into(),
    })?;
    let (settings, layer) = file::read(path, &text)?;
    Ok(Some((path.to_owned(), settings, layer)))
}

/// Defaults that depend on the run, for keys no layer set: the login name as user (as libpq,
/// for kinds with credentials), the binary's name as application_name, and a file-only
/// target's own environment prefix.
fn derived_defaults(
    merged: &TargetSettings,
    prefix: Option<String>,
    env: &dyn Env,
) -> TargetSettings {
    let uses_credentials = merged.kind.is_some_and(|k| k.0.uses_credentials());
    TargetSettings {
        user: merged
            .user
            .is_none()
            .then(|| env.login_name())
            .flatten()
            .filter(|_| uses_credentials)
            .map(Text),
        application_name: merged
            .application_name
            .is_none()
            .then(binary_name)
            .flatten()
            .map(Text),
        env_prefix: prefix.map(Text),
        ..TargetSettings::default()
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

#[cfg(test)]
mod tests;

#[cfg(test)]
mod hostile_tests;

#[cfg(test)]
mod loader_tests;

#[cfg(test)]
mod libpq_tests;

#[cfg(test)]
mod hosts_tests;

#[cfg(test)]
mod mycnf_tls_tests;
