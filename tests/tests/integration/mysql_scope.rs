//! `session_scope` and nested scopes against a real, throwaway MariaDB, through a
//! `DatabaseConnection` of kind `mysql`: the same promises as on PostgreSQL (`postgres.rs`),
//! each checked by reading the table back after the scope has ended.

use std::sync::Arc;

use domain::MapEnv;
use project_core::db::{DatabaseConnection, Tx};
use project_core::{DbError, context_with, registry};
use sqlx::MySql;
use tests::bin::ConfigDir;
use tests::mariadb::MariaDb;

#[derive(Debug)]
struct Rejected;

impl From<DbError> for Rejected {
    fn from(_: DbError) -> Self {
        Rejected
    }
}

/// A user and a database named `name` holding an empty InnoDB table `items(name)` (InnoDB: a
/// rollback undoes its rows), and a connection to them through a `kind = "mysql"` target.
async fn open(server: &MariaDb, name: &str) -> DatabaseConnection {
    server.create_user_and_database(name, "scope-pw").await;
    let config = ConfigDir::new();
    let prefix = format!("S_{}", name.to_uppercase());
    config.target(
        name,
        &format!(
            "kind = \"mysql\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{name}\"\nuser = \"{name}\"\nsources = [\"env\"]\nenv_prefix = \"{prefix}\"\n",
            server.port()
        ),
    );
    let ctx = context_with(
        Some(config.path()),
        Arc::new(MapEnv::new().with(format!("{prefix}_PASSWORD"), "scope-pw")),
    );
    let db = registry::open(name, &ctx).await.expect("opens");
    sqlx::query("create table items (name varchar(100)) engine = innodb")
        .execute(db.pool::<MySql>().unwrap())
        .await
        .unwrap();
    db
}

/// What the table holds, read outside any scope, in name order.
async fn names(db: &DatabaseConnection) -> Vec<String> {
    sqlx::query_scalar("select name from items order by name")
        .fetch_all(db.pool::<MySql>().unwrap())
        .await
        .unwrap()
}

/// A scope commits on `Ok` and rolls back on `Err`; a nested scope is a savepoint, rolled back
/// to on `Err` while the outer transaction goes on and commits, and released on `Ok`.
#[tokio::test]
async fn session_scope_on_mariadb_commits_rolls_back_and_nests() {
    let Some(server) = tests::mariadb::server() else {
        return;
    };
    let db = open(server, "scopes_my").await;
    let insert = async |tx: &mut Tx<MySql>, name: &str| {
        sqlx::query("insert into items values (?)")
            .bind(name.to_owned())
            .execute(&mut **tx)
            .await
            .map(|_| ())
            .map_err(|_| Rejected)
    };
    db.session_scope::<MySql, _, Rejected, _>(async |tx| {
        insert(tx, "outer").await?;
        let inner = tx
            .scope::<(), Rejected, _>(async |tx| {
                insert(tx, "inner rolled back").await?;
                Err(Rejected)
            })
            .await;
        assert!(matches!(inner, Err(Rejected)), "{inner:?}");
        tx.scope::<(), Rejected, _>(async |tx| insert(tx, "inner kept").await)
            .await
    })
    .await
    .unwrap();
    assert_eq!(
        names(&db).await,
        vec!["inner kept", "outer"],
        "the outer scope committed without its rolled-back savepoint"
    );

    let all = db
        .session_scope::<MySql, (), Rejected, _>(async |tx| {
            insert(tx, "all rolled back").await?;
            tx.scope::<(), Rejected, _>(async |tx| {
                insert(tx, "inner of a rolled-back scope").await
            })
            .await?;
            Err(Rejected)
        })
        .await;
    assert!(matches!(all, Err(Rejected)), "{all:?}");
    assert_eq!(
        names(&db).await,
        vec!["inner kept", "outer"],
        "a scope that returned an error left rows behind"
    );
}

/// A panic inside a nested scope rolls back to its savepoint: caught by the outer scope, the
/// outer transaction goes on and commits without the inner work; not caught, it unwinds
/// through the outer scope, which rolls everything back, and goes on to the caller.
#[tokio::test]
async fn a_panic_inside_a_nested_scope_rolls_back_to_its_savepoint_on_mariadb() {
    use futures::FutureExt as _;
    let Some(server) = tests::mariadb::server() else {
        return;
    };
    let db = Arc::new(open(server, "scope_panics_my").await);
    let insert = async |tx: &mut Tx<MySql>, name: &'static str| {
        sqlx::query("insert into items values (?)")
            .bind(name)
            .execute(&mut **tx)
            .await
            .map(|_| ())
            .map_err(|_| Rejected)
    };
    db.session_scope::<MySql, _, Rejected, _>(async |tx| {
        insert(tx, "outer").await?;
        let caught = std::panic::AssertUnwindSafe(tx.scope::<(), Rejected, _>(async |tx| {
            insert(tx, "inner before the panic").await?;
            panic!("the app panics inside a nested scope");
        }))
        .catch_unwind()
        .await;
        assert!(caught.is_err(), "the panic reaches the outer scope");
        insert(tx, "outer after the panic").await
    })
    .await
    .expect("the outer transaction commits");
    assert_eq!(
        names(&db).await,
        vec!["outer", "outer after the panic"],
        "the outer scope committed without the work of the panicking savepoint"
    );

    let db2 = db.clone();
    let joined = tokio::spawn(async move {
        let _: Result<(), Rejected> = db2
            .session_scope::<MySql, _, Rejected, _>(async |tx| {
                insert(tx, "outer, unwound").await?;
                tx.scope::<(), Rejected, _>(async |tx| {
                    insert(tx, "inner, unwound").await?;
                    panic!("not caught");
                })
                .await
            })
            .await;
    })
    .await;
    assert!(joined.expect_err("the panic goes on").is_panic());
    assert_eq!(
        names(&db).await,
        vec!["outer", "outer after the panic"],
        "a scope a panic unwound through left rows behind"
    );
}
