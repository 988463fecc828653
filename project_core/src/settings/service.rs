//! libpq's connection service file as a settings layer: `service = "NAME"` (or
//! `<PREFIX>_SERVICE`, then `PGSERVICE`) names a section of `pg_service.conf`, whose values lie
//! below the target file and above libpq's variables — libpq fills a connection's options from
//! the service before it looks at the environment. Each value's origin is
//! `service:NAME in FILE line N`.
//!
//! Keys are libpq's and mean what they mean to libpq (`dbname` is `database`). libpq options
//! dbcore has no setting for (`keepalives`, `gssencmode` …) are accepted, as libpq accepts them,
//! and listed by a warning: they have no effect here. `password=` is not read: a secret does not
//! come from a settings file here, whatever libpq allows; the credential chain (pgpass, a
//! keyring, Vault …) supplies it, and the warning says so.

use config::{Map, Value};
use domain::{DbKind, Env};

use adapters::service_file::{self, Service};

use super::error::SettingsError;
use super::fields::TargetSettings;
use super::layer::Layer;
use super::origin::Origin;
use super::values::{
    Balance, FilePath, Hosts, Ports, RootCertSetting, SessionAttrsChoice, SettingValue, Ssl, Text,
    TimeSpan,
};

/// The service's layer for a PostgreSQL target that names one; `None` otherwise.
pub(super) fn service_layer(
    target: &str,
    merged: &TargetSettings,
    env: &dyn Env,
) -> Result<Option<Layer>, SettingsError> {
    if merged.kind.as_ref().map(|k| k.0) != Some(DbKind::Postgres) {
        return Ok(None);
    }
    // libpq's variables count when set, even empty (`PGSERVICE=` asks for the service ``,
    // which psql reports as not found); the target's own setting is ours.
    let Some(name) = merged
        .service
        .as_ref()
        .map(|s| s.0.clone())
        .or_else(|| env.var("PGSERVICE"))
    else {
        return Ok(None);
    };
    let files = service_file::search_path(
        env.var("PGSERVICEFILE").as_deref(),
        env.home_dir().as_deref(),
        env.var("PGSYSCONFDIR").as_deref(),
    );
    let service = service_file::find(&name, &files)
        .map_err(|e| SettingsError::File {
            path: e.file.clone(),
            line: e.line,
            message: e.message,
        })?
        .ok_or_else(|| SettingsError::Target {
            target: target.to_owned(),
            // The name is described, not repeated: a secret pasted into the wrong key must
            // not reach a terminal (explain shows the setting itself).
            message: format!(
                "no definition of the service `service` names ({}) in {}",
                super::values::describe_text(&name),
                files
                    .iter()
                    .map(|f| f.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    values(&name, &service).map(Some)
}

/// The service's entries as settings, each parsed as its setting's type.
fn values(name: &str, service: &Service) -> Result<Layer, SettingsError> {
    let mut values = Map::new();
    let mut unused = Vec::new();
    for entry in &service.entries {
        let refused = |message: String| SettingsError::File {
            path: service.file.clone(),
            line: Some(entry.line),
            message: format!("service `{name}`, key `{}`: {message}", entry.key),
        };
        let raw = entry.value.as_str();
        if entry.key != "password"
            && let Some(shape) = domain::redact::find_secret(raw)
        {
            return Err(refused(format!(
                "holds {}; put the password in a credential source instead",
                shape.describe()
            )));
        }
        let parsed: Option<(&str, Result<config::ValueKind, String>)> = match entry.key.as_str() {
            "host" => Some(("host", typed::<Hosts>(raw))),
            "port" => Some(("port", typed::<Ports>(raw))),
            "dbname" => Some(("database", typed::<Text>(raw))),
            "user" => Some(("user", typed::<Text>(raw))),
            "sslmode" => Some(("sslmode", typed::<Ssl>(raw))),
            "sslrootcert" => Some(("sslrootcert", typed::<RootCertSetting>(raw))),
            "sslcert" => Some(("sslcert", typed::<FilePath>(raw))),
            "sslkey" => Some(("sslkey", typed::<FilePath>(raw))),
            "sslcrl" => Some(("sslcrl", typed::<FilePath>(raw))),
            "application_name" => Some(("application_name", typed::<Text>(raw))),
            "connect_timeout" => Some(("connect_timeout", typed::<TimeSpan>(raw))),
            "target_session_attrs" => {
                Some(("target_session_attrs", typed::<SessionAttrsChoice>(raw)))
            }
            "load_balance_hosts" => Some(("load_balance_hosts", typed::<Balance>(raw))),
            other => {
                unused.push(other.to_owned());
                None
            }
        };
        let Some((key, kind)) = parsed else { continue };
        let kind = kind.map_err(refused)?;
        let origin = Origin::service(name, &service.file, entry.line).to_string();
        values.insert(key.to_owned(), Value::new(Some(&origin), kind));
    }
    if !unused.is_empty() {
        tracing::warn!(
            service = name,
            file = %service.file.display(),
            keys = unused.join(", "),
            "service keys dbcore has no setting for are not used (password: the credential chain supplies it)"
        );
    }
    Ok(Layer::new("service", values))
}

fn typed<T: SettingValue>(raw: &str) -> Result<config::ValueKind, String> {
    T::from_env(raw)
        .map(|v| v.canonical())
        .map_err(super::values::refusal::<T>)
}

#[cfg(test)]
mod tests {
    use super::super::Settings;
    use domain::MapEnv;

    fn setup(service_file: &str, target: &str) -> (tempfile::TempDir, MapEnv) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("services.conf"), service_file).unwrap();
        let targets = dir.path().join("targets");
        std::fs::create_dir_all(&targets).unwrap();
        std::fs::write(targets.join("t.toml"), target).unwrap();
        let env = MapEnv::new()
            .with(
                "PGSERVICEFILE",
                dir.path().join("services.conf").display().to_string(),
            )
            .with(
                "PGSYSCONFDIR",
                dir.path().join("no-such-dir").display().to_string(),
            );
        (dir, env)
    }

    #[test]
    fn a_named_service_fills_what_the_target_file_leaves_unset_with_its_line_as_origin() {
        let (dir, env) = setup(
            "[orders]\nhost=db-a,db-b\nport=5433\ndbname=orders\nuser=app\ntarget_session_attrs=read-write\nkeepalives=1\npassword=not-read\n",
            "kind = \"postgres\"\nservice = \"orders\"\nuser = \"me\"\n",
        );
        let settings = Settings::load("t", None, Some(dir.path()), &env).unwrap();
        let spec = settings.spec();
        assert_eq!(spec.identity.database.as_deref(), Some("orders"));
        assert_eq!(
            spec.identity.user.as_deref(),
            Some("me"),
            "the target file wins"
        );
        assert_eq!(settings.endpoints().len(), 2);
        assert_eq!(spec.identity.port, Some(5433));
        let origin = settings.origin("database").unwrap().to_string();
        assert!(
            origin.starts_with("service:orders in ") && origin.ends_with("services.conf line 4"),
            "{origin}"
        );
        // PGSERVICE names it when the target does not; libpq's variables lose to the service.
        let (dir, env) = setup("[s]\nsslmode=require\n", "kind = \"postgres\"\n");
        let env = env.with("PGSERVICE", "s").with("PGSSLMODE", "disable");
        let settings = Settings::load("t", None, Some(dir.path()), &env).unwrap();
        assert_eq!(
            settings.spec().options.sslmode,
            Some(domain::SslMode::Require)
        );
    }

    #[test]
    fn a_missing_service_names_the_files_and_a_bad_line_names_its_place() {
        let (dir, env) = setup(
            "[other]\nport=1\n",
            "kind = \"postgres\"\nservice = \"gone\"\n",
        );
        let error = Settings::load("t", None, Some(dir.path()), &env)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "no definition of the service `service` names (a string of 4 characters) in"
            ) && !error.contains("gone"),
            "{error}"
        );
        assert!(
            error.contains("services.conf") && error.contains("no-such-dir"),
            "{error}"
        );

        let (dir, env) = setup("[s]\nport = 1\n", "kind = \"postgres\"\nservice = \"s\"\n");
        let error = Settings::load("t", None, Some(dir.path()), &env)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 2") && error.contains("`port `"),
            "{error}"
        );

        let (dir, env) = setup(
            "[s]\nport=99999\n",
            "kind = \"postgres\"\nservice = \"s\"\n",
        );
        let error = Settings::load("t", None, Some(dir.path()), &env)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 2") && error.contains("key `port`"),
            "{error}"
        );

        let (dir, env) = setup(
            "[s]\nhost=u:pw@db\n",
            "kind = \"postgres\"\nservice = \"s\"\n",
        );
        let error = Settings::load("t", None, Some(dir.path()), &env)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("pw"), "{error}");
    }
}
