//! SQLite through sqlx: the embedded default. No credential is involved.

use std::time::Duration;

use domain::{ConnectError, ConnectErrorKind, ServerInfo, TargetSpec};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use super::classify;

/// `path` for messages.
pub fn address(spec: &TargetSpec) -> String {
    spec.path
        .as_ref()
        .map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string())
}

fn error(spec: &TargetSpec, e: &sqlx::Error) -> ConnectError {
    ConnectError {
        kind: classify(e),
        address: address(spec),
        user: String::new(),
        detail: super::describe(e),
        hint: None,
    }
}

/// Opens (creating when missing, parent directories included) the SQLite file.
pub async fn connect(spec: &TargetSpec) -> Result<SqlitePool, ConnectError> {
    let options = match spec.path.as_deref() {
        None => SqliteConnectOptions::new().in_memory(true),
        Some(p) if p.as_os_str() == ":memory:" => SqliteConnectOptions::new().in_memory(true),
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| ConnectError {
                    kind: ConnectErrorKind::Configuration,
                    address: address(spec),
                    user: String::new(),
                    detail: format!("cannot create directory {}: {e}", parent.display()),
                    hint: None,
                })?;
            }
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
        }
    }
    .busy_timeout(
        spec.options
            .connect_timeout
            .unwrap_or(Duration::from_secs(5)),
    )
    .foreign_keys(true);

    let mut pool_options = super::pool_settings(SqlitePoolOptions::new(), &spec.options.pool);
    // An in-memory database exists once per connection: keep exactly one.
    if spec.path.is_none()
        || spec
            .path
            .as_deref()
            .is_some_and(|p| p.as_os_str() == ":memory:")
    {
        pool_options = pool_options.max_connections(1).min_connections(1);
    }
    pool_options
        .connect_with(options)
        .await
        .map_err(|e| error(spec, &e))
}

pub async fn ping(spec: &TargetSpec, pool: &SqlitePool) -> Result<ServerInfo, ConnectError> {
    // A connection returned at once, so that the caller's next query reuses it.
    let mut conn = pool.acquire().await.map_err(|e| error(spec, &e))?;
    let (version,): (String,) = sqlx::query_as("select sqlite_version()")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| error(spec, &e))?;
    conn.return_to_pool().await;
    Ok(ServerInfo {
        version: format!("SQLite {version}"),
        current_user: String::new(),
        database: address(spec),
        answered_by: None,
        standby: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{DbKind, TargetIdentity, TargetOptions};

    fn spec(path: Option<std::path::PathBuf>) -> TargetSpec {
        TargetSpec {
            identity: TargetIdentity {
                name: "local".into(),
                kind: DbKind::Sqlite,
                host: None,
                port: None,
                database: None,
                user: None,
            },
            path,
            options: TargetOptions::default(),
        }
    }

    #[tokio::test]
    async fn creates_the_file_and_its_directories_and_pings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/local.sqlite3");
        let spec = spec(Some(path.clone()));
        let pool = connect(&spec).await.expect("connects");
        let info = ping(&spec, &pool).await.expect("pings");
        assert!(info.version.starts_with("SQLite 3."), "{}", info.version);
        assert_eq!(info.database, path.display().to_string());
        assert!(path.exists());
    }

    #[tokio::test]
    async fn in_memory_keeps_one_connection_so_the_data_stays() {
        let spec = spec(None);
        let pool = connect(&spec).await.expect("connects");
        sqlx::query("create table t(x)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("insert into t values (1)")
            .execute(&pool)
            .await
            .unwrap();
        let (n,): (i64,) = sqlx::query_as("select count(*) from t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
}
