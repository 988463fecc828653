//! `SqlxTarget`: the sqlx implementation of the `ConnectionTarget` port, for every kind.

use std::sync::Arc;

use async_trait::async_trait;
use domain::{
    ConnectError, ConnectErrorKind, ConnectionTarget, Credential, DbKind, Metadata, ServerInfo,
    TargetIdentity, TargetSpec,
};
use sqlx::{ConnectOptions, Connection};

use super::{DbPool, Retirement, classify, close_idle, mysql, postgres, reflect, sqlite};

/// The sqlx implementation of the `ConnectionTarget` port, for every kind.
#[derive(Debug, Clone)]
pub struct SqlxTarget {
    spec: TargetSpec,
    retirement: Arc<Retirement>,
}

impl SqlxTarget {
    pub fn new(spec: TargetSpec) -> Self {
        Self {
            spec,
            retirement: Arc::new(Retirement::default()),
        }
    }

    pub fn spec(&self) -> &TargetSpec {
        &self.spec
    }

    /// The swap, written once for every kind with a password: a probe connection with the new
    /// options (so a wrong credential never reaches the pool), then the options become the
    /// pool's, connections made before now are retired, and the idle ones close at once.
    ///
    /// The probe gets `connect_timeout`, as an opening does: sqlx's own connect has none, and
    /// a rotation holds the lease manager's lock, so a server that accepts and never answers
    /// would otherwise stall every rotation (and every session waiting for one) for ever.
    async fn swap_in<DB: sqlx::Database>(
        &self,
        pool: &sqlx::Pool<DB>,
        options: <DB::Connection as Connection>::Options,
        credential: &Credential,
        (probe_timeout, address): (std::time::Duration, String),
        describe: impl Fn(&sqlx::Error) -> ConnectError,
    ) -> Result<(), ConnectError> {
        let started = std::time::Instant::now();
        let probe = match tokio::time::timeout(probe_timeout, options.connect()).await {
            Err(_) => {
                let unanswered =
                    super::no_answer(&self.spec, Some(credential), address, probe_timeout);
                return Err(unanswered);
            }
            Ok(connected) => connected.map_err(|e| describe(&e))?,
        };
        let proved = started.elapsed();
        let _ = probe.close().await;
        pool.set_connect_options(options);
        self.retirement.retire_before(std::time::Instant::now());
        close_idle(pool).await;
        tracing::debug!(
            probe_ms = proved.as_millis() as u64,
            ms = started.elapsed().as_millis() as u64,
            "a new credential is in the pool"
        );
        Ok(())
    }
}

#[async_trait]
impl ConnectionTarget for SqlxTarget {
    type Pool = DbPool;
    type QueryError = sqlx::Error;

    fn identity(&self) -> &TargetIdentity {
        &self.spec.identity
    }

    async fn connect(&self, credential: Option<&Credential>) -> Result<DbPool, ConnectError> {
        match self.spec.identity.kind {
            DbKind::Postgres => postgres::connect(&self.spec, credential, self.retirement.clone())
                .await
                .map(DbPool::Postgres),
            DbKind::Sqlite => sqlite::connect(&self.spec).await.map(DbPool::Sqlite),
            DbKind::MySql => mysql::connect(&self.spec, credential, self.retirement.clone())
                .await
                .map(DbPool::MySql),
        }
    }

    async fn install(&self, pool: &DbPool, credential: &Credential) -> Result<(), ConnectError> {
        let spec = &self.spec;
        let given = Some(credential);
        match pool {
            DbPool::Postgres(pool) => {
                let options = postgres::connect_options(spec, given)?;
                let limit = (
                    postgres::probe_timeout(spec, given),
                    postgres::address(spec),
                );
                self.swap_in(pool, options, credential, limit, |e| {
                    postgres::connect_error(spec, given, e)
                })
                .await
            }
            DbPool::MySql(pool) => {
                let options = mysql::connect_options(spec, given)?;
                let limit = (mysql::probe_timeout(spec), mysql::address(spec));
                self.swap_in(pool, options, credential, limit, |e| {
                    mysql::connect_error(spec, given, e)
                })
                .await
            }
            // SQLite has no credential to swap.
            DbPool::Sqlite(_) => Ok(()),
        }
    }

