//! Laptop: PostgreSQL on this machine; password from the environment, the OS keyring or
//! `~/.pgpass`, in that order.

crate::connection_module! {
    name: "laptop",
    kind: Postgres,
    host: "127.0.0.1",
    port: 5432,
    database: "project",
    sources: [Env, Keyring, Pgpass],
    env_prefix: "PROJECT_DB",
    about: "PostgreSQL on this machine; password from PROJECT_DB_PASSWORD, the OS keyring or ~/.pgpass",
}
