//! A PostgreSQL primary with a streaming standby, for multi-host and failover tests: the
//! standby is made with `pg_basebackup -R` and replicates synchronously (`remote_apply`), so
//! a commit the primary acknowledged is already visible on the standby.
//!
//! [`pair`] is shared by the tests that only read from it; a test that stops, crashes or
//! promotes a server makes its own with [`PgPair::start`]. The watchdog of each cluster stops
//! it when the test process ends, whatever the test did.

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::pg::PgCluster;
use crate::servers::unavailable;

/// A primary and its synchronous streaming standby.
#[derive(Debug)]
pub struct PgPair {
    pub primary: PgCluster,
    pub standby: PgCluster,
}

static SHARED: OnceLock<Result<PgPair, String>> = OnceLock::new();

/// The pair shared by this test process (never stopped or promoted by a test); `None` after
/// a visible skip when PostgreSQL is not installed and servers are not required.
pub fn pair() -> Option<&'static PgPair> {
    match SHARED.get_or_init(PgPair::start) {
        Ok(pair) => Some(pair),
        Err(why) => unavailable("PostgreSQL primary and standby", why),
    }
}

/// A pair of this test's own, to stop and promote.
pub fn own_pair() -> Option<PgPair> {
    match PgPair::start() {
        Ok(pair) => Some(pair),
        Err(why) => unavailable("PostgreSQL primary and standby", &why),
    }
}

impl PgPair {
    pub fn start() -> Result<Self, String> {
        let primary = PgCluster::start_primary()?;
        let standby = PgCluster::start_standby_of(&primary)?;
        // Synchronous from now on: every commit waits until the standby has applied it.
        // One statement per call: psql runs a -c of several as one transaction, where
        // ALTER SYSTEM may not run.
        for statement in [
            "alter system set synchronous_standby_names = '*'",
            "alter system set synchronous_commit = 'remote_apply'",
            "select pg_reload_conf()",
        ] {
            psql(&primary, statement)?;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = psql(
                &primary,
                "select count(*) from pg_stat_replication where state = 'streaming' and sync_state = 'sync'",
            )?;
            if state.trim() == "1" {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the standby is not a synchronous streaming replica after 30 s (pg_stat_replication: {})",
                    psql(
                        &primary,
                        "select state, sync_state from pg_stat_replication"
                    )?
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Self { primary, standby })
    }
}

/// Runs SQL as the superuser with psql over TCP, returning unaligned tuples.
pub fn psql(cluster: &PgCluster, sql: &str) -> Result<String, String> {
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres password={}",
        cluster.port(),
        cluster.superuser_password()
    );
    let output = Command::new(cluster.bin("psql"))
        .args([
            "-X",
            "-q",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &conninfo,
            "-c",
            sql,
        ])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
