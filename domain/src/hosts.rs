//! Targets with several servers, as libpq has them: a list of hosts tried in order (or at
//! random), and the kind of session a connection must have to be kept.

use std::fmt;
use std::str::FromStr;

/// One server of a multi-host target: a host name, an address or (PostgreSQL) a Unix-socket
/// directory starting with `/`, and its port (`None`: the kind's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: Option<u16>,
}

impl Endpoint {
    /// `host:port` for messages, with the default port filled in.
    pub fn display(&self, default_port: u16) -> String {
        format!("{}:{}", self.host, self.port.unwrap_or(default_port))
    }
}

/// libpq's `target_session_attrs`: which server of the list a connection may stay on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionAttrs {
    /// The first server that accepts the connection.
    #[default]
    Any,
    /// A server that accepts writes (`transaction_read_only` off).
    ReadWrite,
    /// A server that does not (`transaction_read_only` on).
    ReadOnly,
    /// A server not in recovery.
    Primary,
    /// A server in recovery (a hot standby).
    Standby,
    /// A standby if any is up, else any server.
    PreferStandby,
}

impl SessionAttrs {
    pub const ALLOWED: &'static str =
        "any, read-write, read-only, primary, standby, prefer-standby";

    pub fn as_str(self) -> &'static str {
        match self {
            SessionAttrs::Any => "any",
            SessionAttrs::ReadWrite => "read-write",
            SessionAttrs::ReadOnly => "read-only",
            SessionAttrs::Primary => "primary",
            SessionAttrs::Standby => "standby",
            SessionAttrs::PreferStandby => "prefer-standby",
        }
    }

    /// Whether a session on a server with these facts is kept, in one pass over the hosts.
    /// `prefer-standby` takes only standbys here; its second pass is [`SessionAttrs::Any`].
    pub fn fits(self, session: SessionFacts) -> bool {
        match self {
            SessionAttrs::Any => true,
            SessionAttrs::ReadWrite => !session.read_only,
            SessionAttrs::ReadOnly => session.read_only,
            SessionAttrs::Primary => !session.in_recovery,
            SessionAttrs::Standby | SessionAttrs::PreferStandby => session.in_recovery,
        }
    }

    /// The passes over the host list, as libpq makes them.
    pub fn passes(self) -> &'static [SessionAttrs] {
        match self {
            SessionAttrs::PreferStandby => &[SessionAttrs::PreferStandby, SessionAttrs::Any],
            SessionAttrs::Any => &[SessionAttrs::Any],
            SessionAttrs::ReadWrite => &[SessionAttrs::ReadWrite],
            SessionAttrs::ReadOnly => &[SessionAttrs::ReadOnly],
            SessionAttrs::Primary => &[SessionAttrs::Primary],
            SessionAttrs::Standby => &[SessionAttrs::Standby],
        }
    }

    /// Whether a connection must be asked about its server before it is kept.
    pub fn needs_check(self) -> bool {
        self != SessionAttrs::Any
    }
}

impl fmt::Display for SessionAttrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionAttrs {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        [
            SessionAttrs::Any,
            SessionAttrs::ReadWrite,
            SessionAttrs::ReadOnly,
            SessionAttrs::Primary,
            SessionAttrs::Standby,
            SessionAttrs::PreferStandby,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
        .ok_or(())
    }
}

/// What a connection learned about its server: `pg_is_in_recovery()` and
/// `transaction_read_only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFacts {
    pub in_recovery: bool,
    pub read_only: bool,
}

impl SessionFacts {
    /// "a standby", "a read-only primary", "a primary", for messages.
    pub fn describe(self) -> &'static str {
        match (self.in_recovery, self.read_only) {
            (true, _) => "a standby",
            (false, true) => "a read-only primary",
            (false, false) => "a primary",
        }
    }
}

/// libpq 16's `load_balance_hosts`: try the hosts in the order given, or shuffled anew for
/// every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadBalance {
    #[default]
    Disable,
    Random,
}

impl LoadBalance {
    pub const ALLOWED: &'static str = "disable, random";

    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalance::Disable => "disable",
            LoadBalance::Random => "random",
        }
    }
}

impl FromStr for LoadBalance {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "disable" => Ok(LoadBalance::Disable),
            "random" => Ok(LoadBalance::Random),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: SessionFacts = SessionFacts {
        in_recovery: false,
        read_only: false,
    };
    const STANDBY: SessionFacts = SessionFacts {
        in_recovery: true,
        read_only: true,
    };
    const READ_ONLY_PRIMARY: SessionFacts = SessionFacts {
        in_recovery: false,
        read_only: true,
    };

    #[test]
    fn each_attribute_keeps_the_servers_libpq_keeps() {
        use SessionAttrs::*;
        let kept = |attrs: SessionAttrs| {
            [PRIMARY, STANDBY, READ_ONLY_PRIMARY].map(|facts| attrs.fits(facts))
        };
        assert_eq!(kept(Any), [true, true, true]);
        assert_eq!(kept(ReadWrite), [true, false, false]);
        assert_eq!(kept(ReadOnly), [false, true, true]);
        assert_eq!(kept(Primary), [true, false, true]);
        assert_eq!(kept(Standby), [false, true, false]);
        assert_eq!(kept(PreferStandby), [false, true, false]);
        assert_eq!(PreferStandby.passes(), [PreferStandby, Any]);
        assert_eq!(ReadWrite.passes(), [ReadWrite]);
        assert!(!Any.needs_check() && ReadOnly.needs_check());
    }

    #[test]
    fn spellings_round_trip_and_nothing_else_parses() {
        for word in SessionAttrs::ALLOWED.split(", ") {
            let attrs: SessionAttrs = word.parse().unwrap();
            assert_eq!(attrs.as_str(), word);
        }
        assert!("read_write".parse::<SessionAttrs>().is_err());
        assert!("".parse::<SessionAttrs>().is_err());
        assert_eq!("random".parse(), Ok(LoadBalance::Random));
        assert!("Random".parse::<LoadBalance>().is_err());
        assert_eq!(STANDBY.describe(), "a standby");
        assert_eq!(READ_ONLY_PRIMARY.describe(), "a read-only primary");
    }
}
