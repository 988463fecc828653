//! `connection_module!`: the few lines that make a file a connection module.

/// Declares a connection module: its code defaults and the standard API
/// (`db`, `pool`, `metadata`, `session`, `session_scope`, `close`).
///
/// ```ignore
/// connection_module! {
///     name: "laptop", kind: Postgres, host: "127.0.0.1", port: 5432, database: "project",
///     sources: [Env, Pgpass], env_prefix: "PROJECT_DB",
///     about: "PostgreSQL on this machine; password from the environment or ~/.pgpass",
/// }
/// ```
/// `kind` is `Postgres`, `MySql` or `Sqlite`; `host`, `port`, `user`, `database` and `path` are optional
/// and, when given, come in that order.
///
/// Another crate declares its own targets the same way, as `project_core::connection_module!`
/// (`examples/external_project` does); they are reached through their modules, not through
/// [`registry`](crate::registry), which knows dbcore's compiled targets and file-only ones.
#[macro_export]
macro_rules! connection_module {
    (
        name: $name:literal,
        kind: $kind:ident,
        $( host: $host:literal, )?
        $( port: $port:literal, )?
        $( user: $user:literal, )?
        $( database: $database:literal, )?
        $( path: $path:expr, )?
        sources: [ $( $source:ident ),* $(,)? ],
        env_prefix: $prefix:literal,
        about: $about:literal $(,)?
    ) => {
        /// This target's code defaults (lowest layer of its settings).
        pub const DEFAULTS: $crate::settings::TargetDefaults = $crate::settings::TargetDefaults {
            name: $name,
            kind: $crate::__private::DbKind::$kind,
            host: $crate::__opt!($($host)?),
            port: $crate::__opt!($($port)?),
            user: $crate::__opt!($($user)?),
            database: $crate::__opt!($($database)?),
            path: $crate::__opt!($($path)?),
            sources: &[ $( $crate::settings::SourceKind::$source ),* ],
            env_prefix: $prefix,
            about: $about,
        };

        /// The sqlx database type of this target.
        pub type Db = $crate::__backend!($kind);

        static DB: $crate::db::FirstUse<
            $crate::db::DatabaseConnection,
            ::std::sync::Arc<$crate::DbError>,
        > = $crate::db::FirstUse::new();

        /// The target's connection, created on first use; concurrent first calls share one
        /// creation and its outcome (a failure too: callers that waited for a failed open do
        /// not each try again in turn), and a call after a failure tries again.
        pub async fn db() -> ::std::result::Result<&'static $crate::db::DatabaseConnection, $crate::DbError> {
            DB.get_or_try_init(|| async {
                $crate::db::DatabaseConnection::open_module(&DEFAULTS)
                    .await
                    .map_err(::std::sync::Arc::new)
            })
            .await
            .map_err($crate::DbError::Shared)
        }

        /// The pool (the original's `engine`).
        pub async fn pool() -> ::std::result::Result<&'static $crate::__private::sqlx::Pool<Db>, $crate::DbError> {
            db().await?.pool::<Db>()
        }

        /// A pooled connection (the original's `get_session()`).
        pub async fn session() -> ::std::result::Result<$crate::__private::sqlx::pool::PoolConnection<Db>, $crate::DbError> {
            db().await?.session::<Db>().await
        }

        /// Runs `f` in a transaction: commit on `Ok`, roll back on `Err` or panic. Inside, use
        /// `tx.scope(async |tx| …)` for a nested scope (a savepoint).
        pub async fn session_scope<T, E, F>(f: F) -> ::std::result::Result<T, E>
        where
            E: ::std::convert::From<$crate::DbError>,
            F: for<'t> ::std::ops::AsyncFnOnce(
                &'t mut $crate::db::Tx<Db>,
            ) -> ::std::result::Result<T, E>,
        {
            db().await?.session_scope::<Db, T, E, F>(f).await
        }

        /// The reflected schema, shared in this process and cached on disk while the
        /// server's schema fingerprint matches.
        pub async fn metadata() -> ::std::result::Result<::std::sync::Arc<$crate::Metadata>, $crate::DbError> {
            db().await?.metadata().await
        }

        /// Reflects now and rewrites the cache.
        pub async fn refresh_metadata() -> ::std::result::Result<::std::sync::Arc<$crate::Metadata>, $crate::DbError> {
            db().await?.refresh_metadata().await
        }

        /// Closes the pool, if it was opened.
        pub async fn close() {
            if let Some(db) = DB.get() {
                db.close().await;
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __opt {
    () => {
        None
    };
    ($value:expr) => {
        Some($value)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __backend {
    (Postgres) => {
        $crate::__private::sqlx::Postgres
    };
    (Sqlite) => {
        $crate::__private::sqlx::Sqlite
    };
    (MySql) => {
        $crate::__private::sqlx::MySql
    };
}
