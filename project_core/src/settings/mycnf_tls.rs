//! What the MySQL client itself takes from its option file for TLS, so that dbcore and the
//! `mysql` / `mariadb` clients beside it agree: `ssl-ca`, `ssl-cert`, `ssl-key` and `ssl-mode`
//! of the `[client]` group and the target's own group, in the file the `mycnf` source reads
//! (`<PREFIX>_MYCNF`, else `~/.my.cnf`).
//!
//! Like libpq's variables for PostgreSQL, they form a layer above the code defaults and below
//! the target file, each value with its file and line as origin. A file the source would not
//! read (missing, world-writable, not a regular file) gives nothing; one that does not parse
//! gives nothing here either (a warning), because a MySQL target that does not use the
//! `mycnf` source must not fail over a file it does not read for passwords; the source, when
//! it is in the chain, reports the file's error itself.

use config::{Map, Value};
use domain::{DbKind, Env};

use super::error::SettingsError;
use super::layer::Layer;
use super::origin::Origin;
use super::values::{FilePath, RootCertSetting, SettingValue, Ssl};

/// The option names and the settings they set.
const OPTIONS: &[(&str, &str)] = &[
    ("ssl-ca", "sslrootcert"),
    ("ssl-cert", "sslcert"),
    ("ssl-key", "sslkey"),
    ("ssl-mode", "sslmode"),
];

/// The TLS options of a MySQL target's option file, as a layer.
pub(super) fn options_layer(
    kind: Option<DbKind>,
    target: &str,
    prefix: &str,
    env: &dyn Env,
) -> Result<Option<Layer>, SettingsError> {
    if kind != Some(DbKind::MySql) {
        return Ok(None);
    }
    let Some(path) = adapters::credentials::mycnf::option_file_path(prefix, env) else {
        return Ok(None);
    };
    let parsed = match adapters::credentials::mycnf::read_options(&path, &["client", target]) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return Ok(None),
        Err(reason) => {
            tracing::warn!(%reason, "the option file's TLS options are not used");
            return Ok(None);
        }
    };
    let mut values = Map::new();
    for (option, key) in OPTIONS {
        let Some(found) = parsed.options.get(*option) else {
            continue;
        };
        let refused = |message: String| SettingsError::File {
            path: path.clone(),
            line: Some(found.line),
            message: format!("option `{option}` (setting `{key}`): {message}"),
        };
        let kind = match *key {
            // The MySQL client has no magic word: `system` is a file of that name, which
            // the settings write as `./system` (libpq's way of naming that file).
            "sslrootcert" => {
                let file = match found.value.as_str() {
                    "system" => "./system".to_owned(),
                    other => other.to_owned(),
                };
                Ok(RootCertSetting(domain::RootCert::File(file.into())).canonical())
            }
            "sslmode" => Ssl::from_env(&found.value).map(|v| v.canonical()),
            _ => FilePath::from_env(&found.value).map(|v| v.canonical()),
        }
        .map_err(|e| refused(format!("{e}; allowed: {}", allowed(key))))?;
        let origin = Origin::file(&path, Some(found.line)).to_string();
        values.insert((*key).to_owned(), Value::new(Some(&origin), kind));
    }
    Ok(Some(Layer::new("option file", values)))
}

fn allowed(key: &str) -> String {
    match key {
        "sslmode" => "one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY".into(),
        "sslrootcert" => RootCertSetting::allowed(),
        _ => FilePath::allowed(),
    }
}
