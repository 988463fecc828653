//! Credential sources: implementations of `domain::CredentialSource`.
//!
//! Each module's doc comment is its contract: where it looks, what counts as a match, and which
//! problems are hard errors (stop the chain) rather than "not here".

pub mod env;
pub mod file;
pub mod keyring;
#[cfg(any(test, feature = "test-util"))]
pub mod mock;
pub mod mycnf;
pub mod pgpass;
pub mod vault;

pub use env::EnvSource;
pub use file::FileSource;
pub use keyring::KeyringSource;
#[cfg(any(test, feature = "test-util"))]
pub use mock::{MockAnswer, MockSource};
pub use mycnf::MyCnfSource;
pub use pgpass::PgpassSource;
pub use vault::VaultSource;
