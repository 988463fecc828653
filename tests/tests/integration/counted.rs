//! Single-flight and retirement counted where they happen, on a real PostgreSQL: resolutions by
//! a recording environment (the `env` source reads its password variable once per
//! resolution), connections by the server's own `pg_stat_activity`, keyed by the target's
//! `application_name` or by backend PID.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use domain::Env;
use project_core::db::{DatabaseConnection, FirstUse};
use project_core::{DbError, context_with, registry};
use tests::bin::ConfigDir;
use tests::pg::{PgCluster, cluster};

/// An environment that counts how often each variable is read.
#[derive(Default)]
struct RecordingEnv {
    vars: Mutex<HashMap<String, String>>,
    reads: Mutex<HashMap<String, usize>>,
}

impl RecordingEnv {
    fn set(&self, name: &str, value: &str) {
        self.vars
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    fn reads(&self, name: &str) -> usize {
        self.reads.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

impl Env for RecordingEnv {
    fn var(&self, name: &str) -> Option<String> {
        *self
            .reads
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default() += 1;
        self.vars.lock().unwrap().get(name).cloned()
    }
}

/// A target for the role/database `name`, over TCP, with its own application_name and prefix.
fn target_toml(pg: &PgCluster, name: &str, pool: &str) -> String {
    format!(
        "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"{name}\"\nuser = \"{name}\"\nsources = [\"env\"]\nenv_prefix = \"C_{}\"\napplication_name = \"counted-{name}\"\n{pool}",
        pg.port(),
        name.to_uppercase()
    )
}

fn password_var(name: &str) -> String {
    format!("C_{}_PASSWORD", name.to_uppercase())
}

/// Backend PIDs of the sessions the server has for this application_name.
async fn backends(pg: &PgCluster, name: &str) -> Vec<i32> {
    let admin = pg.superuser().await;
    let mut pids: Vec<i32> = sqlx::query_scalar(
        "select pid from pg_stat_activity where application_name = $1 order by pid",
    )
    .bind(format!("counted-{name}"))
    .fetch_all(&admin)
    .await
    .unwrap();
    admin.close().await;
    pids.sort_unstable();
    pids
}

/// N callers that arrive together at a `FirstUse` (what every connection module's `db()` is)
/// cause one resolution, one open and one server connection; every caller gets that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_callers_cause_one_resolution_one_pool_and_one_connection() {
    let Some(pg) = cluster() else { return };
    let name = "first_use_once";
    pg.create_role_and_database(name, "pw-once").await;
    let config = ConfigDir::new();
    config.target(name, &target_toml(pg, name, ""));
    let env = Arc::new(RecordingEnv::default());
    env.set(&password_var(name), "pw-once");
    let ctx = Arc::new(context_with(Some(config.path()), env.clone()));
    let cell: Arc<FirstUse<DatabaseConnection, Arc<DbError>>> = Arc::new(FirstUse::new());
    let opens = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..24)
        .map(|_| {
            let (cell, ctx, opens) = (cell.clone(), ctx.clone(), opens.clone());
            tokio::spawn(async move {
                let db = cell
                    .get_or_try_init(|| async {
                        opens.fetch_add(1, Ordering::SeqCst);
                        registry::open(name, &ctx).await.map_err(Arc::new)
                    })
                    .await
                    .expect("opens");
                db.provenance().map(|p| p.username.clone())
            })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.unwrap().as_deref(), Some(name));
    }
    assert_eq!(opens.load(Ordering::SeqCst), 1, "one open");
    assert_eq!(env.reads(&password_var(name)), 1, "one resolution");
    assert_eq!(
        backends(pg, name).await.len(),
        1,
        "one pool, holding the one connection that proved it"
    );
    cell.get().unwrap().close().await;
}

/// Waits (bounded) until the server's sessions for `name` are exactly `expected`: a backend
/// whose client closed its socket leaves `pg_stat_activity` a moment later.
async fn until_backends_are(pg: &PgCluster, name: &str, expected: &[i32], what: &str) {
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen = backends(pg, name).await;
        if seen == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{what}: the server has backends {seen:?}, expected {expected:?}");
}

async fn backend_of(conn: &mut sqlx::pool::PoolConnection<sqlx::Postgres>) -> (i32, String) {
    sqlx::query_as("select pg_backend_pid(), current_user::text")
        .fetch_one(&mut **conn)
        .await
        .unwrap()
}

/// A credential swap into a live pool (`install`): idle connections made with the old
/// credential are closed at once, busy ones survive until released and are then closed (never
/// handed out again), and every new connection logs in with the new credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_closes_idle_old_connections_at_once_and_busy_ones_on_release() {
    let Some(pg) = cluster() else { return };
    swap_retires_old_connections(pg, "retire_pids", Leased::Yes).await;
}

