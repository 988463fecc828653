use crate::DbKind;

/// The non-secret identity of a target: what a credential source matches against.
///
/// Values are the ones the target will connect with, after settings have been layered;
/// sources apply their own defaulting rules on top (pgpass, for instance, turns an empty host
/// into `localhost` exactly as libpq does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetIdentity {
    /// The target's name, e.g. `laptop`.
    pub name: String,
    pub kind: DbKind,
    /// A host name, an IP address, or (PostgreSQL) a Unix-socket directory starting with `/`.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: Option<String>,
    pub user: Option<String>,
}

impl TargetIdentity {
    /// A short `user@host:port/database` for messages; never contains a secret.
    pub fn display_address(&self) -> String {
        let user = self.user.as_deref().unwrap_or("");
        let host = self.host.as_deref().unwrap_or("");
        let database = self.database.as_deref().unwrap_or("");
        match self.port {
            Some(port) => format!("{user}@{host}:{port}/{database}"),
            None => format!("{user}@{host}/{database}"),
        }
    }
}

/// Everything needed to open connections to a target, except the secret.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    pub identity: TargetIdentity,
    /// SQLite: the database file (`:memory:` for an in-memory database).
    pub path: Option<std::path::PathBuf>,
    pub options: TargetOptions,
}

/// Connection and pool options; all optional so that the driver's defaults apply when unset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetOptions {
    /// libpq's sslmode; the driver's default (`prefer`) when unset.
    pub sslmode: Option<crate::SslMode>,
    /// The CA, client certificate and revocation list for TLS.
    pub tls: crate::TlsFiles,
    /// Reported to the server; defaults to the running binary's name.
    pub application_name: Option<String>,
    pub connect_timeout: Option<std::time::Duration>,
    pub statement_timeout: Option<std::time::Duration>,
    /// Schemas, in order; set explicitly on every connection when given.
    pub search_path: Option<Vec<String>>,
    /// Every server of a target with more than one (PostgreSQL), in the order given; empty
    /// for a target with one, which is the identity's host and port.
    pub hosts: Vec<crate::Endpoint>,
    pub target_session_attrs: Option<crate::SessionAttrs>,
    pub load_balance_hosts: Option<crate::LoadBalance>,
    pub pool: PoolOptions,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolOptions {
    pub min_connections: Option<u32>,
    pub max_connections: Option<u32>,
    pub acquire_timeout: Option<std::time::Duration>,
    pub idle_timeout: Option<std::time::Duration>,
    pub max_lifetime: Option<std::time::Duration>,
    pub test_before_acquire: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_display_address_is_user_at_host_port_and_database() {
        let mut identity = TargetIdentity {
            name: "t".into(),
            kind: crate::DbKind::Postgres,
            host: Some("db".into()),
            port: Some(5433),
            database: Some("app".into()),
            user: Some("u".into()),
        };
        assert_eq!(identity.display_address(), "u@db:5433/app");
        identity.port = None;
        assert_eq!(identity.display_address(), "u@db/app");
        identity.user = None;
        identity.database = None;
        assert_eq!(identity.display_address(), "@db/");
    }
}
