use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

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
    /// For a target with several hosts, what each host's login sends, in the target's host
    /// order (empty: every host uses `password`). A host-specific source (pgpass) can answer
    /// for one host and not another, and one host's password must never go to another.
    pub hosts: Vec<HostSecret>,
}

/// What one host of a multi-host target logs in with.
#[derive(Clone)]
pub enum HostSecret {
    /// The credential's own password and user.
    Shared,
    /// A password of this host's own, from a host-specific source, with the user name that
    /// source gave (`None`: the target's user, never another source's).
    Own {
        username: Option<String>,
        password: SecretString,
        source: String,
        origin: String,
    },
    /// No source has a password for this host: its login sends none.
    NoPassword,
}

impl fmt::Debug for HostSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostSecret::Shared => f.write_str("Shared"),
            HostSecret::Own {
                username,
                source,
                origin,
                ..
            } => f
                .debug_struct("Own")
                .field("username", username)
                .field("password", &format_args!("[redacted]"))
                .field("source", source)
                .field("origin", origin)
                .finish(),
            HostSecret::NoPassword => f.write_str("NoPassword"),
        }
    }
}

impl Credential {
    /// The password host number `index` logs in with (`None`: send none), and where it came
    /// from.
    ///
    /// A credential without a table (a one-host target) gives its own password for every
    /// index; one with a table gives none past its end, so a host it does not know of is
    /// never sent a password meant for another.
    pub fn for_host(&self, index: usize) -> Option<(&SecretString, &str, &str)> {
        let secret = match self.hosts.get(index) {
            Some(secret) => secret,
            None if self.hosts.is_empty() => &HostSecret::Shared,
            None => &HostSecret::NoPassword,
        };
        match secret {
            HostSecret::Shared => Some((&self.password, &self.source, &self.origin)),
            HostSecret::Own {
                password,
                source,
                origin,
                ..
            } => Some((password, source, origin)),
            HostSecret::NoPassword => None,
        }
    }

    /// Whether `other` logs every host in exactly as this one does (same users, same
    /// passwords, none leased): a changed file that resolves to this is no rotation.
    pub fn same_login(&self, other: &Credential) -> bool {
        let hosts = self.hosts.len().max(other.hosts.len()).max(1);
        self.lease.is_none()
            && other.lease.is_none()
            && (0..hosts).all(|i| {
                self.username_for_host(i) == other.username_for_host(i)
                    && match (self.for_host(i), other.for_host(i)) {
                        (Some((a, ..)), Some((b, ..))) => a.expose_secret() == b.expose_secret(),
                        (None, None) => true,
                        _ => false,
                    }
            })
    }

    /// The user name host number `index` logs in as, when its source gave one.
    pub fn username_for_host(&self, index: usize) -> Option<&str> {
        match self.hosts.get(index) {
            None | Some(HostSecret::Shared) => self.username.as_deref(),
            Some(HostSecret::Own { username, .. }) => username.as_deref(),
            Some(HostSecret::NoPassword) => None,
        }
    }
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
            hosts: Vec::new(),
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
            .field("hosts", &self.hosts)
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
            r#"Credential { username: Some("app"), password: [redacted], source: "pgpass", origin: "/home/u/.pgpass line 3", lease: None, hosts: [] }"#
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

    #[test]
    fn debug_redacts_a_host_s_own_password_and_each_host_gets_only_its_own() {
        let mut credential = Credential::new(None, SecretString::from("shared-pw"), "vault", "kv");
        credential.hosts = vec![
            HostSecret::Own {
                username: None,
                password: SecretString::from("canary-host-a"),
                source: "pgpass".into(),
                origin: "/h/.pgpass line 1".into(),
            },
            HostSecret::Shared,
            HostSecret::NoPassword,
        ];
        let shown = format!("{credential:?}");
        assert!(
            !shown.contains("canary") && !shown.contains("shared-pw"),
            "{shown}"
        );
        assert!(
            shown.contains("Own { username: None, password: [redacted], source: \"pgpass\""),
            "{shown}"
        );
        let password = |i| {
            credential
                .for_host(i)
                .map(|(p, s, _)| (p.expose_secret().to_owned(), s.to_owned()))
        };
        assert_eq!(password(0), Some(("canary-host-a".into(), "pgpass".into())));
        assert_eq!(password(1), Some(("shared-pw".into(), "vault".into())));
        assert_eq!(password(2), None);
        // Past the table: nothing; a credential without a table: its own for every host.
        assert_eq!(password(3), None);
        let single = Credential::new(None, SecretString::from("one"), "env", "X");
        assert!(single.for_host(5).is_some());
    }

    #[test]
    fn the_same_login_is_the_same_users_and_passwords_for_every_host_and_never_a_lease() {
        let one = |user: Option<&str>, pw: &str| {
            Credential::new(user.map(Into::into), SecretString::from(pw), "file", "/f")
        };
        assert!(one(None, "a").same_login(&one(None, "a")));
        assert!(!one(None, "a").same_login(&one(None, "b")));
        assert!(!one(Some("u"), "a").same_login(&one(None, "a")));
        let mut leased = one(None, "a");
        leased.lease = Some(Lease {
            id: SecretString::from("l"),
            duration: Duration::from_secs(5),
            renewable: true,
        });
        assert!(!leased.same_login(&one(None, "a")), "a lease is always new");
        let mut table = one(None, "a");
        table.hosts = vec![HostSecret::Shared, HostSecret::NoPassword];
        assert!(!table.same_login(&one(None, "a")), "host 1 sends none");
        let mut other = one(None, "a");
        other.hosts = vec![HostSecret::Shared, HostSecret::NoPassword];
        assert!(table.same_login(&other));
    }
}
