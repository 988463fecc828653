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

#[tokio::test]
async fn deadlocked_transactions_on_mariadb_are_retried_until_both_commit() {
    use project_core::db::{RetryObserver, RetryPolicy, Transience};
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Default)]
    struct Seen(AtomicU64);
    impl RetryObserver for Seen {
        fn retrying(&self, _: u32, why: Transience, _: &str) {
            assert_eq!(why, Transience::Conflict, "a deadlock is a conflict");
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    let Some(server) = tests::mariadb::server() else {
        return;
    };
    let db = Arc::new(open(server, "scope_deadlock").await);
    let pool = db.pool::<MySql>().unwrap();
    sqlx::query("create table accounts (id int primary key, n int not null) engine = InnoDB")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("insert into accounts values (1, 0), (2, 0)")
        .execute(pool)
        .await
        .unwrap();
    let seen = Arc::new(Seen::default());
    let policy = RetryPolicy {
        max_attempts: 20,
        first_delay: std::time::Duration::from_millis(10),
        max_delay: std::time::Duration::from_millis(200),
        idempotent: false,
        observer: Some(seen.clone()),
    };
    // Two transactions take the two rows in opposite orders, each waiting for the other to
    // have taken its first: InnoDB breaks the cycle with error 1213 for one of them.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let tasks: Vec<_> = [(1, 2), (2, 1)]
        .into_iter()
        .map(|(first, second)| {
            let (db, policy, barrier) = (db.clone(), policy.clone(), barrier.clone());
            tokio::spawn(async move {
                let mut attempt = 0;
                db.session_scope_retry::<MySql, (), DbError, _>(&policy, |tx| {
                    attempt += 1;
                    let (barrier, wait) = (barrier.clone(), attempt == 1);
                    Box::pin(async move {
                        let bump = "update accounts set n = n + 1 where id = ?";
                        sqlx::query(bump)
                            .bind(first)
                            .execute(&mut **tx)
                            .await
                            .map_err(|e| tx.query_error(e))?;
                        if wait {
                            barrier.wait().await;
                        }
                        sqlx::query(bump)
                            .bind(second)
                            .execute(&mut **tx)
                            .await
                            .map_err(|e| tx.query_error(e))?;
                        Ok(())
                    })
                })
                .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("both end committed");
    }
    let rows: Vec<(i32, i32)> = sqlx::query_as("select id, n from accounts order by id")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(
        rows,
        [(1, 2), (2, 2)],
        "each transaction committed exactly once"
    );
    assert!(
        seen.0.load(Ordering::SeqCst) >= 1,
        "the deadlock happened and was retried"
    );
    db.close().await;
}
