//! `DatabaseConnection`, the standard API, the compiled connection modules, and `on_pool!`
//! (one body for whichever kind a connection is).

mod backend;
mod connection;
pub mod connections;
mod dispatch;
mod first_use;
mod handout;
pub mod lease;
mod module;
mod open;
mod prefix;
pub mod retry;
mod schema;
mod scope;

pub use adapters::database::Transience;
pub use backend::Backend;
pub use connection::DatabaseConnection;
pub use first_use::FirstUse;
pub use handout::CredentialFeed;
pub use open::Provenance;
pub(crate) use open::resolve_all;
pub use retry::{RetryObserver, RetryPolicy, Retryable, ScopeAttempt};
pub use scope::{Tx, scope};
