//! libpq's multi-host connections on sqlx: a list of hosts tried in order (or shuffled), each
//! with its own password and `connect_timeout`, and a connection kept only when its server
//! fits `target_session_attrs`.
//!
//! Design decision: the choice is made per connection, inside the pool, through the
//! connector hook of our sqlx-postgres patch (PATCH.md item 5): the pool calls it for every new
//! connection, so after a failover new connections find the new primary by themselves, as
//! libpq's do. A pooled connection is asked again before each use (`before_acquire`, one round
//! trip, in place of sqlx's ping), so one whose server stopped fitting — a standby that was
//! promoted, a server that went away — is retired rather than handed out.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use domain::{Endpoint, ExposeSecret, LoadBalance, SecretString, SessionAttrs, SessionFacts};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgConnector};
use sqlx::{ConnectOptions, Connection};

use super::describe;

/// One host and what its login sends.
pub(crate) struct HostLogin {
    pub endpoint: Endpoint,
    /// The user this host's login names (`None`: the options' user).
    pub username: Option<String>,
    /// Empty when no source has a password for this host.
    pub password: SecretString,
}

/// The hosts of a target and the rules for choosing among them.
#[derive(Clone)]
pub(crate) struct MultiHost {
    inner: Arc<Inner>,
}

struct Inner {
    logins: Vec<HostLogin>,
    attrs: SessionAttrs,
    balance: LoadBalance,
    per_host: Duration,
}

impl fmt::Debug for MultiHost {
    // Hosts and rules; never the passwords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<String> = self
            .inner
            .logins
            .iter()
            .map(|l| l.endpoint.display(5432))
            .collect();
        f.debug_struct("MultiHost")
            .field("hosts", &hosts)
            .field("attrs", &self.inner.attrs)
            .field("balance", &self.inner.balance)
            .finish()
    }
}

impl MultiHost {
    pub fn new(
        logins: Vec<HostLogin>,
        attrs: SessionAttrs,
        balance: LoadBalance,
        per_host: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                logins,
                attrs,
                balance,
                per_host,
            }),
        }
    }

    /// The longest one connection can take: every host, on every pass, to its timeout.
    pub fn worst_case(&self) -> Duration {
        let tries = self.inner.logins.len() * self.inner.attrs.passes().len();
        self.inner.per_host * u32::try_from(tries).unwrap_or(u32::MAX)
    }

    pub fn attrs(&self) -> SessionAttrs {
        self.inner.attrs
    }
}

impl PgConnector for MultiHost {
    fn connect(
        &self,
        options: PgConnectOptions,
    ) -> Pin<Box<dyn Future<Output = Result<PgConnection, sqlx::Error>> + Send + 'static>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.connect(options).await })
    }
}

impl Inner {
    /// libpq's loop: each pass over the hosts (in order, or shuffled), the first connection
    /// whose server fits is kept; every failure is remembered for the error.
    async fn connect(&self, base: PgConnectOptions) -> Result<PgConnection, sqlx::Error> {
        let mut order: Vec<usize> = (0..self.logins.len()).collect();
        if self.balance == LoadBalance::Random {
            shuffle(&mut order);
        }
        let mut failed = HostsFailed::default();
        for pass in self.attrs.passes() {
            for &index in &order {
                let login = &self.logins[index];
                let shown = login.endpoint.display(5432);
                let options = host_options(base.clone(), login);
                let attempt = tokio::time::timeout(self.per_host, options.connect()).await;
                let mut connection = match attempt {
                    Err(_) => {
                        failed.push(shown, HostFailure::TimedOut(self.per_host));
                        continue;
                    }
                    Ok(Err(error)) => {
                        failed.push(shown, HostFailure::Error(error));
                        continue;
                    }
                    Ok(Ok(connection)) => connection,
                };
                if !pass.needs_check() {
                    return Ok(connection);
                }
                match session_facts(&mut connection).await {
                    Ok(facts) if pass.fits(facts) => return Ok(connection),
                    Ok(facts) => {
                        let _ = connection.close().await;
                        failed.push(shown, HostFailure::Unfit(facts, self.attrs));
                    }
                    Err(error) => failed.push(shown, HostFailure::Error(error)),
                }
            }
        }
        Err(failed.into_error())
    }
}

/// The base options with this host's address, port and password.
fn host_options(base: PgConnectOptions, login: &HostLogin) -> PgConnectOptions {
    let endpoint = &login.endpoint;
    let options = match endpoint.host.as_str() {
        dir if dir.starts_with('/') => base.socket(dir),
        "" => base.socket(crate::credentials::pgpass::DEFAULT_SOCKET_DIR),
        host => base.host(host),
    };
    let options = match login.username.as_deref().filter(|u| !u.is_empty()) {
        Some(user) => options.username(user),
        None => options,
    };
    options
        .port(endpoint.port.unwrap_or(5432))
        .password(login.password.expose_secret())
}