    async fn ping(&self, pool: &DbPool) -> Result<ServerInfo, ConnectError> {
        match pool {
            DbPool::Postgres(pool) => postgres::ping(&self.spec, pool).await,
            DbPool::MySql(pool) => mysql::ping(&self.spec, pool).await,
            DbPool::Sqlite(pool) => sqlite::ping(&self.spec, pool).await,
        }
    }

    async fn fingerprint(&self, pool: &DbPool, schemas: &[String]) -> Result<String, sqlx::Error> {
        reflect::fingerprint(pool, schemas).await
    }

    async fn commit_horizon(&self, pool: &DbPool) -> Option<String> {
        match pool {
            DbPool::Postgres(pool) => reflect::postgres::commit_horizon(pool).await,
            DbPool::MySql(_) | DbPool::Sqlite(_) => None,
        }
    }

    async fn reflect(&self, pool: &DbPool, schemas: &[String]) -> Result<Metadata, sqlx::Error> {
        reflect::reflect(pool, schemas).await
    }

    /// PostgreSQL shows every session's user in `pg_stat_activity` to every user; other kinds
    /// cannot tell (MariaDB shows other users' threads only with `PROCESS`).
    async fn sessions_of(&self, pool: &DbPool, username: &str) -> Option<u64> {
        let pool = pool.as_postgres()?;
        let count: i64 =
            sqlx::query_scalar("select count(*) from pg_stat_activity where usename = $1")
                .bind(username)
                .fetch_one(pool)
                .await
                .ok()?;
        u64::try_from(count).ok()
    }

    fn refused_password(&self, error: &sqlx::Error) -> bool {
        classify(error) == ConnectErrorKind::AuthenticationFailed
    }

    async fn close(&self, pool: &DbPool) {
        pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{TargetOptions, TargetSpec};
    use std::time::Duration;

    /// A target at a server that accepts connections and never says a word (a proxy whose
    /// backend is gone), with a 1 s `connect_timeout`, and a pool of that kind on it.
    async fn at_a_silent_server(kind: DbKind) -> (SqlxTarget, DbPool, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let spec = TargetSpec {
            identity: TargetIdentity {
                name: "silent".into(),
                kind,
                host: Some("127.0.0.1".into()),
                port: Some(port),
                database: Some("d".into()),
                user: Some("u".into()),
            },
            path: None,
            options: TargetOptions {
                connect_timeout: Some(Duration::from_secs(1)),
                ..TargetOptions::default()
            },
        };
        let pool = match kind {
            DbKind::Postgres => DbPool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .connect_lazy_with(postgres::connect_options(&spec, None).unwrap()),
            ),
            _ => DbPool::MySql(
                sqlx::mysql::MySqlPoolOptions::new()
                    .connect_lazy_with(mysql::connect_options(&spec, None).unwrap()),
            ),
        };
        (SqlxTarget::new(spec), pool, silent)
    }

    #[tokio::test]
    async fn a_new_credential_at_a_server_that_never_answers_is_refused_within_connect_timeout() {
        for kind in [DbKind::Postgres, DbKind::MySql] {
            let (target, pool, silent) = at_a_silent_server(kind).await;
            let credential = Credential::new(
                Some("u".into()),
                domain::SecretString::from("new-password"),
                "file",
                "test",
            );
            let installed =
                tokio::time::timeout(Duration::from_secs(20), target.install(&pool, &credential))
                    .await
                    .expect("the probe ends by itself");
            let error = installed.expect_err("nothing answered");
            assert_eq!(error.kind, ConnectErrorKind::Timeout, "{kind:?}: {error}");
            assert!(!error.to_string().contains("new-password"));
            silent.abort();
        }
    }
}
