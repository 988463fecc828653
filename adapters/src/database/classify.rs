//! Turning sqlx's errors into a `ConnectErrorKind` and a message a person can act on.
//!
//! A failed SCRAM exchange is an authentication failure whatever broke it, and its message
//! keeps the cause: the server's own detail (PostgreSQL's "malformed SCRAM message" alone does
//! not say which attribute it could not parse), or which check failed on our side.

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
                Some(PROTOCOL_VIOLATION) if is_sasl_text(db.message()) => {
                    ConnectErrorKind::AuthenticationFailed
                }
                Some("3D000") => ConnectErrorKind::DatabaseDoesNotExist,
                _ => ConnectErrorKind::Other,
            }
        }
        sqlx::Error::Io(io) if hosts_failed(io).is_some() => {
            hosts_failed(io).map_or(ConnectErrorKind::Other, classify_hosts)
        }
        sqlx::Error::Io(io) => match io.kind() {
            Io::ConnectionRefused => ConnectErrorKind::ConnectionRefused,
            Io::TimedOut => ConnectErrorKind::Timeout,
            Io::NotFound | Io::HostUnreachable | Io::NetworkUnreachable | Io::AddrNotAvailable => {
                ConnectErrorKind::Unreachable
            }
            _ if is_name_resolution_failure(io) => ConnectErrorKind::Unreachable,
            // sqlx's rustls socket reports a failed handshake (an untrusted certificate, a
            // wrong name) as an I/O error around rustls's own.
            _ if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
            {
                ConnectErrorKind::Tls
            }
            _ => ConnectErrorKind::Other,
        },
        sqlx::Error::Protocol(text) if is_scram_client_failure(text) => {
            ConnectErrorKind::AuthenticationFailed
        }
        sqlx::Error::Tls(_) => ConnectErrorKind::Tls,
        sqlx::Error::PoolTimedOut => ConnectErrorKind::Timeout,
        sqlx::Error::Configuration(_) => ConnectErrorKind::Configuration,
        _ => ConnectErrorKind::Other,
    }
}

/// The hosts of a multi-host connection, when that is what failed.
fn hosts_failed(io: &std::io::Error) -> Option<&super::HostsFailed> {
    io.get_ref()?.downcast_ref::<super::HostsFailed>()
}

/// One kind for every host that failed, the one that says what to fix: a refused password
/// first (resolving again may help, and it must not hide behind another host's refusal),
/// then TLS, then servers that answered but do not fit, then what the first host said.
fn classify_hosts(failed: &super::HostsFailed) -> ConnectErrorKind {
    use super::hosts::HostFailure;
    let kinds: Vec<ConnectErrorKind> = failed
        .failures()
        .map(|failure| match failure {
            HostFailure::Error(error) => classify(error),
            HostFailure::TimedOut(_) => ConnectErrorKind::Timeout,
            HostFailure::Unfit(..) => ConnectErrorKind::NoSuitableHost,
        })
        .collect();
    [
        ConnectErrorKind::AuthenticationFailed,
        ConnectErrorKind::Tls,
        ConnectErrorKind::NoSuitableHost,
    ]
    .into_iter()
    .find(|kind| kinds.contains(kind))
    .or_else(|| kinds.first().copied())
    .unwrap_or(ConnectErrorKind::Other)
}

/// SQLSTATE `08P01`: what PostgreSQL sends when it cannot parse a SCRAM message.
const PROTOCOL_VIOLATION: &str = "08P01";

/// What sqlx's SCRAM client reports when the server's signature does not verify (the `Display`
/// of `digest::MacError`).
const MAC_MISMATCH: &str = "MAC tag mismatch";

