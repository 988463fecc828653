//! `DatabaseConnection`, the standard API, and the compiled connection modules.

mod connection;
pub mod connections;
mod first_use;
pub mod lease;
mod module;
mod prefix;
mod scope;

pub use connection::{Backend, DatabaseConnection, Provenance};
pub use first_use::FirstUse;
pub use scope::{Tx, scope};
