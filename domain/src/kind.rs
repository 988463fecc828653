use std::fmt;
use std::str::FromStr;

/// The three kinds of database the original pattern knows (its type constants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DbKind {
    Postgres,
    MySql,
    Sqlite,
}

impl DbKind {
    pub const ALL: [DbKind; 3] = [DbKind::Postgres, DbKind::MySql, DbKind::Sqlite];

    /// The spelling used in settings files, environment variables and output.
    pub fn as_str(self) -> &'static str {
        match self {
            DbKind::Postgres => "postgres",
            DbKind::MySql => "mysql",
            DbKind::Sqlite => "sqlite",
        }
    }

    /// `name` as a quoted identifier of this kind, safe for any name: `"a""b"` (PostgreSQL,
    /// SQLite) or `` `a``b` `` (MySQL). Apps quote every identifier they put into SQL with it.
    pub fn quote_identifier(self, name: &str) -> String {
        match self {
            DbKind::MySql => format!("`{}`", name.replace('`', "``")),
            DbKind::Postgres | DbKind::Sqlite => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// Whether connections of this kind authenticate with a user and password at all.
    pub fn uses_credentials(self) -> bool {
        !matches!(self, DbKind::Sqlite)
    }
}

impl fmt::Display for DbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind name that is not one of `postgres`, `mysql`, `sqlite`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown database kind `{0}`; allowed: postgres, mysql, sqlite")]
pub struct UnknownKind(pub String);

impl FromStr for DbKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Ok(DbKind::Postgres),
            "mysql" | "mariadb" => Ok(DbKind::MySql),
            "sqlite" => Ok(DbKind::Sqlite),
            _ => Err(UnknownKind(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in DbKind::ALL {
            assert_eq!(kind.as_str().parse::<DbKind>(), Ok(kind));
        }
        assert_eq!("PostgreSQL".parse::<DbKind>(), Ok(DbKind::Postgres));
        let err = "oracle".parse::<DbKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown database kind `oracle`; allowed: postgres, mysql, sqlite"
        );
    }

    #[test]
    fn kinds_are_spelled_and_shown_as_in_settings() {
        let spelled: Vec<(&str, String)> = DbKind::ALL
            .into_iter()
            .map(|k| (k.as_str(), k.to_string()))
            .collect();
        assert_eq!(
            spelled,
            [
                ("postgres", "postgres".to_owned()),
                ("mysql", "mysql".to_owned()),
                ("sqlite", "sqlite".to_owned()),
            ]
        );
        assert_eq!("MariaDB".parse::<DbKind>(), Ok(DbKind::MySql));
        assert_eq!("sqlite".parse::<DbKind>(), Ok(DbKind::Sqlite));
    }

    #[test]
    fn only_sqlite_needs_no_credentials() {
        assert!(DbKind::Postgres.uses_credentials());
        assert!(DbKind::MySql.uses_credentials());
        assert!(!DbKind::Sqlite.uses_credentials());
    }

    #[test]
    fn identifiers_are_quoted_with_their_quote_doubled() {
        assert_eq!(DbKind::Postgres.quote_identifier("a\"b"), "\"a\"\"b\"");
        assert_eq!(DbKind::Sqlite.quote_identifier("t"), "\"t\"");
        assert_eq!(DbKind::MySql.quote_identifier("a`b\""), "`a``b\"`");
    }
}
