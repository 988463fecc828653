//! Adapters: every outside system dbcore talks to, one module each.
//!
//! Design decision: the only crate that imports sqlx (and reqwest, for Vault, and keyring) is this
//! one, and every adapter implements a port from `domain`. Credential sources read files and
//! variables through the `Env` port so that tests can run in parallel with their own
//! environment, and the database side always passes the password explicitly so that sqlx can
//! never pick one up from `~/.pgpass` or `PGPASSWORD` behind the chain's back.

pub mod credentials;
pub mod database;
mod env;
pub mod fs;
pub mod service_file;
pub mod tls;

pub use env::ProcessEnv;
