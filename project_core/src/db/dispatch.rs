//! `on_pool!`: run one generic body for whichever kind of database a connection is.
//!
//! Design decision: sqlx is typed by driver, so code that takes a target by name (a tool, the
//! viewer) has a [`DbPool`](adapters::database::DbPool) whose kind is known only at run time.
//! Rather than each app writing its own "match on the kind, repeat the body per driver"
//! macro, there is this one: the body is written once and compiled once per kind, with its
//! binding typed for that kind (`&sqlx::Pool<DB>`, or `&mut Tx<DB>` in a scope). Connection
//! modules know their kind at compile time and never need it.

/// Runs `body` once for the pool's kind, with the pool typed for that kind.
///
/// Three forms:
///
/// - `on_pool!(db.any_pool(), pool => body)`: `db.any_pool()` is a `&DbPool`; in `body`,
///   `pool` is the typed `&sqlx::Pool<DB>` (`&PgPool`, `&MySqlPool` or `&SqlitePool`). The
///   value of the whole is `body`'s, which must have the same type for every kind.
/// - `on_pool!(db => session_scope::<T, E>(async |tx| body))`: `db` is a
///   `&DatabaseConnection`; runs [`DatabaseConnection::session_scope`] for the connection's
///   kind, with `tx` a `&mut Tx<DB>` in `body`, and awaits it. `T` (may be `_`) and `E` are the
///   scope's `Result<T, E>`, as for `session_scope`.
///
/// - `on_pool!(db => session_scope_retry::<T, E>(&policy, |tx| Box::pin(async move { body })))`:
///   [`DatabaseConnection::session_scope_retry`] for the connection's kind (the closure may
///   run more than once).
///
/// `body` is expanded once per kind, so it may call code generic over the database
/// (`sqlx::query(…).fetch_one(pool)`); the connection expression is evaluated once.
///
/// ```no_run
/// # async fn example(db: &project_core::db::DatabaseConnection) -> anyhow::Result<()> {
/// let rows: i64 = project_core::on_pool!(db.any_pool(), pool => {
///     sqlx::query_scalar("select count(*) from items").fetch_one(pool).await?
/// });
/// project_core::on_pool!(db => session_scope::<_, anyhow::Error>(async |tx| {
///     sqlx::query("delete from items").execute(&mut **tx).await?;
///     Ok(())
/// }))?;
/// # let _ = rows;
/// # Ok(())
/// # }
/// ```
///
/// [`DatabaseConnection::session_scope`]: crate::db::DatabaseConnection::session_scope
/// [`DatabaseConnection::session_scope_retry`]: crate::db::DatabaseConnection::session_scope_retry
#[macro_export]
macro_rules! on_pool {
    ($db:expr => session_scope::<$t:ty, $e:ty>(async |$tx:ident| $body:expr)) => {
        match $db {
            db => match db.kind() {
                $crate::DbKind::Postgres => {
                    db.session_scope::<$crate::__private::sqlx::Postgres, $t, $e, _>(async |$tx| {
                        $body
                    })
                    .await
                }
                $crate::DbKind::MySql => {
                    db.session_scope::<$crate::__private::sqlx::MySql, $t, $e, _>(async |$tx| $body)
                        .await
                }
                $crate::DbKind::Sqlite => {
                    db.session_scope::<$crate::__private::sqlx::Sqlite, $t, $e, _>(async |$tx| {
                        $body
                    })
                    .await
                }
            },
        }
    };
    ($db:expr => session_scope_retry::<$t:ty, $e:ty>($policy:expr, $f:expr)) => {
        match ($db, $policy) {
            (db, policy) => match db.kind() {
                $crate::DbKind::Postgres => {
                    db.session_scope_retry::<$crate::__private::sqlx::Postgres, $t, $e, _>(
                        policy, $f,
                    )
                    .await
                }
                $crate::DbKind::MySql => {
                    db.session_scope_retry::<$crate::__private::sqlx::MySql, $t, $e, _>(policy, $f)
                        .await
                }
                $crate::DbKind::Sqlite => {
                    db.session_scope_retry::<$crate::__private::sqlx::Sqlite, $t, $e, _>(policy, $f)
                        .await
                }
            },
        }
    };
    ($pool:expr, $bind:ident => $body:expr) => {
        match $pool {
            pool => {
                let pool: &$crate::__private::DbPool = pool;
                match pool {
                    $crate::__private::DbPool::Postgres($bind) => $body,
                    $crate::__private::DbPool::MySql($bind) => $body,
                    $crate::__private::DbPool::Sqlite($bind) => $body,
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use adapters::database::DbPool;
    use domain::{DbKind, MapEnv};
    use sqlx::Pool;

    use crate::db::{Backend, DatabaseConnection, Tx};
    use crate::{DbError, context_with, registry};

    /// The kind of the typed pool the body was given, as the type system sees it.
    fn kind_of<DB: Backend>(_: &Pool<DB>) -> DbKind {
        DB::KIND
    }

    fn kind_in_scope<DB: Backend>(_: &Tx<DB>) -> DbKind {
        DB::KIND
    }

    async fn memory_pool() -> DbPool {
        DbPool::Sqlite(sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap())
    }

    /// An in-memory SQLite target from a target file, under a prefix no other test uses.
    async fn open_memory(config: &tempfile::TempDir) -> DatabaseConnection {
        let targets = config.path().join("targets");
        std::fs::create_dir_all(&targets).unwrap();
        std::fs::write(
            targets.join("dispatch.toml"),
            "kind = \"sqlite\"\npath = \":memory:\"\nenv_prefix = \"DISPATCH_TEST_DB\"\n",
        )
        .unwrap();
        let env = MapEnv::new().with("PROJECT_CACHE_DIR", config.path().to_str().unwrap());
        let context = context_with(Some(config.path()), Arc::new(env));
        registry::open("dispatch", &context).await.unwrap()
    }

    #[tokio::test]
    async fn the_pool_form_binds_the_typed_pool_of_the_pools_kind() {
        let any = memory_pool().await;
        let (kind, answer) = crate::on_pool!(&any, pool => {
            let answer: i64 = sqlx::query_scalar("select 41 + 1")
                .fetch_one(pool)
                .await
                .unwrap();
            (kind_of(pool), answer)
        });
        assert_eq!(kind, DbKind::Sqlite);
        assert_eq!(answer, 42);
        any.close().await;
    }

    #[tokio::test]
    async fn the_pool_form_evaluates_its_pool_once_and_passes_the_bodys_error_on() {
        let any = memory_pool().await;
        let mut evaluated = 0;
        let result: Result<i64, sqlx::Error> = crate::on_pool!({ evaluated += 1; &any }, pool => {
            sqlx::query_scalar("select * from no_such_table")
                .fetch_one(pool)
                .await
        });
        assert_eq!(evaluated, 1);
        assert!(result.unwrap_err().to_string().contains("no_such_table"));
        any.close().await;
    }

    #[tokio::test]
    async fn the_scope_form_runs_session_scope_with_the_typed_transaction() {
        let config = tempfile::tempdir().unwrap();
        let db = open_memory(&config).await;
        let (kind, count) = crate::on_pool!(&db => session_scope::<_, DbError>(async |tx| {
            let kind = kind_in_scope(tx);
            let create = sqlx::query("create table t (x integer)").execute(&mut **tx).await;
            create.map_err(|cause| tx.query_error(cause))?;
            let insert = sqlx::query("insert into t values (1), (2)").execute(&mut **tx).await;
            insert.map_err(|cause| tx.query_error(cause))?;
            let count: i64 = sqlx::query_scalar("select count(*) from t")
                .fetch_one(&mut **tx)
                .await
                .map_err(|cause| tx.query_error(cause))?;
            Ok((kind, count))
        }))
        .unwrap();
        assert_eq!(kind, DbKind::Sqlite);
        assert_eq!(count, 2);
        db.close().await;
    }

    #[tokio::test]
    async fn the_scope_form_returns_the_bodys_error() {
        let config = tempfile::tempdir().unwrap();
        let db = open_memory(&config).await;
        let result = crate::on_pool!(&db => session_scope::<(), DbError>(async |tx| {
            match sqlx::query("select * from no_such_table").execute(&mut **tx).await {
                Ok(_) => Ok(()),
                Err(cause) => Err(tx.query_error(cause)),
            }
        }));
        let error = result.unwrap_err();
        assert!(
            matches!(&error, DbError::Query { target, .. } if target == "dispatch"),
            "{error}"
        );
        db.close().await;
    }
}
