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
