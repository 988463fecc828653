//! The viewer's token: where it comes from, what a valid one looks like, how it is compared.
//!
//! Design decision: the token never appears on the command line (`/proc/PID/cmdline` is
//! readable by every local user), so it comes from `DBCORE_VIEWER_TOKEN` or `--token-file`;
//! `--token` is refused with a message that says why. A token is printable ASCII with no
//! space, at least [`MIN_TOKEN_LEN`] characters (so it cannot be guessed over HTTP), and is
//! compared in constant time. It is held as a `SecretString` from the moment it is read.

use std::io::Read as _;
use std::path::Path;

use adapters::fs::{FileKind, read_regular};
use anyhow::{Context as _, Result, bail};
use project_core::context::EnvPort;
use secrecy::{ExposeSecret as _, SecretString};
use subtle::ConstantTimeEq as _;

/// The environment variable the token is read from.
pub(crate) const TOKEN_VAR: &str = "DBCORE_VIEWER_TOKEN";
/// The shortest token accepted: 16 characters from the 94 printable ASCII ones is over 100
/// bits, out of reach of guessing over HTTP; `openssl rand -hex 16` gives 32.
pub(crate) const MIN_TOKEN_LEN: usize = 16;
/// A token file holds one line: 4 KiB is a hundred times a 32-character token and still
/// refuses anything that is not a token file.
const TOKEN_FILE: FileKind = FileKind {
    what: "a token file",
    limit: 4096,
};

/// The token visitors exchange for a session.
pub(crate) struct Token(SecretString);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl Token {
    /// Checks a token read from `from` (for messages), after trimming one trailing newline.
    pub(crate) fn parse(raw: &str, from: &str) -> Result<Token> {
        let raw = raw.strip_suffix('\n').unwrap_or(raw);
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.is_empty() {
            bail!("the token from {from} is empty: an empty token would let anyone in");
        }
        if let Some(at) = raw.chars().position(|c| !c.is_ascii_graphic()) {
            bail!(
                "the token from {from} holds a space, a control or a non-ASCII character at \
                 position {}: a token is printable ASCII with no space",
                at + 1
            );
        }
        if raw.len() < MIN_TOKEN_LEN {
            bail!(
                "the token from {from} has {} characters; a token must have at least \
                 {MIN_TOKEN_LEN} (for example `openssl rand -hex 16`)",
                raw.len()
            );
        }
        Ok(Token(SecretString::from(raw.to_owned())))
    }

    /// A random token of 64 hex characters, for a loopback viewer started without one.
    pub(crate) fn generate() -> Result<Token> {
        Ok(Token(SecretString::from(random_hex(32)?)))
    }

    /// Whether `candidate` is the token, in time that does not depend on where they differ
    /// (`subtle` answers at once when the lengths differ, so only the length can be timed).
    pub(crate) fn matches(&self, candidate: &str) -> bool {
        bool::from(
            self.0
                .expose_secret()
                .as_bytes()
                .ct_eq(candidate.as_bytes()),
        )
    }

    /// The token itself, for the one line that prints a generated token's login URL.
    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// The token from `--token-file` or the environment; `None` when neither gives one.
/// `flag_token` is the refused `--token`.
pub(crate) fn load(
    env: &dyn EnvPort,
    file: Option<&Path>,
    flag_token: bool,
) -> Result<Option<Token>> {
    if flag_token {
        bail!(
            "--token is refused: a command line is visible to every local user in \
             /proc/PID/cmdline; set {TOKEN_VAR} or use --token-file PATH"
        );
    }
    let from_env = env.var(TOKEN_VAR);
    match (file, from_env) {
        (Some(_), Some(_)) => {
            bail!("a token is given two ways ({TOKEN_VAR} and --token-file): give it one way only")
        }
        (Some(path), None) => {
            let bytes = read_regular(path, TOKEN_FILE)?
                .with_context(|| format!("cannot read {}: it does not exist", path.display()))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))?;
            Token::parse(&text, &path.display().to_string()).map(Some)
        }
        (None, Some(value)) => Token::parse(&value, TOKEN_VAR).map(Some),
        (None, None) => Ok(None),
    }
}

/// `bytes` random bytes from the kernel, as hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String> {
    let mut buffer = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buffer))
        .context("cannot read random bytes from /dev/urandom")?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_trimmed_of_one_newline_and_checked() {
        let t = Token::parse("0123456789abcdef\n", "x").unwrap();
        assert!(t.matches("0123456789abcdef"));
        assert!(!t.matches("0123456789abcdef\n"));
        assert!(!t.matches("0123456789abcde"));
        assert!(!t.matches(""));
        assert!(Token::parse("0123456789abcdef\r\n", "x").is_ok());
        for bad in [
            "",
            "\n",
            "\n\n",
            "short",
            "0123456789abcdef\n\n",
            "0123456789 abcdef",
            "0123456789abcdeé",
        ] {
            assert!(Token::parse(bad, "x").is_err(), "{bad:?} was accepted");
        }
        let e = Token::parse("0123456789abcdef ", "the file")
            .unwrap_err()
            .to_string();
        assert!(e.contains("space") && !e.contains("0123"), "{e}");
        assert_eq!(format!("{t:?}"), "Token([redacted])");
    }

    #[test]
    fn generated_tokens_differ() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_eq!(a.expose().len(), 64);
        assert!(!a.matches(b.expose()));
    }
}
