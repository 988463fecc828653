//! The domain of dbcore: ports, value types and the credential chain.
//!
//! Design decision: a credential is resolved by an ordered chain of *sources*, each of which
//! answers one of three ways — found, not here (with a reason), or a hard error that stops the
//! chain — the way aws-config's provider chain works. Everything an operator needs to know about
//! how a password was chosen is recorded in a [`Resolution`], which can be printed without ever
//! holding or showing the password itself. This crate does no I/O: sources, databases and the
//! process environment are reached through the ports defined here and implemented in `adapters`.

mod chain;
mod chain_hosts;
mod credential;
mod env;
mod error;
mod hosts;
mod identity;
mod kind;
pub mod metadata;
mod name;
pub mod redact;
mod source;
mod sslmode;
mod target;
mod tls;

pub use chain::{Attempt, CredentialChain, HostAnswer, Outcome, Resolution};
pub use credential::{Credential, HostSecret, Lease};
pub use env::{Env, MapEnv};
pub use error::{ConnectError, ConnectErrorKind, SourceError};
pub use hosts::{Endpoint, LoadBalance, SessionAttrs, SessionFacts};
pub use identity::{PoolOptions, TargetIdentity, TargetOptions, TargetSpec};
pub use kind::{DbKind, UnknownKind};
pub use metadata::Metadata;
pub use name::{InvalidTargetName, MAX_TARGET_NAME_LEN, TargetName};
pub use source::{CredentialSource, Lookup, Renewal};
pub use sslmode::{SslMode, UnknownSslMode};
pub use target::{ConnectionTarget, ServerInfo};
pub use tls::{RootCert, TlsFiles};

/// Re-exported so that every crate names the same secret type.
pub use secrecy::{ExposeSecret, SecretString};
