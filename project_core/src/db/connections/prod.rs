//! Production: PostgreSQL behind Vault dynamic credentials, the environment as fallback. The
//! Vault settings (address, auth, `database = { mount, role }`) come from
//! `config/targets/prod.toml`; without them `dbcore explain prod` says what is missing.

crate::connection_module! {
    name: "prod",
    kind: Postgres,
    host: "db.internal",
    port: 5432,
    user: "app",
    database: "project",
    sources: [Vault, Env],
    env_prefix: "PROJECT_PROD_DB",
    about: "production PostgreSQL; credentials from Vault, then PROJECT_PROD_DB_PASSWORD",
}
