//! `DatabaseConnection`, the standard API, and the compiled connection modules.

mod connection;
pub mod connections;
mod first_use;
pub mod lease;
mod module;

pub use connection::{Backend, DatabaseConnection, Provenance, Tx, scope};
pub use first_use::FirstUse;
