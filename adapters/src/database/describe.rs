//! sqlx errors in words a person reads next to dbcore's own messages.
//!
//! sqlx's `Display` for a PostgreSQL error ends with `at line 3211`: the line of the *server's*
//! C source that raised it, which reads like a line of the user's file (and sits next to
//! pgpass's `line 1` in the same message). The server's message and its SQLSTATE (or MySQL's
//! error number) are what a user can act on and search for.

/// The server's message and code for database errors; sqlx's own text for everything else.
pub fn describe(error: &sqlx::Error) -> String {
    let sqlx::Error::Database(db) = error else {
        return error.to_string();
    };
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return format!("{} (MySQL error {})", my.message(), my.number());
    }
    match db.code() {
        Some(code) => format!("{} (SQLSTATE {code})", db.message()),
        None => db.message().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_other_than_the_servers_keep_sqlx_text() {
        assert_eq!(
            describe(&sqlx::Error::PoolTimedOut),
            sqlx::Error::PoolTimedOut.to_string()
        );
    }
}
