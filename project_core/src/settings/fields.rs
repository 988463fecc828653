//! Every setting a target has, in one typed tree: the target file's shape (`deny_unknown_fields`
//! refuses a key that is not here), and what the layers are merged into. A key exists here
//! and nowhere else; the environment table (`environment.rs`) names the fields it may set.

use serde::{Deserialize, Serialize};

use super::values::{
    Balance, Choice, FilePath, Flag, Hosts, Kind, KvVersion, Names, PoolSize, Ports,
    RootCertSetting, SessionAttrsChoice, Sources, Ssl, Store, Text, TimeSpan, VaultAuthMethod,
};

/// A target's settings; every field is optional, and an unset one takes the driver's or the
/// kind's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    pub kind: Option<Kind>,
    /// One host, or several tried in order (PostgreSQL, as libpq's `host=a,b`).
    pub host: Option<Hosts>,
    /// One port for every host, or one per host.
    pub port: Option<Ports>,
    /// Which of several hosts a connection may stay on (libpq's `target_session_attrs`).
    pub target_session_attrs: Option<SessionAttrsChoice>,
    /// Try the hosts in order (`disable`) or shuffled for every connection (`random`).
    pub load_balance_hosts: Option<Balance>,
    pub database: Option<Text>,
    pub user: Option<Text>,
    /// A libpq connection service (`pg_service.conf`) whose values lie below this file's.
    pub service: Option<Text>,
    /// The SQLite database file (or `:memory:`).
    pub path: Option<FilePath>,
    /// The credential sources tried, in order; unset, the kind's usual ones (`chain` decides).
    pub sources: Option<Sources>,
    /// Never from the environment: it decides which variables are read.
    pub env_prefix: Option<Text>,
    pub cache_name: Option<Text>,
    /// The `file` source's password file.
    pub password_file: Option<FilePath>,
    pub sslmode: Option<Ssl>,
    /// The CAs the server's certificate is checked against (libpq's `sslrootcert`; MySQL's
    /// `ssl-ca`).
    pub sslrootcert: Option<RootCertSetting>,
    /// A client certificate (libpq's `sslcert`; MySQL's `ssl-cert`), and its key, which must
    /// be readable by its owner only.
    pub sslcert: Option<FilePath>,
    pub sslkey: Option<FilePath>,
    /// Revocation lists the server's certificate is checked against (libpq's `sslcrl`; PEM).
    pub sslcrl: Option<FilePath>,
    pub application_name: Option<Text>,
    pub connect_timeout: Option<TimeSpan>,
    pub statement_timeout: Option<TimeSpan>,
    pub search_path: Option<Names>,
    /// The schemas `metadata()` reflects.
    pub schemas: Option<Names>,
    #[serde(default)]
    pub pool: PoolSettings,
    #[serde(default)]
    pub keyring: KeyringSettings,
    #[serde(default)]
    pub vault: VaultSettings,
}

/// `[pool]`: sqlx's pool options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSettings {
    pub min_connections: Option<PoolSize<0>>,
    pub max_connections: Option<PoolSize<1>>,
    pub acquire_timeout: Option<TimeSpan>,
    pub idle_timeout: Option<TimeSpan>,
    pub max_lifetime: Option<TimeSpan>,
    pub test_before_acquire: Option<Flag>,
}

/// `[keyring]`: where the `keyring` source looks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyringSettings {
    pub service: Option<Text>,
    pub store: Option<Store>,
}

/// `[vault]`: the Vault source's address, login and secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSettings {
    pub address: Option<Text>,
    pub ca_cert: Option<FilePath>,
    /// Only from the target file: plain http to a remote Vault is a decision about that target.
    pub allow_http: Option<Flag>,
    pub namespace: Option<Text>,
    pub auth: Option<Choice<VaultAuthMethod>>,
    pub auth_mount: Option<Text>,
    pub role: Option<Text>,
    pub token_file: Option<FilePath>,
    pub role_id_file: Option<FilePath>,
    pub secret_id_file: Option<FilePath>,
    pub jwt_file: Option<FilePath>,
    #[serde(default)]
    pub kv: VaultKvSettings,
    #[serde(default)]
    pub database: VaultDatabaseSettings,
}