/// The same for a credential without a lease (pgpass, env, a file): re-resolution after the
/// server refused a password swaps it exactly like a rotation does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_of_a_credential_without_a_lease_retires_old_connections_too() {
    let Some(pg) = cluster() else { return };
    swap_retires_old_connections(pg, "retire_unleased", Leased::No).await;
}

#[derive(PartialEq)]
enum Leased {
    Yes,
    No,
}

async fn swap_retires_old_connections(pg: &PgCluster, name: &str, leased: Leased) {
    use adapters::database::SqlxTarget;
    use domain::{ConnectionTarget, Credential, SecretString};
    let new_user = format!("{name}_new");
    pg.create_role_and_database(name, "old-pw").await;
    pg.create_role_and_database(&new_user, "new-pw").await;
    let spec = domain::TargetSpec {
        identity: domain::TargetIdentity {
            name: name.into(),
            kind: domain::DbKind::Postgres,
            host: Some("127.0.0.1".into()),
            port: Some(pg.port()),
            database: Some(name.into()),
            user: Some(name.into()),
        },
        path: None,
        options: domain::TargetOptions {
            application_name: Some(format!("counted-{name}")),
            pool: domain::PoolOptions {
                max_connections: Some(10),
                ..Default::default()
            },
            ..Default::default()
        },
    };
    let mut old = Credential::new(None, SecretString::from("old-pw"), "test", "old");
    if leased == Leased::Yes {
        // Like a Vault dynamic user.
        old.lease = Some(domain::Lease {
            id: SecretString::from("lease-old"),
            duration: std::time::Duration::from_secs(3600),
            renewable: false,
        });
    }
    let new = Credential::new(
        Some(new_user.clone()),
        SecretString::from("new-pw"),
        "test",
        "new",
    );
    let target = SqlxTarget::new(spec);
    let db = target.connect(Some(&old)).await.expect("connects");
    let pool = db.as_postgres().unwrap();

    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(pool.acquire().await.unwrap());
    }
    let mut old_pids = Vec::new();
    for conn in &mut held {
        let (pid, user) = backend_of(conn).await;
        assert_eq!(user, name);
        old_pids.push(pid);
    }
    until_backends_are(pg, name, &old_pids, "four old connections").await;
    let mut busy = held.split_off(2);
    for mut idle in held {
        idle.return_to_pool().await;
    }
    assert_eq!((pool.size(), pool.num_idle()), (4, 2));

    target.install(&db, &new).await.expect("installs");
    assert_eq!(
        (pool.size(), pool.num_idle()),
        (2, 0),
        "the idle old connections are closed at once"
    );
    until_backends_are(
        pg,
        name,
        &old_pids[2..],
        "only the busy old connections are left",
    )
    .await;

    let mut fresh = pool.acquire().await.unwrap();
    let (fresh_pid, fresh_user) = backend_of(&mut fresh).await;
    assert_eq!(fresh_user, new_user, "a new connection uses the new user");
    assert!(!old_pids.contains(&fresh_pid));
    fresh.return_to_pool().await;

    let mut second = busy.pop().unwrap();
    second.return_to_pool().await;
    until_backends_are(
        pg,
        name,
        &[old_pids[2], fresh_pid],
        "a busy old connection is closed on release, the other busy one lives on",
    )
    .await;
    let mut first = busy.pop().unwrap();
    first.return_to_pool().await;
    until_backends_are(
        pg,
        name,
        &[fresh_pid],
        "the last old connection is closed on release",
    )
    .await;

    let mut after = Vec::new();
    for _ in 0..3 {
        after.push(pool.acquire().await.unwrap());
    }
    for conn in &mut after {
        let (pid, user) = backend_of(conn).await;
        assert_eq!(user, new_user);
        assert!(
            !old_pids.contains(&pid),
            "old backend {pid} handed out again"
        );
    }
    drop(after);
    db.close().await;
}
