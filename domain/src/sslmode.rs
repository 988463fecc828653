use std::fmt;
use std::str::FromStr;

/// libpq's `sslmode`, the one TLS vocabulary for every kind (MySQL's modes are mapped to it by
/// the MySQL adapter). Parsed once, where a setting is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub const ALL: [SslMode; 6] = [
        SslMode::Disable,
        SslMode::Allow,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    /// The allowed spellings, for messages.
    pub const ALLOWED: &'static str = "disable, allow, prefer, require, verify-ca, verify-full";

    /// The MySQL client's `--ssl-mode` spelling of a mode (case-insensitive, as the client
    /// reads it): `DISABLED`, `PREFERRED`, `REQUIRED`, `VERIFY_CA`, `VERIFY_IDENTITY`.
    pub fn from_mysql(word: &str) -> Option<SslMode> {
        Some(match word.trim().to_ascii_uppercase().as_str() {
            "DISABLED" => SslMode::Disable,
            "PREFERRED" => SslMode::Prefer,
            "REQUIRED" => SslMode::Require,
            "VERIFY_CA" => SslMode::VerifyCa,
            "VERIFY_IDENTITY" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A spelling that is not one of [`SslMode::ALLOWED`] (the text is not kept: it may be a
/// secret pasted into the wrong place).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown sslmode; allowed: {}", SslMode::ALLOWED)]
pub struct UnknownSslMode;

impl FromStr for SslMode {
    type Err = UnknownSslMode;

    /// Case-insensitive, surrounding spaces ignored, as libpq's environment variables.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        SslMode::ALL
            .into_iter()
            .find(|m| m.as_str() == wanted)
            .ok_or(UnknownSslMode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_reads_back_from_its_spelling_and_allowed_lists_them_all() {
        for mode in SslMode::ALL {
            assert_eq!(mode.as_str().parse::<SslMode>(), Ok(mode));
            assert_eq!(
                format!(" {} ", mode.as_str().to_uppercase()).parse(),
                Ok(mode)
            );
            assert!(SslMode::ALLOWED.split(", ").any(|m| m == mode.as_str()));
        }
        assert_eq!(SslMode::ALLOWED.split(", ").count(), SslMode::ALL.len());
        assert_eq!("verify_full".parse::<SslMode>(), Err(UnknownSslMode));
        assert_eq!("".parse::<SslMode>(), Err(UnknownSslMode));
    }

    #[test]
    fn the_mysql_client_s_spellings_map_to_the_same_modes() {
        assert_eq!(
            SslMode::from_mysql("VERIFY_IDENTITY"),
            Some(SslMode::VerifyFull)
        );
        assert_eq!(SslMode::from_mysql("verify_ca"), Some(SslMode::VerifyCa));
        assert_eq!(SslMode::from_mysql(" REQUIRED "), Some(SslMode::Require));
        assert_eq!(SslMode::from_mysql("PREFERRED"), Some(SslMode::Prefer));
        assert_eq!(SslMode::from_mysql("DISABLED"), Some(SslMode::Disable));
        assert_eq!(SslMode::from_mysql("verify-full"), None);
        assert_eq!(SslMode::from_mysql("VERIFY_FULL"), None);
    }
}
