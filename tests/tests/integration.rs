//! dbcore's integration tests: one binary, real SQLite files and a throwaway PostgreSQL.
//! Server-backed tests skip visibly without their server, and fail under `scripts/test`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "tests and their helpers stop at the first failed step, with its message"
)]

mod integration {
    mod admin_sqlite;
    mod config_dir;
    mod counted;
    mod exec;
    mod explain_sources;
    mod failover;
    mod file_rotation;
    mod harness;
    mod hostile;
    mod ingest;
    mod keyring;
    mod leak;
    mod metadata;
    mod multi_host;
    mod mysql_scope;
    mod mysql_tls;
    mod pgpass_libpq;
    mod postgres;
    mod proxy;
    mod proxy_tls;
    mod retry;
    mod service_libpq;
    mod standard_api;
    mod tls_verified;
    mod vault;
    mod viewer;
    mod viewer_limits;
    mod viewer_pages;
}