/// The text of a database error, for `ConnectError::detail` and query errors. PostgreSQL errors
/// keep the server's detail, hint and SQLSTATE and drop sqlx's "at line N" (a line of the
/// server's C source, which read like a line of the user's file next to pgpass's "line 1");
/// MySQL errors carry their error number; a failed SCRAM exchange says which side gave up and
/// why.
pub fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => {
            if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                return format!("{} (MySQL error {})", my.message(), my.number());
            }
            let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() else {
                return match db.code() {
                    Some(code) => format!("{} (SQLSTATE {code})", db.message()),
                    None => db.message().to_owned(),
                };
            };
            let mut text = String::new();
            if pg.code() == PROTOCOL_VIOLATION && is_sasl_text(pg.message()) {
                text.push_str("the server refused the SCRAM exchange: ");
            }
            text.push_str(pg.message());
            let hint = pg.hint().map(|h| format!("hint: {h}"));
            let code = format!("SQLSTATE {}", pg.code());
            let notes: Vec<&str> = [pg.detail(), hint.as_deref(), Some(code.as_str())]
                .into_iter()
                .flatten()
                .collect();
            text.push_str(&format!(" ({})", notes.join("; ")));
            text
        }
        sqlx::Error::Protocol(text) if text.starts_with(MAC_MISMATCH) => "the server's SCRAM \
            signature is wrong, so it has not proved that it knows the password: the connection \
            may not reach the real server"
            .to_owned(),
        sqlx::Error::Protocol(text) if is_scram_client_failure(text) => {
            format!("the SCRAM exchange failed: {text}")
        }
        sqlx::Error::Io(io) if hosts_failed(io).is_some() => {
            hosts_failed(io).map_or_else(String::new, ToString::to_string)
        }
        other => other.to_string(),
    }
}

/// A server message about SASL or SCRAM (PostgreSQL's are English unless `lc_messages` says
/// otherwise; the SQLSTATE alone would also match other protocol violations).
fn is_sasl_text(text: &str) -> bool {
    text.contains("SCRAM") || text.contains("SASL")
}

/// A protocol error raised by sqlx's SCRAM client: an unexpected or unsupported SASL message
/// or mechanism, or a server signature that does not verify.
fn is_scram_client_failure(text: &str) -> bool {
    text.starts_with(MAC_MISMATCH) || text.contains("SASL")
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
        let handshake = std::io::Error::new(
            Io::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(
            classify(&sqlx::Error::Io(handshake)),
            ConnectErrorKind::Tls,
            "how sqlx's rustls socket reports an untrusted certificate"
        );
    }

    /// A server error with only a SQLSTATE and a message, as `sqlx::Error::Database` carries it.
    #[derive(Debug)]
    struct ServerError {
        code: &'static str,
        message: &'static str,
    }

    impl std::fmt::Display for ServerError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.message)
        }
    }

    impl std::error::Error for ServerError {}

    impl sqlx::error::DatabaseError for ServerError {
        fn message(&self) -> &str {
            self.message
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.code.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn server(code: &'static str, message: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(ServerError { code, message }))
    }

    #[test]
    fn every_failed_scram_exchange_is_an_authentication_failure_that_says_why() {
        for message in [
            "malformed SCRAM message",
            "invalid SCRAM response",
            "client selected an invalid SASL authentication mechanism",
        ] {
            assert_eq!(
                classify(&server("08P01", message)),
                ConnectErrorKind::AuthenticationFailed,
                "{message}"
            );
        }
        // Other protocol violations are not about the password.
        assert_eq!(
            classify(&server("08P01", "invalid frontend message type 0")),
            ConnectErrorKind::Other
        );
        let mismatch = sqlx::Error::Protocol("MAC tag mismatch".into());
        assert_eq!(classify(&mismatch), ConnectErrorKind::AuthenticationFailed);
        assert!(describe(&mismatch).contains("the server's SCRAM signature is wrong"));
        for text in [
            "expected SASLFinal but received Ok (sqlx_postgres::connection::sasl:157)",
            "unsupported SASL authentication mechanisms: OAUTHBEARER (sqlx_postgres::connection::sasl:46)",
        ] {
            let error = sqlx::Error::Protocol(text.into());
            assert_eq!(classify(&error), ConnectErrorKind::AuthenticationFailed);
            assert_eq!(
                describe(&error),
                format!("the SCRAM exchange failed: {text}")
            );
        }
        // Anything else keeps sqlx's own text.
        let other = io(Io::BrokenPipe, "pipe");
        assert_eq!(describe(&other), other.to_string());
    }
}
