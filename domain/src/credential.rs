use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

/// A user name and password, and where they came from.
///
/// The password is a [`SecretString`] from the moment a source reads it; `Debug` is written by
/// hand so that it can never print it (there is a test of the exact output).
#[derive(Clone)]
pub struct Credential {
    /// The user name to log in as, when the source supplies one (env `_USER`, Vault); `None`
    /// means "the target's configured user".
    pub username: Option<String>,
    pub password: SecretString,
    /// The name of the source that supplied it, e.g. `pgpass`.
    pub source: String,
    /// Where inside that source, for error messages: `/home/u/.pgpass line 3`.
    pub origin: String,
    /// Set for leased secrets (Vault); `None` for static ones.
    pub lease: Option<Lease>,
}

impl Credential {
    pub fn new(
        username: Option<String>,
        password: SecretString,
        source: impl Into<String>,
        origin: impl Into<String>,
    ) -> Self {
        Self {
            username,
            password,
            source: source.into(),
            origin: origin.into(),
            lease: None,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &format_args!("[redacted]"))
            .field("source", &self.source)
            .field("origin", &self.origin)
            .field("lease", &self.lease)
            .finish()
    }
}

/// A lease on a dynamic secret. The lease id is a secret too (it can revoke the credential).
#[derive(Clone)]
pub struct Lease {
    pub id: SecretString,
    pub duration: Duration,
    pub renewable: bool,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("id", &format_args!("[redacted]"))
            .field("duration", &self.duration)
            .field("renewable", &self.renewable)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_password_exactly() {
        let credential = Credential::new(
            Some("app".into()),
            SecretString::from("canary-5f3a"),
            "pgpass",
            "/home/u/.pgpass line 3",
        );
        assert_eq!(
            format!("{credential:?}"),
            r#"Credential { username: Some("app"), password: [redacted], source: "pgpass", origin: "/home/u/.pgpass line 3", lease: None }"#
        );
        assert!(!format!("{credential:#?}").contains("canary"));
    }

    #[test]
    fn debug_redacts_the_lease_id() {
        let lease = Lease {
            id: SecretString::from("database/creds/app/canary-lease"),
            duration: Duration::from_secs(5),
            renewable: true,
        };
        assert_eq!(
            format!("{lease:?}"),
            "Lease { id: [redacted], duration: 5s, renewable: true, .. }"
        );
    }
}
