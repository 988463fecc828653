use std::fmt;
use std::path::PathBuf;

/// A hard error from a credential source: it stops the chain.
///
/// Messages name the file, line or address involved and never contain a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that exists but may not be read (a FIFO, a device, over its size cap); the
    /// message names the path and what was found.
    #[error(transparent)]
    File(Box<dyn std::error::Error + Send + Sync>),
    #[error("{}: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
    #[error("{0}")]
    Misconfigured(String),
    #[error("{0}")]
    Other(String),
}

/// What went wrong when connecting, classified so that the message says what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    AuthenticationFailed,
    DatabaseDoesNotExist,
    ConnectionRefused,
    Unreachable,
    Timeout,
    Tls,
    Configuration,
    /// Servers answered, but none fits `target_session_attrs` (a standby where a primary is
    /// wanted).
    NoSuitableHost,
    Other,
}

impl ConnectErrorKind {
    /// A stable snake_case name for JSON output and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectErrorKind::AuthenticationFailed => "authentication_failed",
            ConnectErrorKind::DatabaseDoesNotExist => "database_does_not_exist",
            ConnectErrorKind::ConnectionRefused => "connection_refused",
            ConnectErrorKind::Unreachable => "unreachable",
            ConnectErrorKind::Timeout => "timeout",
            ConnectErrorKind::Tls => "tls",
            ConnectErrorKind::Configuration => "configuration",
            ConnectErrorKind::NoSuitableHost => "no_suitable_host",
            ConnectErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ConnectErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectErrorKind::AuthenticationFailed => "authentication failed",
            ConnectErrorKind::DatabaseDoesNotExist => "database does not exist",
            ConnectErrorKind::ConnectionRefused => "connection refused",
            ConnectErrorKind::Unreachable => "server unreachable",
            ConnectErrorKind::Timeout => "timed out",
            ConnectErrorKind::Tls => "tls error",
            ConnectErrorKind::Configuration => "invalid connection settings",
            ConnectErrorKind::NoSuitableHost => "no suitable host",
            ConnectErrorKind::Other => "connection failed",
        })
    }
}

/// A failed connection attempt: kind, where it went, and a hint.
///
/// `detail` is the server's or the driver's message, which never carries the password
/// (servers do not echo it, and the adapters never format connect options).
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{kind} connecting to {address}{}: {detail}{}",
    // SQLite has no user: "as user \"\"" would read as a user with an empty name.
    if user.is_empty() { String::new() } else { format!(" as user \"{user}\"") },
    hint.as_deref().map(|h| format!("; {h}")).unwrap_or_default()
)]
pub struct ConnectError {
    pub kind: ConnectErrorKind,
    /// `host:port/database` (or the SQLite path).
    pub address: String,
    pub user: String,
    pub detail: String,
    /// What to do, e.g. "password supplied by pgpass (/home/u/.pgpass line 3)".
    pub hint: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_error_names_the_user_only_when_there_is_one() {
        let mut error = ConnectError {
            kind: ConnectErrorKind::Other,
            address: "/tmp/x.db".into(),
            user: String::new(),
            detail: "disk I/O error".into(),
            hint: None,
        };
        assert_eq!(
            error.to_string(),
            "connection failed connecting to /tmp/x.db: disk I/O error"
        );
        error.user = "app".into();
        error.hint = Some("check it".into());
        assert_eq!(
            error.to_string(),
            "connection failed connecting to /tmp/x.db as user \"app\": disk I/O error; check it"
        );
    }

    #[test]
    fn every_kind_has_a_stable_name_and_a_phrase() {
        use ConnectErrorKind::*;
        let named: Vec<(&str, String)> = [
            AuthenticationFailed,
            DatabaseDoesNotExist,
            ConnectionRefused,
            Unreachable,
            Timeout,
            Tls,
            Configuration,
            NoSuitableHost,
            Other,
        ]
        .into_iter()
        .map(|k| (k.as_str(), k.to_string()))
        .collect();
        let expected = [
            ("authentication_failed", "authentication failed"),
            ("database_does_not_exist", "database does not exist"),
            ("connection_refused", "connection refused"),
            ("unreachable", "server unreachable"),
            ("timeout", "timed out"),
            ("tls", "tls error"),
            ("configuration", "invalid connection settings"),
            ("no_suitable_host", "no suitable host"),
            ("other", "connection failed"),
        ];
        assert_eq!(
            named,
            expected.map(|(name, phrase)| (name, phrase.to_owned()))
        );
    }
}
