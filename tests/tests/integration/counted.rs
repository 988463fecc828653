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
