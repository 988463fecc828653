//! The type of every setting, parsed once where it is read (`setting.rs`: the trait and the
//! serde glue written once; one file per family of types).

mod choice;
mod hosts;
mod scalar;
mod setting;
mod text;

pub use choice::{
    Balance, Choice, Kind, KvVersion, SessionAttrsChoice, Ssl, Store, VaultAuthMethod, Vocabulary,
};
pub use hosts::{Hosts, Ports};
pub use scalar::{Flag, Integer, PoolSize, Port, TimeSpan};
pub(crate) use setting::describe_text;
pub use setting::{MAX_DURATION, MAX_POOL_SIZE};
pub(super) use setting::{SettingValue, refusal};
pub use text::{FilePath, Host, Names, RootCertSetting, SourceKind, Sources, Text};

#[cfg(test)]
mod tests;
