//! Target names: the one validation every name passes before it is used.
//!
//! Design decision: a target name is a name, never a path. It is checked once, here, and the
//! registry, every CLI argument and every URL go through this check before a name is joined
//! into a path, used as a cache key or shown as a link. Only `[A-Za-z0-9_-]` is allowed (so
//! `.`, `/`, `\`, `%` and NUL can never reach the file system) and the length is bounded (so a
//! name cannot grow a path or a map key without limit).

use std::fmt;

/// The longest target name accepted, in bytes (also characters: only ASCII is allowed).
pub const MAX_TARGET_NAME_LEN: usize = 64;

/// A validated target name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetName(String);

/// Why a string is not a target name. Shows the offending character but never the whole
/// input, which may be long or hostile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidTargetName {
    #[error("a target name cannot be empty")]
    Empty,
    #[error("a target name is at most {MAX_TARGET_NAME_LEN} characters, this one has {0}")]
    TooLong(usize),
    #[error(
        "a target name may hold only letters a-z and A-Z, digits, `_` and `-`; found {0:?} at position {1}"
    )]
    Character(char, usize),
}

impl TargetName {
    pub fn parse(name: &str) -> Result<Self, InvalidTargetName> {
        if name.is_empty() {
            return Err(InvalidTargetName::Empty);
        }
        if let Some((at, c)) = name
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(InvalidTargetName::Character(c, at + 1));
        }
        if name.len() > MAX_TARGET_NAME_LEN {
            return Err(InvalidTargetName::TooLong(name.len()));
        }
        Ok(TargetName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TargetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TargetName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_letters_digits_underscore_and_dash() {
        for ok in ["lite", "prod_eu-2", "A", &"x".repeat(MAX_TARGET_NAME_LEN)] {
            assert_eq!(
                TargetName::parse(ok).map(|n| n.to_string()),
                Ok(ok.to_owned())
            );
        }
    }

    #[test]
    fn anything_that_could_reach_a_path_is_refused() {
        for bad in [
            "",
            ".",
            "..",
            "./lite",
            "../x",
            "/tmp/x",
            "a/b",
            "a\\b",
            "lite.toml",
            "a b",
            "a\0b",
            "a%2Fb",
            "é",
            "lite\n",
            "~",
        ] {
            assert!(TargetName::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(TargetName::parse("-").is_ok());
        assert_eq!(
            TargetName::parse(&"x".repeat(MAX_TARGET_NAME_LEN + 1)),
            Err(InvalidTargetName::TooLong(MAX_TARGET_NAME_LEN + 1))
        );
        assert_eq!(
            TargetName::parse("../etc").unwrap_err().to_string(),
            "a target name may hold only letters a-z and A-Z, digits, `_` and `-`; found '.' at position 1"
        );
    }

    #[test]
    fn a_name_reads_back_as_written() {
        let name = TargetName::parse("prod_eu-2").unwrap();
        assert_eq!(name.as_str(), "prod_eu-2");
        assert_eq!(AsRef::<str>::as_ref(&name), "prod_eu-2");
    }
}
