//! Hostile moments in a connection's life: a dynamic credential obtained for something that
//! then fails (opening against a database the new user cannot use, a rotation the pool
//! refuses) is revoked at once, at Vault and at the server, never left to live until its TTL;
//! a target opened, closed and dropped in any order keeps its environment prefix to itself.

use std::sync::Arc;

use domain::MapEnv;
use project_core::{context_with, registry};
use tests::bin::ConfigDir;
use tests::pg::PgCluster;
use tests::vault::Vault;

/// A database engine at `mount` whose users are members of the role `marker` (so the test can
/// count them in `pg_auth_members` while other tests share the cluster).
async fn engine_with_marker(vault: &Vault, pg: &PgCluster, mount: &str, marker: &str) {
    let admin = pg.superuser().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("create role {marker} nologin")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    vault.enable_database_engine(mount, pg.port(), pg.superuser_password(), "postgres");
    vault
        .bao(&[
            "write",
            &format!("{mount}/roles/app"),
            "db_name=pg",
            &format!("creation_statements=CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}' IN ROLE {marker};"),
            "revocation_statements=DROP ROLE IF EXISTS \"{{name}}\";",
            "default_ttl=10m",
            "max_ttl=1h",
        ])
        .unwrap();
}

async fn members(pg: &PgCluster, marker: &str) -> i64 {
    let admin = pg.superuser().await;
    let n: i64 = sqlx::query_scalar(
        "select count(*) from pg_auth_members m join pg_roles r on r.oid = m.roleid where r.rolname = $1",
    )
    .bind(marker)
    .fetch_one(&admin)
    .await
    .unwrap();
    admin.close().await;
    n
}

fn leases(vault: &Vault, mount: &str) -> usize {
    vault
        .bao(&[
            "list",
            "-format=json",
            &format!("sys/leases/lookup/{mount}/creds/app"),
        ])
        .ok()
        .and_then(|out| serde_json::from_str::<Vec<String>>(out.trim()).ok())
        .map_or(0, |ids| ids.len())
}

/// Opening fails after Vault made a user (the database named does not exist): each attempt's
/// lease is revoked, so retries do not pile up live users.
#[tokio::test]
async fn a_failed_open_revokes_the_lease_it_obtained() {
    let (Some(pg), Some(vault)) = (tests::pg::cluster(), tests::vault::server()) else {
        return;
    };
    let (mount, marker) = ("db_openfail", "openfail_marker");
    engine_with_marker(vault, pg, mount, marker).await;
    let config = ConfigDir::new();
    config.target(
        "prod",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"no_such_database_here\"\nuser = \"app\"\nsources = [\"vault\"]\nenv_prefix = \"P\"\n[vault]\naddress = \"{}\"\ndatabase = {{ mount = \"{mount}\", role = \"app\" }}\n",
            pg.port(),
            vault.address()
        ),
    );
    let env = MapEnv::new().with("VAULT_TOKEN", vault.root_token());
    let context = context_with(Some(config.path()), Arc::new(env));
    for _ in 0..3 {
        let Err(error) = registry::open("prod", &context).await else {
            panic!("the database does not exist");
        };
        assert!(
            format!("{error}").contains("no_such_database_here"),
            "{error}"
        );
    }
    assert_eq!(leases(vault, mount), 0, "leases left at Vault");
    assert_eq!(members(pg, marker).await, 0, "users left at the server");
}

/// A target opened twice in one process (a tool and a library each open it) holds its
/// environment prefix until the last of its connections goes: closing or dropping one, or a
/// second open that fails, must not free the prefix for another target, which would then read
/// the first target's password from the environment and send it to its own host.
#[tokio::test]
async fn a_prefix_is_held_until_the_last_connection_of_its_target_goes() {
    let config = ConfigDir::new();
    for name in ["first", "second"] {
        let pool = config.sqlite_target(name, &format!("{name}.sqlite3")).await;
        pool.close().await;
        let path = config.path().join(format!("{name}.sqlite3"));
        config.target(
            name,
            &format!(
                "kind = \"sqlite\"\npath = {:?}\nenv_prefix = \"HOSTILE_SHARED\"\n",
                path.display().to_string()
            ),
        );
    }
    let context = context_with(Some(config.path()), Arc::new(MapEnv::new()));
    let kept = registry::open("first", &context).await.unwrap();
    let refused = |opened: Result<project_core::db::DatabaseConnection, project_core::DbError>| {
        let Err(error) = opened else {
            panic!("`second` opened while `first` holds the prefix");
        };
        assert!(format!("{error}").contains("HOSTILE_SHARED"), "{error}");
    };
    refused(registry::open("second", &context).await);
    // A second connection of the same target, closed.
    let again = registry::open("first", &context).await.unwrap();
    again.close().await;
    refused(registry::open("second", &context).await);
    // And one dropped.
    drop(registry::open("first", &context).await.unwrap());
    refused(registry::open("second", &context).await);
    kept.close().await;
    drop(kept);
    let second = registry::open("second", &context).await;
    assert!(second.is_ok(), "the prefix is free once `first` is closed");
}