/// What a connection's server is: in recovery, and whether its sessions are read-only.
pub(crate) async fn session_facts(
    connection: &mut PgConnection,
) -> Result<SessionFacts, sqlx::Error> {
    let (in_recovery, read_only): (bool, String) = sqlx::query_as(
        "select pg_catalog.pg_is_in_recovery(), pg_catalog.current_setting('transaction_read_only')",
    )
    .fetch_one(connection)
    .await?;
    Ok(SessionFacts {
        in_recovery,
        read_only: read_only == "on",
    })
}

/// Fisher–Yates, for `load_balance_hosts = random`.
fn shuffle(order: &mut [usize]) {
    for i in (1..order.len()).rev() {
        let j = rand::random_range(0..=i);
        order.swap(i, j);
    }
}

/// Why one host was not used.
#[derive(Debug)]
pub(crate) enum HostFailure {
    Error(sqlx::Error),
    TimedOut(Duration),
    Unfit(SessionFacts, SessionAttrs),
}

/// Every host tried and why none was kept: the error of a multi-host connection, carried in
/// an I/O error so that sqlx's pool treats "every host refused" as it treats one refusal
/// (it retries until its acquire timeout); `classify` and `describe` look inside.
#[derive(Debug, Default)]
pub struct HostsFailed {
    pub(crate) tried: Vec<(String, HostFailure)>,
}

impl HostsFailed {
    fn push(&mut self, host: String, failure: HostFailure) {
        self.tried.push((host, failure));
    }

    fn into_error(self) -> sqlx::Error {
        let all_refused = !self.tried.is_empty()
            && self.tried.iter().all(|(_, f)| {
                matches!(f, HostFailure::Error(sqlx::Error::Io(io)) if io.kind() == std::io::ErrorKind::ConnectionRefused)
            });
        let kind = if all_refused {
            std::io::ErrorKind::ConnectionRefused
        } else {
            std::io::ErrorKind::Other
        };
        sqlx::Error::Io(std::io::Error::new(kind, self))
    }

    /// Whether every host failed for a reason a restart or failover causes (refused, timed
    /// out, lost, not the wanted kind of server yet), so trying again later may succeed.
    pub(crate) fn all_transient(&self) -> bool {
        self.failures().all(|failure| match failure {
            HostFailure::Error(error) => {
                super::transience(error) == super::Transience::ConnectionLost
            }
            HostFailure::TimedOut(_) | HostFailure::Unfit(..) => true,
        })
    }

    /// The failures, for classification.
    pub(crate) fn failures(&self) -> impl Iterator<Item = &HostFailure> {
        self.tried.iter().map(|(_, f)| f)
    }
}

impl fmt::Display for HostsFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no host was usable: ")?;
        for (i, (host, failure)) in self.tried.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            match failure {
                HostFailure::Error(error) => write!(f, "{host}: {}", describe(error))?,
                HostFailure::TimedOut(after) => write!(
                    f,
                    "{host}: no answer within {}s (connect_timeout)",
                    after.as_secs_f64()
                )?,
                HostFailure::Unfit(facts, attrs) => write!(
                    f,
                    "{host}: {}, not {attrs} (target_session_attrs)",
                    facts.describe()
                )?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for HostsFailed {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shuffle_is_a_permutation_and_moves_hosts() {
        let mut seen_first = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut order: Vec<usize> = (0..4).collect();
            shuffle(&mut order);
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2, 3]);
            seen_first.insert(order[0]);
        }
        assert_eq!(seen_first.len(), 4, "every host comes first sometimes");
        let mut one = vec![0];
        shuffle(&mut one);
        assert_eq!(one, [0]);
        shuffle(&mut []);
    }

    fn refused() -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ))
    }

    #[test]
    fn every_host_is_named_and_the_kind_says_what_to_fix() {
        let mut failed = HostsFailed::default();
        failed.push("a:5432".into(), HostFailure::Error(refused()));
        failed.push(
            "b:5432".into(),
            HostFailure::Unfit(
                SessionFacts {
                    in_recovery: true,
                    read_only: true,
                },
                SessionAttrs::ReadWrite,
            ),
        );
        let text = failed.to_string();
        assert!(text.starts_with("no host was usable: a:5432: "), "{text}");
        assert!(
            text.contains("; b:5432: a standby, not read-write (target_session_attrs)"),
            "{text}"
        );
        let error = failed.into_error();
        assert_eq!(
            super::super::classify(&error),
            domain::ConnectErrorKind::NoSuitableHost
        );
        assert_eq!(super::super::describe(&error), text);
        assert_eq!(
            super::super::transience(&error),
            super::super::Transience::ConnectionLost
        );

        let mut all_refused = HostsFailed::default();
        all_refused.push("a:1".into(), HostFailure::Error(refused()));
        all_refused.push("b:2".into(), HostFailure::TimedOut(Duration::from_secs(1)));
        let error = all_refused.into_error();
        // Not every host refused: the pool must not retry it as one refusal.
        assert!(matches!(&error, sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::Other));
        let mut refusals = HostsFailed::default();
        refusals.push("a:1".into(), HostFailure::Error(refused()));
        refusals.push("b:2".into(), HostFailure::Error(refused()));
        let error = refusals.into_error();
        assert_eq!(
            super::super::classify(&error),
            domain::ConnectErrorKind::ConnectionRefused
        );
    }
}
