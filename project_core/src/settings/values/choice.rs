//! Settings that are one word of a fixed vocabulary (an enum).

use adapters::credentials::keyring::StoreChoice;
use config::ValueKind;
use domain::{DbKind, LoadBalance, SessionAttrs, SslMode};

use super::setting::{Raw, SettingValue, describe_text};

/// An enum a setting spells as one word: the same text in the file and the environment.
pub trait Vocabulary: Copy + Sized + 'static {
    /// The allowed spellings, for messages.
    const ALLOWED: &'static str;
    /// The value `word` (already trimmed) spells, if any.
    fn from_word(word: &str) -> Option<Self>;
    /// The canonical spelling.
    fn word(self) -> &'static str;
}

/// A setting that is one word of `T`'s vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice<T>(pub T);

/// The database kind.
pub type Kind = Choice<DbKind>;
/// libpq's sslmode.
pub type Ssl = Choice<SslMode>;
/// Which keyring store a target uses.
pub type Store = Choice<StoreChoice>;
/// libpq's `target_session_attrs`.
pub type SessionAttrsChoice = Choice<SessionAttrs>;
/// libpq's `load_balance_hosts`.
pub type Balance = Choice<LoadBalance>;

impl<T: Vocabulary> SettingValue for Choice<T> {
    fn allowed() -> String {
        format!("one of {}", T::ALLOWED)
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        Self::from_env(&raw.text()?)
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        T::from_word(raw.trim())
            .map(Choice)
            .ok_or_else(|| format!("got {}", describe_text(raw)))
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::String(self.0.word().into())
    }
}

impl<'de, T: Vocabulary> serde::Deserialize<'de> for Choice<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::setting::deserialize_setting(d)
    }
}

impl<T: Vocabulary> serde::Serialize for Choice<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        super::setting::serialize_kind(&self.canonical(), s)
    }
}

impl Vocabulary for DbKind {
    const ALLOWED: &'static str = "postgres, mysql, sqlite";
    fn from_word(word: &str) -> Option<Self> {
        word.parse().ok()
    }
    fn word(self) -> &'static str {
        self.as_str()
    }
}

impl Vocabulary for SslMode {
    const ALLOWED: &'static str = SslMode::ALLOWED;
    /// libpq's spellings, and the MySQL client's (`VERIFY_IDENTITY` …), which a MySQL
    /// target's option file uses and a MySQL user may write.
    fn from_word(word: &str) -> Option<Self> {
        word.parse().ok().or_else(|| SslMode::from_mysql(word))
    }
    fn word(self) -> &'static str {
        self.as_str()
    }
}

impl Vocabulary for SessionAttrs {
    const ALLOWED: &'static str = SessionAttrs::ALLOWED;
    fn from_word(word: &str) -> Option<Self> {
        word.parse().ok()
    }
    fn word(self) -> &'static str {
        self.as_str()
    }
}

impl Vocabulary for LoadBalance {
    const ALLOWED: &'static str = LoadBalance::ALLOWED;
    fn from_word(word: &str) -> Option<Self> {
        word.parse().ok()
    }
    fn word(self) -> &'static str {
        self.as_str()
    }
}

impl Vocabulary for StoreChoice {
    const ALLOWED: &'static str = StoreChoice::ALLOWED;
    fn from_word(word: &str) -> Option<Self> {
        StoreChoice::parse(word)
    }
    fn word(self) -> &'static str {
        self.as_str()
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

impl Vocabulary for VaultAuthMethod {
    const ALLOWED: &'static str = "token, approle, kubernetes, jwt";
    fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "token" => VaultAuthMethod::Token,
            "approle" => VaultAuthMethod::AppRole,
            "kubernetes" => VaultAuthMethod::Kubernetes,
            "jwt" => VaultAuthMethod::Jwt,
            _ => return None,
        })
    }
    fn word(self) -> &'static str {
        match self {
            VaultAuthMethod::Token => "token",
            VaultAuthMethod::AppRole => "approle",
            VaultAuthMethod::Kubernetes => "kubernetes",
            VaultAuthMethod::Jwt => "jwt",
        }
    }
}

/// The KV secrets engine's version (`vault.kv.version`): 1 or 2, as an integer or a string.
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

super::setting::setting_serde!(KvVersion);
