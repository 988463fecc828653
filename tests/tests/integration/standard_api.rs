//! The standard API on real SQLite: db, session, session_scope (commit, rollback on error and
//! panic, nested savepoints), several targets at once, the connection module itself.

use std::sync::Arc;

use domain::MapEnv;
use project_core::db::DatabaseConnection;
use project_core::registry;
use project_core::{DbError, context_with};
use sqlx::Sqlite;
use tests::bin::ConfigDir;

async fn open_sqlite(config: &ConfigDir, name: &str) -> DatabaseConnection {
    let db_path = config.path().join(format!("{name}.sqlite3"));
    config.target(
        name,
        &format!(
            "kind = \"sqlite\"\npath = {:?}\n",
            db_path.display().to_string()
        ),
    );
    let ctx = context_with(Some(config.path()), Arc::new(MapEnv::new()));
    let db = registry::open(name, &ctx).await.expect("opens");
    sqlx::query("create table if not exists items (id integer primary key, name text not null)")
        .execute(db.pool::<Sqlite>().expect("sqlite pool"))
        .await
        .expect("create table");
    db
}

async fn names(db: &DatabaseConnection) -> Vec<String> {
    sqlx::query_scalar("select name from items order by id")
        .fetch_all(db.pool::<Sqlite>().unwrap())
        .await
        .unwrap()
}

#[derive(Debug)]
enum AppError {
    Db(#[allow(dead_code)] DbError),
    Rejected,
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        AppError::Db(e)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Db(DbError::Query {
            target: "test".into(),
            cause: e,
        })
    }
}

#[tokio::test]
async fn session_scope_commits_on_ok_and_rolls_back_on_err() {
    let config = ConfigDir::new();
    let db = open_sqlite(&config, "scoped").await;
    let id: i64 = db
        .session_scope::<Sqlite, _, AppError, _>(async |tx| {
            let row: (i64,) =
                sqlx::query_as("insert into items(name) values ('kept') returning id")
                    .fetch_one(&mut **tx)
                    .await?;
            Ok(row.0)
        })
        .await
        .expect("commits");
    assert_eq!(id, 1);
    let failed = db
        .session_scope::<Sqlite, (), AppError, _>(async |tx| {
            sqlx::query("insert into items(name) values ('dropped')")
                .execute(&mut **tx)
                .await?;
            Err(AppError::Rejected)
        })
        .await;
    assert!(matches!(failed, Err(AppError::Rejected)));
    assert_eq!(names(&db).await, vec!["kept"]);
    db.close().await;
}

#[tokio::test]
async fn session_scope_rolls_back_on_panic_and_the_panic_goes_on() {
    let config = ConfigDir::new();
    let db = Arc::new(open_sqlite(&config, "panicky").await);
    let db2 = db.clone();
    let joined = tokio::spawn(async move {
        let _: Result<(), AppError> = db2
            .session_scope::<Sqlite, _, AppError, _>(async |tx| {
                sqlx::query("insert into items(name) values ('never')")
                    .execute(&mut **tx)
                    .await?;
                panic!("the app panics mid-transaction");
            })
            .await;
    })
    .await;
    assert!(joined.expect_err("the panic propagates").is_panic());
    assert!(names(&db).await.is_empty(), "the insert was rolled back");
    // The pool is still usable afterwards.
    db.session_scope::<Sqlite, _, AppError, _>(async |tx| {
        sqlx::query("insert into items(name) values ('after')")
            .execute(&mut **tx)
            .await?;
        Ok(())
    })
    .await
    .expect("commits");
    assert_eq!(names(&db).await, vec!["after"]);
}

#[tokio::test]
async fn a_nested_scope_is_a_savepoint_and_an_inner_error_rolls_back_only_the_inner_scope() {
    let config = ConfigDir::new();
    let db = open_sqlite(&config, "nested").await;
    db.session_scope::<Sqlite, _, AppError, _>(async |tx| {
        sqlx::query("insert into items(name) values ('outer')")
            .execute(&mut **tx)
            .await?;
        let inner: Result<(), AppError> = tx
            .scope(async |inner| {
                sqlx::query("insert into items(name) values ('inner')")
                    .execute(&mut **inner)
                    .await?;
                Err(AppError::Rejected)
            })
            .await;
        assert!(matches!(inner, Err(AppError::Rejected)));
        tx.scope::<_, AppError, _>(async |inner| {
            sqlx::query("insert into items(name) values ('inner ok')")
                .execute(&mut **inner)
                .await?;
            Ok(())
        })
        .await?;
        Ok(())
    })
    .await
    .expect("outer commits");
    assert_eq!(names(&db).await, vec!["outer", "inner ok"]);
}

