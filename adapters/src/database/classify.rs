//! Turning sqlx's errors into a `ConnectErrorKind` a person can act on.

use std::io::ErrorKind as Io;

use domain::ConnectErrorKind;

/// Classifies a connection error. SQLSTATEs: `28P01` invalid password, `28000` invalid
/// authorization (pg_hba rejections, no password supplied), `3D000` unknown database.
pub fn classify(error: &sqlx::Error) -> ConnectErrorKind {
    match error {
        sqlx::Error::Database(db) => {
            // MySQL's own error numbers say more than its SQLSTATEs (1049 is a generic 42000).
            if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                return match my.number() {
                    1045 | 1698 => ConnectErrorKind::AuthenticationFailed,
                    1044 | 1049 => ConnectErrorKind::DatabaseDoesNotExist,
                    _ => ConnectErrorKind::Other,
                };
            }
            match db.code().as_deref() {
                Some("28P01" | "28000") => ConnectErrorKind::AuthenticationFailed,
                Some("3D000") => ConnectErrorKind::DatabaseDoesNotExist,
                _ => ConnectErrorKind::Other,
            }
        }
        sqlx::Error::Io(io) => match io.kind() {
            Io::ConnectionRefused => ConnectErrorKind::ConnectionRefused,
            Io::TimedOut => ConnectErrorKind::Timeout,
            Io::NotFound | Io::HostUnreachable | Io::NetworkUnreachable | Io::AddrNotAvailable => {
                ConnectErrorKind::Unreachable
            }
            _ if is_name_resolution_failure(io) => ConnectErrorKind::Unreachable,
            _ => ConnectErrorKind::Other,
        },
        sqlx::Error::Tls(_) => ConnectErrorKind::Tls,
        sqlx::Error::PoolTimedOut => ConnectErrorKind::Timeout,
        sqlx::Error::Configuration(_) => ConnectErrorKind::Configuration,
        _ => ConnectErrorKind::Other,
    }
}

fn is_name_resolution_failure(io: &std::io::Error) -> bool {
    let text = io.to_string();
    text.contains("failed to lookup address") || text.contains("Name or service not known")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: Io, text: &str) -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::new(kind, text.to_owned()))
    }

    #[test]
    fn transport_errors_are_classified() {
        assert_eq!(
            classify(&io(Io::ConnectionRefused, "refused")),
            ConnectErrorKind::ConnectionRefused
        );
        assert_eq!(
            classify(&io(Io::TimedOut, "slow")),
            ConnectErrorKind::Timeout
        );
        assert_eq!(
            classify(&io(Io::HostUnreachable, "no route")),
            ConnectErrorKind::Unreachable
        );
        assert_eq!(
            classify(&io(
                Io::Other,
                "failed to lookup address information: Name or service not known"
            )),
            ConnectErrorKind::Unreachable
        );
        assert_eq!(
            classify(&sqlx::Error::PoolTimedOut),
            ConnectErrorKind::Timeout
        );
        assert_eq!(
            classify(&sqlx::Error::Tls("bad certificate".into())),
            ConnectErrorKind::Tls
        );
        assert_eq!(
            classify(&io(Io::BrokenPipe, "pipe")),
            ConnectErrorKind::Other
        );
    }
}
