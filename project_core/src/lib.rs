//! The project layer: layered settings, chain assembly, and one connection module per target.
//!
//! Design decision: apps never see a URL or a secret. Each target is a *connection module*
//! (`db::connections::laptop`) with code defaults, overridable by a TOML file and then by
//! environment variables with the target's own prefix; its credential comes from an ordered
//! chain of sources assembled in exactly one place ([`chain`]). The module exposes the
//! original pattern's standard API — `db`, `pool` (the engine), `session`, `session_scope` —
//! and several targets can be open in one process at once.
//!
//! ```no_run
//! use project_core::db::connections::laptop;
//!
//! # async fn example() -> anyhow::Result<()> {
//! let count: i64 = sqlx::query_scalar("select count(*) from items")
//!     .fetch_one(laptop::pool().await?)
//!     .await?;
//! laptop::session_scope(async |tx| {
//!     sqlx::query("insert into items(name) values ('a')").execute(&mut **tx).await?;
//!     tx.scope(async |_savepoint| Ok::<_, anyhow::Error>(())).await?;
//!     Ok::<_, anyhow::Error>(())
//! })
//! .await?;
//! # let _ = count;
//! laptop::close().await;
//! # Ok(())
//! # }
//! ```

pub mod chain;
pub mod config_dir;
pub mod context;
pub mod db;
mod error;
pub mod health;
pub mod metadata;
pub mod registry;
pub mod secrets;
pub mod settings;

pub use context::{Context, configure, context};
pub use error::{DbError, one_line};
pub use registry::context_with;

/// Re-exported for apps: the port types they see in results.
pub use domain::{Attempt, ConnectError, ConnectErrorKind, DbKind, Metadata, Outcome, ServerInfo};

/// A target's TLS trust and client certificate as libpq reads them, for the service side
/// (`dbcore proxy`) to check the server exactly as the library's connections do.
pub use adapters::tls;

/// The reflected-schema model, for apps that read `metadata()`.
pub use domain::metadata as metadata_model;

#[doc(hidden)]
pub mod __private {
    pub use adapters::database::DbPool;
    pub use domain::DbKind;
    pub use sqlx;
}
