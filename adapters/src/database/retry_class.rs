//! Which failed statements a transaction may be run again after, for every kind.
//!
//! Design decision: only what the server itself rejected as a conflict, or a connection that
//! was lost **before** the commit was sent, is worth a retry; the whole transaction is then
//! run again from its beginning. A failure while committing is never retried: whether the
//! server committed is unknown, and a second run could write twice. That decision is made by
//! the scope (which knows whether COMMIT was sent); this module only says what an error is.

use std::io::ErrorKind;

/// What a failed statement says about running the transaction again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transience {
    /// The server rejected the transaction as a conflict (serialization failure, deadlock,
    /// lock wait timeout): running it again may succeed.
    Conflict,
    /// The connection broke or could not be made (the server restarted, failed over, was
    /// terminated): before COMMIT nothing was committed, so running it again is safe.
    ConnectionLost,
    /// Anything else (a constraint, a syntax error, a permission): running it again would fail
    /// the same way.
    Permanent,
}

/// PostgreSQL SQLSTATEs: 40001 serialization_failure, 40P01 deadlock_detected; class 08
/// connection exceptions; 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
/// cannot_connect_now (a server that is stopping, crashed or starting); 25006
/// read_only_sql_transaction (a write that reached a server that became a standby).
/// MySQL/MariaDB error numbers: 1213 deadlock, 1205 lock wait timeout; 1053 server shutdown,
/// 1836 read-only mode. (A lost connection, MySQL's client errors 2006 and 2013, reaches sqlx
/// as an I/O error.)
pub fn transience(error: &sqlx::Error) -> Transience {
    match error {
        sqlx::Error::Database(db) => {
            if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                return match my.number() {
                    1213 | 1205 => Transience::Conflict,
                    // 1053 server shutdown in progress; 1836 read-only mode (a demoted
                    // primary). Not 1290: it also covers --secure-file-priv and the like.
                    1053 | 1836 => Transience::ConnectionLost,
                    _ => Transience::Permanent,
                };
            }
            match db.code().as_deref() {
                Some("40001" | "40P01") => Transience::Conflict,
                Some(code) if code.starts_with("08") => Transience::ConnectionLost,
                Some("57P01" | "57P02" | "57P03" | "25006") => Transience::ConnectionLost,
                _ => Transience::Permanent,
            }
        }
        sqlx::Error::Io(io) => match io.kind() {
            // A configuration problem shows as I/O too (a missing socket directory is
            // NotFound): only what a restart or failover causes is counted as lost.
            ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::TimedOut
            | ErrorKind::NotConnected => Transience::ConnectionLost,
            // Every host of a multi-host target failed: lost when no host said anything
            // permanent (a refused password, a TLS failure).
            _ if io
                .get_ref()
                .and_then(|e| e.downcast_ref::<super::HostsFailed>())
                .is_some_and(super::HostsFailed::all_transient) =>
            {
                Transience::ConnectionLost
            }
            _ => Transience::Permanent,
        },
        sqlx::Error::PoolTimedOut => Transience::ConnectionLost,
        // sqlx's own reading of a connection that closed under it.
        sqlx::Error::Protocol(text) if text.contains("connection") && text.contains("closed") => {
            Transience::ConnectionLost
        }
        _ => Transience::Permanent,
    }
}

/// Whether the server answered the statement itself (so a failed COMMIT with this error was
/// definitely not committed), as opposed to the connection failing under it.
pub fn server_answered(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: ErrorKind) -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::new(kind, "test"))
    }

    #[test]
    fn a_lost_connection_is_lost_and_a_local_problem_is_not() {
        for kind in [
            ErrorKind::ConnectionRefused,
            ErrorKind::ConnectionReset,
            ErrorKind::UnexpectedEof,
            ErrorKind::BrokenPipe,
        ] {
            assert_eq!(
                transience(&io(kind)),
                Transience::ConnectionLost,
                "{kind:?}"
            );
        }
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::PermissionDenied,
            ErrorKind::InvalidData,
        ] {
            assert_eq!(transience(&io(kind)), Transience::Permanent, "{kind:?}");
        }
        assert_eq!(
            transience(&sqlx::Error::PoolTimedOut),
            Transience::ConnectionLost
        );
        assert_eq!(transience(&sqlx::Error::RowNotFound), Transience::Permanent);
        assert_eq!(transience(&sqlx::Error::PoolClosed), Transience::Permanent);
        assert!(!server_answered(&io(ErrorKind::UnexpectedEof)));
    }
}
