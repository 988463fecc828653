//! The environment overlay: `<PREFIX>_<SUFFIX>` variables over the target file, one table.
//!
//! Each line of [`ENV_KEYS`] names a variable suffix and the typed field it sets; the field's
//! type parses the text, so a variable can only ever hold what its field allows. A key that is
//! not in the table (`env_prefix`, paths to secret files, most of `[vault]`) cannot come from
//! the environment: those are decisions about a target, written in its file.

use config::{Map, Value, ValueKind};
use domain::Env;
use domain::redact::find_secret;

use super::error::SettingsError;
use super::fields::TargetSettings;
use super::layer::Layer;
use super::origin::Origin;
use super::values::{SettingValue, refusal};

/// One environment override: `<PREFIX>_<suffix>` sets the setting `key`.
#[derive(Debug)]
pub struct EnvKey {
    pub suffix: &'static str,
    pub key: &'static str,
    /// Parses the variable's text as the field's type, into its canonical form.
    pub(super) parse: fn(&str) -> Result<ValueKind, String>,
}

/// Reads `raw` as the type of the field `_field` selects.
pub(super) fn as_field<T: SettingValue>(
    _field: fn(&TargetSettings) -> &Option<T>,
    raw: &str,
) -> Result<ValueKind, String> {
    T::from_env(raw)
        .map(|value| value.canonical())
        .map_err(refusal::<T>)
}

macro_rules! env_keys {
    ($($suffix:literal => $($field:ident).+,)*) => {
        &[$(EnvKey {
            suffix: $suffix,
            key: super::fields::setting_key!($($field).+),
            parse: |raw| $crate::settings::environment::as_field(
                |s: &$crate::settings::fields::TargetSettings| &s.$($field).+,
                raw,
            ),
        },)*]
    };
}
pub(super) use env_keys;

/// Every setting the environment may set. Adding one is one line here.
#[rustfmt::skip]
pub const ENV_KEYS: &[EnvKey] = env_keys![
    "KIND" => kind,
    "HOST" => host,
    "PORT" => port,
    "DATABASE" => database,
    "USER" => user,
    "SERVICE" => service,
    "PATH" => path,
    "SOURCES" => sources,
    "CACHE_NAME" => cache_name,
    "TARGET_SESSION_ATTRS" => target_session_attrs,
    "LOAD_BALANCE_HOSTS" => load_balance_hosts,
    "SSLMODE" => sslmode,
    "SSLROOTCERT" => sslrootcert,
    "SSLCERT" => sslcert,
    "SSLKEY" => sslkey,
    "SSLCRL" => sslcrl,
    "APPLICATION_NAME" => application_name,
    "CONNECT_TIMEOUT" => connect_timeout,
    "STATEMENT_TIMEOUT" => statement_timeout,
    "SEARCH_PATH" => search_path,
    "SCHEMAS" => schemas,
    "MIN_CONNECTIONS" => pool.min_connections,
    "MAX_CONNECTIONS" => pool.max_connections,
    "ACQUIRE_TIMEOUT" => pool.acquire_timeout,
    "IDLE_TIMEOUT" => pool.idle_timeout,
    "MAX_LIFETIME" => pool.max_lifetime,
    "TEST_BEFORE_ACQUIRE" => pool.test_before_acquire,
    "KEYRING_SERVICE" => keyring.service,
    "KEYRING_STORE" => keyring.store,
    "VAULT_ADDRESS" => vault.address,
    "VAULT_AUTH" => vault.auth,
];

/// The layer of `<prefix>_*` variables that are set and not empty (empty counts as unset, as
/// in the original pattern).
pub fn overlay(prefix: &str, env: &dyn Env) -> Result<Layer, SettingsError> {
    variables_layer(
        "environment",
        ENV_KEYS,
        |entry| format!("{prefix}_{}", entry.suffix),
        env,
    )
}

/// The layer of the variables `var_of` names for `entries`, each parsed as its field's type
/// and refused when it holds a secret.
pub(super) fn variables_layer(
    name: &'static str,
    entries: &[EnvKey],
    var_of: impl Fn(&EnvKey) -> String,
    env: &dyn Env,
) -> Result<Layer, SettingsError> {
    let mut values = Map::new();
    for entry in entries {
        let var = var_of(entry);
        let Some(raw) = env.non_empty(&var) else {
            continue;
        };
        // The environment is a place for the password (`_PASSWORD`), not for a secret hidden
        // in a host, a list or a name, where explain and errors would show it.
        if let Some(shape) = find_secret(&raw) {
            return Err(SettingsError::Env {
                var,
                message: format!(
                    "holds {}; put the password in a credential source instead",
                    shape.describe()
                ),
            });
        }
        let kind = (entry.parse)(&raw).map_err(|message| SettingsError::Env {
            var: var.clone(),
            message,
        })?;
        let origin = Origin::env(&var).to_string();
        values.insert(entry.key.to_owned(), Value::new(Some(&origin), kind));
    }
    Ok(Layer::new(name, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_names_a_distinct_variable_and_key() {
        let mut suffixes: Vec<&str> = ENV_KEYS.iter().map(|e| e.suffix).collect();
        let mut keys: Vec<&str> = ENV_KEYS.iter().map(|e| e.key).collect();
        suffixes.sort_unstable();
        suffixes.dedup();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(suffixes.len(), ENV_KEYS.len());
        assert_eq!(keys.len(), ENV_KEYS.len());
        assert!(keys.contains(&"pool.max_connections"), "{keys:?}");
        assert!(
            !keys.contains(&"env_prefix"),
            "the prefix decides the variables"
        );
    }

    #[test]
    fn an_entry_parses_as_its_field_type() {
        let entry = |suffix: &str| ENV_KEYS.iter().find(|e| e.suffix == suffix).unwrap();
        assert_eq!((entry("PORT").parse)("5432"), Ok(ValueKind::I64(5432)));
        assert_eq!(
            (entry("PORT").parse)("x"),
            Err("got a string of 1 character; allowed: an integer from 1 to 65535, or a list of them, one per host (comma-separated in the environment)".into())
        );
        assert_eq!(
            (entry("TEST_BEFORE_ACQUIRE").parse)("on"),
            Ok(ValueKind::Boolean(true))
        );
    }
}
