use domain::{ConnectError, DbKind, SourceError};

use crate::chain::InvalidSource;
use crate::settings::SettingsError;

/// Everything that can go wrong between a connection module and a usable pool.
///
/// No variant carries a secret: settings errors name keys, credential errors name sources and
/// files, connection errors name `host:port/database` and the user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    InvalidSource(#[from] InvalidSource),
    #[error(
        "target `{target}`: credential source {source_name} failed: {cause}; sources tried: {tried}"
    )]
    Credential {
        target: String,
        source_name: String,
        tried: String,
        #[source]
        cause: SourceError,
    },
    #[error("target `{target}`: {error}")]
    Connect {
        target: String,
        #[source]
        error: Box<ConnectError>,
    },
    #[error(
        "target `{target}` is a {actual} target but was used as {expected}; the connection module's kind and its settings (kind from {origin}) disagree"
    )]
    KindMismatch {
        target: String,
        expected: DbKind,
        actual: DbKind,
        origin: String,
    },
    #[error(
        "targets `{first}` and `{second}` both read environment variables with prefix {prefix}; give one of them its own `env_prefix`"
    )]
    SharedPrefix {
        first: String,
        second: String,
        prefix: String,
    },
    #[error("target `{target}`: {}", adapters::database::describe(cause))]
    Query {
        target: String,
        #[source]
        cause: sqlx::Error,
    },
    /// The connection failed while COMMIT was in flight: the server may or may not have
    /// committed the transaction. Never retried; the caller must find out (or make the
    /// transaction's effect idempotent).
    #[error(
        "target `{target}`: the connection failed while committing, so the transaction may or may not have committed: {}",
        adapters::database::describe(cause)
    )]
    CommitOutcomeUnknown {
        target: String,
        #[source]
        cause: sqlx::Error,
    },
    /// The outcome of an open shared by the callers that waited for it.
    #[error(transparent)]
    Shared(std::sync::Arc<DbError>),
}

impl DbError {
    /// The classified connection error, when this is one.
    pub fn connect_error(&self) -> Option<&ConnectError> {
        match self {
            DbError::Connect { error, .. } => Some(error),
            DbError::Shared(shared) => shared.connect_error(),
            _ => None,
        }
    }
}

/// An error and its causes on one line, each said once. Messages in this workspace often quote
/// their cause already (`cannot read X: permission denied`) and also return it from `source()`,
/// so printing the chain as `{:#}` would repeat it; a cause whose text the line already holds
/// is left out.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let said = next.to_string();
        if !said.is_empty() && !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = next.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let io = std::io::Error::other("too many levels of symbolic links");
        let quoted = SourceError::Read {
            path: "/x".into(),
            source: io,
        };
        assert_eq!(
            one_line(&quoted),
            "cannot read /x: too many levels of symbolic links"
        );
        let settings = SettingsError::Name(domain::InvalidTargetName::Empty);
        assert_eq!(
            one_line(&settings),
            "invalid target name: a target name cannot be empty"
        );
    }
}
