//! The child's environment: the variables its client library reads to find the connection
//! (never the password itself), and the secret-bearing variables it must not inherit.

use std::ffi::OsString;
use std::path::Path;

use domain::{DbKind, TargetSpec};

use super::client_files;

/// Variables that hold a secret, or point a client somewhere else than the target, and are
/// taken out of the child's environment whatever else happens (`PGHOSTADDR` would send a
/// client to another address under the target's host name).
const NEVER_INHERITED: &[&str] = &[
    "PGPASSWORD",
    "PGHOSTADDR",
    "MYSQL_PWD",
    "MYSQL_HOST",
    "MYSQL_TCP_PORT",
    "MYSQL_UNIX_PORT",
    "VAULT_TOKEN",
    "VAULT_SECRET_ID",
    "VAULT_ROLE_ID",
];

/// What to set and what to remove.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChildEnv {
    pub set: Vec<(String, OsString)>,
    pub removed: Vec<String>,
}

/// The environment for a child of `kind`, whose files are in `private_dir`.
///
/// PostgreSQL: the service file (`PGSERVICEFILE`, `PGSERVICE`) is what libpq follows — it
/// applies a service before the environment, and reads the file at each connection, so a new
/// user name after a rotation reaches the next connection. `PGHOST`, `PGUSER` and the rest
/// say the same for programs that read them themselves (they are the first credential's
/// and are not updated in a running child).
pub fn for_child(
    kind: DbKind,
    spec: &TargetSpec,
    user: Option<&str>,
    private_dir: &Path,
    application_name: &str,
    env_prefix: &str,
    inherited: &[String],
) -> ChildEnv {
    let mut env = ChildEnv {
        removed: NEVER_INHERITED.iter().map(|v| (*v).to_owned()).collect(),
        ..ChildEnv::default()
    };
    // Every variable of the target's own prefix: its password, its Vault role and secret
    // ids, the paths of its secret files. They are dbcore's configuration, not the child's.
    let own = format!("{env_prefix}_");
    env.removed.extend(
        inherited
            .iter()
            .filter(|name| name.starts_with(&own))
            .cloned(),
    );
    let identity = &spec.identity;
    let mut set = |name: &str, value: OsString| env.set.push((name.to_owned(), value));
    match kind {
        DbKind::MySql => {
            // The clients read `$MARIADB_HOME/my.cnf` (MariaDB) or `$MYSQL_HOME/my.cnf`
            // after the system files and before `~/.my.cnf`.
            set("MYSQL_HOME", private_dir.into());
            set("MARIADB_HOME", private_dir.into());
        }
        _ => {
            set("PGPASSFILE", private_dir.join(client_files::PGPASS).into());
            set(
                "PGSERVICEFILE",
                private_dir.join(client_files::SERVICE_FILE).into(),
            );
            set("PGSERVICE", client_files::SERVICE.into());
            let mut optional = |name: &str, value: Option<String>| match value {
                Some(value) => set(name, value.into()),
                None => env.removed.push(name.to_owned()),
            };
            optional("PGHOST", identity.host.clone());
            optional("PGPORT", identity.port.map(|p| p.to_string()));
            optional("PGDATABASE", identity.database.clone());
            optional("PGUSER", user.map(str::to_owned));
            optional(
                "PGSSLMODE",
                spec.options.sslmode.map(|m| m.as_str().to_owned()),
            );
            optional(
                "PGAPPNAME",
                Some(
                    spec.options
                        .application_name
                        .clone()
                        .unwrap_or_else(|| application_name.to_owned()),
                ),
            );
        }
    }
    env.removed
        .retain(|name| !env.set.iter().any(|(set, _)| set == name));
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{TargetIdentity, TargetOptions};

    fn spec(kind: DbKind) -> TargetSpec {
        TargetSpec {
            identity: TargetIdentity {
                name: "t".into(),
                kind,
                host: Some("127.0.0.1".into()),
                port: None,
                database: Some("app".into()),
                user: Some("target-user".into()),
            },
            path: None,
            options: TargetOptions::default(),
        }
    }

    fn value<'a>(env: &'a ChildEnv, name: &str) -> Option<&'a str> {
        env.set
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.to_str())
    }

    #[test]
    fn postgres_children_get_libpq_variables_and_the_file_but_no_password_variable() {
        let env = for_child(
            DbKind::Postgres,
            &spec(DbKind::Postgres),
            Some("v-role"),
            Path::new("/run/x"),
            "psql",
            "PROJECT_DB",
            &[
                "PROJECT_DB_PASSWORD".to_owned(),
                "PROJECT_DB_VAULT_SECRET_ID".to_owned(),
                "HOME".to_owned(),
            ],
        );
        assert_eq!(value(&env, "PGPASSFILE"), Some("/run/x/pgpass"));
        assert_eq!(value(&env, "PGSERVICEFILE"), Some("/run/x/pg_service.conf"));
        assert_eq!(value(&env, "PGSERVICE"), Some("dbcore"));
        assert_eq!(value(&env, "PGHOST"), Some("127.0.0.1"));
        assert_eq!(value(&env, "PGUSER"), Some("v-role"));
        assert_eq!(value(&env, "PGDATABASE"), Some("app"));
        assert_eq!(value(&env, "PGAPPNAME"), Some("psql"));
        assert!(
            env.removed.contains(&"PGPORT".to_owned()),
            "unset: libpq's default"
        );
        for secret in [
            "PGPASSWORD",
            "MYSQL_PWD",
            "VAULT_TOKEN",
            "PROJECT_DB_PASSWORD",
        ] {
            assert!(env.removed.contains(&secret.to_owned()), "{secret}");
            assert!(value(&env, secret).is_none());
        }
    }

    #[test]
    fn mysql_children_get_the_option_file_directory() {
        let env = for_child(
            DbKind::MySql,
            &spec(DbKind::MySql),
            Some("u"),
            Path::new("/run/x"),
            "mariadb",
            "KR",
            &["KR_PASSWORD".to_owned()],
        );
        assert_eq!(value(&env, "MYSQL_HOME"), Some("/run/x"));
        assert_eq!(value(&env, "MARIADB_HOME"), Some("/run/x"));
        assert!(env.removed.contains(&"MYSQL_PWD".to_owned()));
        assert!(env.removed.contains(&"KR_PASSWORD".to_owned()));
    }
}