/// `vault.kv`: a KV secret holding the user name and password.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultKvSettings {
    pub mount: Option<Text>,
    pub path: Option<Text>,
    pub version: Option<KvVersion>,
    pub username_key: Option<Text>,
    pub password_key: Option<Text>,
}

/// `vault.database`: the database secrets engine's dynamic or static role.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultDatabaseSettings {
    pub mount: Option<Text>,
    pub role: Option<Text>,
    pub static_role: Option<Text>,
}

/// The key of a field of [`TargetSettings`], checked by the compiler: `setting_key!(pool.
/// max_connections)` is `"pool.max_connections"`, and a field that does not exist does not
/// compile. Code that names one setting (a message, the environment table) names it this way.
macro_rules! setting_key {
    ($($field:ident).+) => {{
        let _exists = |s: &$crate::settings::TargetSettings| {
            let _ = &s.$($field).+;
        };
        stringify!($($field).+)
    }};
}
pub(crate) use setting_key;

/// The leaves of a settings tree by dotted key, each value in its JSON form (a setting type's
/// canonical form: a string, an integer, a boolean or a list); unset ones only when
/// `with_unset` (as `null`).
pub fn leaves(settings: &TargetSettings, with_unset: bool) -> Vec<(String, serde_json::Value)> {
    fn walk(
        prefix: Option<&str>,
        value: serde_json::Value,
        with_unset: bool,
        out: &mut Vec<(String, serde_json::Value)>,
    ) {
        let serde_json::Value::Object(map) = value else {
            return;
        };
        for (name, value) in map {
            let key = prefix.map_or_else(|| name.clone(), |p| format!("{p}.{name}"));
            match value {
                serde_json::Value::Object(_) => walk(Some(&key), value, with_unset, out),
                serde_json::Value::Null if !with_unset => {}
                leaf => out.push((key, leaf)),
            }
        }
    }
    let mut out = Vec::new();
    // Serializing plain data with string keys cannot fail.
    if let Ok(tree) = serde_json::to_value(settings) {
        walk(None, tree, with_unset, &mut out);
    }
    out
}

/// Every key of [`TargetSettings`], dotted, in order: read from the tree itself (an unset
/// field serializes as `null`, a table as an object), so it can never disagree with it.
pub fn all_keys() -> Vec<String> {
    leaves(&TargetSettings::default(), true)
        .into_iter()
        .map(|(key, _)| key)
        .collect()
}

/// Whether the key path `segments` (as written: a quoted segment may hold a dot) names a
/// setting or a table of [`TargetSettings`].
pub fn is_known<S: AsRef<str>>(segments: &[S]) -> bool {
    static KEYS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(all_keys);
    KEYS.iter().any(|key| {
        let mut parts = key.split('.');
        segments.iter().all(|s| parts.next() == Some(s.as_ref()))
    })
}

/// What may be written inside the table `parent` (the top level when `None`): its settings,
/// then its tables (`[pool]` at the top level, `kv = { … }` below it).
pub fn allowed_under(parent: Option<&str>) -> String {
    let mut settings = Vec::new();
    let mut tables = Vec::new();
    for key in all_keys() {
        let rest = match parent {
            None => key.as_str(),
            Some(p) => match key.strip_prefix(p).and_then(|r| r.strip_prefix('.')) {
                Some(rest) => rest,
                None => continue,
            },
        };
        match rest.split_once('.') {
            None => settings.push(rest.to_owned()),
            Some((table, _)) => {
                let shown = match parent {
                    None => format!("[{table}]"),
                    Some(_) => format!("{table} = {{ … }}"),
                };
                if !tables.contains(&shown) {
                    tables.push(shown);
                }
            }
        }
    }
    settings.extend(tables);
    settings.join(", ")
}
