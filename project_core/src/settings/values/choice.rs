//! Settings that are one of a fixed set of words.

use adapters::credentials::keyring::StoreChoice;
use config::ValueKind;
use domain::{DbKind, SslMode};

use super::setting::{Raw, SettingValue, describe_text, parsed};

/// The database kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind(pub DbKind);

impl SettingValue for Kind {
    fn allowed() -> String {
        "one of postgres, mysql, sqlite".into()
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        Self::from_env(&raw.text()?)
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        parsed(raw).map(Kind)
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::String(self.0.as_str().into())
    }
}

/// libpq's sslmode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ssl(pub SslMode);

impl SettingValue for Ssl {
    fn allowed() -> String {
        format!("one of {}", SslMode::ALLOWED)
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        Self::from_env(&raw.text()?)
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        parsed(raw).map(Ssl)
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::String(self.0.as_str().into())
    }
}

/// Which keyring store a target uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Store(pub StoreChoice);

impl SettingValue for Store {
    fn allowed() -> String {
        format!("one of {}", StoreChoice::ALLOWED)
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        Self::from_env(&raw.text()?)
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        StoreChoice::parse(raw.trim())
            .map(Store)
            .ok_or_else(|| format!("got {}", describe_text(raw)))
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::String(self.0.as_str().into())
    }
}

/// How the Vault source logs in (`vault.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultAuthMethod {
    Token,
    AppRole,
    Kubernetes,
    Jwt,
}

impl VaultAuthMethod {
    const ALL: [VaultAuthMethod; 4] = [
        VaultAuthMethod::Token,
        VaultAuthMethod::AppRole,
        VaultAuthMethod::Kubernetes,
        VaultAuthMethod::Jwt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VaultAuthMethod::Token => "token",
            VaultAuthMethod::AppRole => "approle",
            VaultAuthMethod::Kubernetes => "kubernetes",
            VaultAuthMethod::Jwt => "jwt",
        }
    }
}

impl SettingValue for VaultAuthMethod {
    fn allowed() -> String {
        "one of token, approle, kubernetes, jwt".into()
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        Self::from_env(&raw.text()?)
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        let wanted = raw.trim();
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == wanted)
            .ok_or_else(|| format!("got {}", describe_text(raw)))
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::String(self.as_str().into())
    }
}

/// The KV secrets engine's version (`vault.kv.version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvVersion {
    V1,
    V2,
}

impl KvVersion {
    pub fn number(self) -> u8 {
        match self {
            KvVersion::V1 => 1,
            KvVersion::V2 => 2,
        }
    }
}

impl SettingValue for KvVersion {
    fn allowed() -> String {
        "1 or 2".into()
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        match raw {
            Raw::Integer(n) => Self::from_env(&n.to_string()),
            Raw::Text(text) => Self::from_env(&text),
            other => Err(other.got()),
        }
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "1" => Ok(KvVersion::V1),
            "2" => Ok(KvVersion::V2),
            _ => Err(format!("got {}", describe_text(raw))),
        }
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::I64(self.number().into())
    }
}

super::setting::setting_serde!(Kind, Ssl, Store, VaultAuthMethod, KvVersion);
