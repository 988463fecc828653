//! Test harnesses for dbcore's integration tests: throwaway servers and the tools' binaries.
//!
//! Design decision: a server-backed test never passes silently without its server. When
//! `DBCORE_REQUIRE_SERVERS=1` (set by `scripts/test`) a server that cannot be started fails
//! the test; otherwise the test writes a `SKIP` line past libtest's output capture and
//! returns. Every server listens on 127.0.0.1 (and a private socket directory) on a port picked
//! free, and is stopped by a watchdog that outlives the test process, so it stops even when a test panics or aborts.
#![allow(
    clippy::print_stderr,
    reason = "harness messages go to the test's stderr"
)]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test support: a failed set-up step stops the test with its message"
)]

pub mod bin;
pub mod certs;
pub mod mariadb;
pub mod pg;
pub mod pg_pair;
pub mod servers;
pub mod vault;