#[tokio::test]
async fn several_targets_are_open_at_once_and_never_share_a_prefix() {
    let config = ConfigDir::new();
    let a = open_sqlite(&config, "first").await;
    let b = open_sqlite(&config, "second").await;
    a.session_scope::<Sqlite, _, AppError, _>(async |tx| {
        sqlx::query("insert into items(name) values ('in a')")
            .execute(&mut **tx)
            .await?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(names(&a).await, vec!["in a"]);
    assert!(names(&b).await.is_empty());
    assert_eq!(a.settings().env_prefix(), "PROJECT_DB_FIRST");
    assert_eq!(b.settings().env_prefix(), "PROJECT_DB_SECOND");

    // A third target that claims `first`'s prefix is refused while `first` is open.
    config.target(
        "clash",
        "kind = \"sqlite\"\npath = \":memory:\"\nenv_prefix = \"PROJECT_DB_FIRST\"\n",
    );
    let ctx = context_with(Some(config.path()), Arc::new(MapEnv::new()));
    let err = registry::open("clash", &ctx).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "targets `first` and `clash` both read environment variables with prefix PROJECT_DB_FIRST; give one of them its own `env_prefix`"
    );
    a.close().await;
    registry::open("clash", &ctx)
        .await
        .expect("the prefix is free once `first` is closed");
}

/// One target opened twice holds its prefix twice: closing (or dropping) one of the two leaves
/// the other's claim in force, and a close followed by the drop releases only once.
#[tokio::test]
async fn a_target_opened_twice_keeps_its_prefix_until_both_are_closed() {
    let config = ConfigDir::new();
    let first = open_sqlite(&config, "twice").await;
    let second = open_sqlite(&config, "twice").await;
    config.target(
        "rival",
        "kind = \"sqlite\"\npath = \":memory:\"\nenv_prefix = \"PROJECT_DB_TWICE\"\n",
    );
    let ctx = context_with(Some(config.path()), Arc::new(MapEnv::new()));
    let refused = |what: &str, result: Result<DatabaseConnection, DbError>| match result {
        Ok(_) => panic!("`rival` opened while {what}"),
        Err(err) => assert_eq!(
            err.to_string(),
            "targets `twice` and `rival` both read environment variables with prefix PROJECT_DB_TWICE; give one of them its own `env_prefix`",
            "{what}"
        ),
    };
    first.close().await;
    refused(
        "the second `twice` is still open (one of two closed)",
        registry::open("rival", &ctx).await,
    );
    drop(first);
    refused(
        "the second `twice` is still open (the closed one dropped too)",
        registry::open("rival", &ctx).await,
    );
    drop(second);
    registry::open("rival", &ctx)
        .await
        .expect("the prefix is free once both are gone");
}

#[tokio::test]
async fn session_hands_out_a_pooled_connection_and_a_wrong_kind_is_refused() {
    let config = ConfigDir::new();
    let db = open_sqlite(&config, "sessions").await;
    let mut conn = db.session::<Sqlite>().await.expect("a connection");
    let one: i64 = sqlx::query_scalar("select 1")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    let err = db.pool::<sqlx::Postgres>().unwrap_err();
    assert!(
        err.to_string()
            .contains("is a sqlite target but was used as postgres"),
        "{err}"
    );
}

/// The compiled `local` module: concurrent first calls share one creation.
#[tokio::test]
async fn the_local_module_is_created_once_for_concurrent_first_callers() {
    use project_core::db::connections::local;
    let data = tempfile::tempdir().unwrap();
    let db_path = data.path().join("local.sqlite3");
    let env = MapEnv::new().with("PROJECT_LOCAL_DB_PATH", db_path.to_str().unwrap());
    project_core::configure(context_with(Some(data.path()), Arc::new(env)));
    let handles: Vec<_> = (0..16).map(|_| tokio::spawn(local::db())).collect();
    let mut addresses = Vec::new();
    for handle in handles {
        let db = handle.await.unwrap().expect("opens");
        addresses.push(db as *const DatabaseConnection as usize);
    }
    addresses.dedup();
    assert_eq!(addresses.len(), 1, "one DatabaseConnection for all callers");
    let count: i64 = local::session_scope(async |tx| {
        sqlx::query("create table t(x integer)")
            .execute(&mut **tx)
            .await
            .map_err(AppError::from)?;
        sqlx::query("insert into t values (1), (2)")
            .execute(&mut **tx)
            .await
            .map_err(AppError::from)?;
        sqlx::query_scalar("select count(*) from t")
            .fetch_one(&mut **tx)
            .await
            .map_err(AppError::from)
    })
    .await
    .expect("scope");
    assert_eq!(count, 2);
    assert!(
        db_path.exists(),
        "the module used the path from its environment override"
    );
    let pool = local::pool().await.unwrap();
    let count: i64 = sqlx::query_scalar("select count(*) from t")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(count, 2);
}

/// A failed creation leaves nothing behind: the same target can be tried again at once.
#[tokio::test]
async fn a_failed_open_leaves_nothing_behind_and_can_be_retried() {
    let config = ConfigDir::new();
    // Held, not just free a moment ago: nobody else can start listening there meanwhile.
    let refusing = tests::servers::RefusingPort::new().unwrap();
    let port = refusing.port();
    config.target(
        "down",
        &format!("kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"u\"\ndatabase = \"d\"\nsources = []\n"),
    );
    let ctx = context_with(Some(config.path()), Arc::new(MapEnv::new()));
    for _ in 0..2 {
        let err = registry::open("down", &ctx).await.unwrap_err();
        let connect = err.connect_error().expect("a classified connection error");
        assert_eq!(
            connect.kind,
            project_core::ConnectErrorKind::ConnectionRefused,
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "target `down`: connection refused connecting to 127.0.0.1:{port}/d as user \"u\": error communicating with database: Connection refused (os error 111); is the server running and listening on that address?"
            )
        );
    }
}
