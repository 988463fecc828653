//! Settings written as text or lists of text.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use config::ValueKind;

use super::setting::{Raw, SettingValue, describe_text};

macro_rules! text_setting {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub $inner);
    };
}

text_setting!(
    /// Any string, as written.
    Text(String)
);
text_setting!(
    /// A host name, an IP address or a Unix-socket directory (starting with `/`).
    Host(String)
);
text_setting!(
    /// A file path.
    FilePath(PathBuf)
);
text_setting!(
    /// `sslrootcert`: a CA file, or `system` for the system's trust store (libpq 16).
    RootCertSetting(domain::RootCert)
);
text_setting!(
    /// A list of names (`search_path`, `schemas`).
    Names(Vec<String>)
);
text_setting!(
    /// The credential sources a target tries, in order.
    Sources(Vec<SourceKind>)
);

impl SettingValue for Text {
    fn allowed() -> String {
        "a string".into()
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        raw.text().map(Text)
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        Ok(Text(raw.to_owned()))
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::String(self.0.clone())
    }
}

impl SettingValue for Host {
    fn allowed() -> String {
        "a host name, an IP address or a socket directory starting with /, \
         without `@`, spaces or control characters"
            .into()
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        Self::from_env(&raw.text()?)
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        // `@` never belongs in a host (it is where userinfo ends, `app:pw@db`), nor do control
        // characters; spaces only in a socket directory.
        let socket = raw.starts_with('/');
        let bad = raw
            .char_indices()
            .find(|(_, c)| *c == '@' || c.is_control() || (!socket && c.is_whitespace()));
        match bad {
            Some((at, c)) => Err(format!(
                "got {} with {} at position {}",
                describe_text(raw),
                match c {
                    '@' => "`@`",
                    c if c.is_whitespace() => "a space",
                    _ => "a control character",
                },
                raw[..at].chars().count() + 1
            )),
            None => Ok(Host(raw.to_owned())),
        }
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::String(self.0.clone())
    }
}

impl SettingValue for FilePath {
    fn allowed() -> String {
        "a file path".into()
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        raw.text().map(|t| FilePath(t.into()))
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        Ok(FilePath(raw.into()))
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::String(self.0.display().to_string())
    }
}

impl RootCertSetting {
    fn parse(text: &str) -> Self {
        // libpq: the magic word wins over a file of that name (`./system` names the file).
        if text == "system" {
            RootCertSetting(domain::RootCert::System)
        } else {
            RootCertSetting(domain::RootCert::File(text.into()))
        }
    }
}

impl SettingValue for RootCertSetting {
    fn allowed() -> String {
        "a CA certificate file (PEM), or `system` for the system's trusted roots".into()
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        raw.text().map(|t| Self::parse(&t))
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        Ok(Self::parse(raw))
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::String(match &self.0 {
            domain::RootCert::System => "system".to_owned(),
            domain::RootCert::File(path) => path.display().to_string(),
        })
    }
}

fn list_canonical<'a>(items: impl Iterator<Item = &'a str>) -> ValueKind {
    ValueKind::Array(
        items
            .map(|s| config::Value::new(None, ValueKind::String(s.to_owned())))
            .collect(),
    )
}

/// Comma-separated items of an environment variable, blanks dropped.
fn env_items(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty())
}

impl SettingValue for Names {
    fn allowed() -> String {
        "a list of strings (comma-separated in the environment)".into()
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        raw.strings().map(Names)
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        Ok(Names(env_items(raw).map(str::to_owned).collect()))
    }
    fn canonical(&self) -> ValueKind {
        list_canonical(self.0.iter().map(String::as_str))
    }
}

impl Sources {
    fn parse<S: AsRef<str>>(names: impl Iterator<Item = S>) -> Result<Self, String> {
        let mut sources = Vec::new();
        for (i, name) in names.enumerate() {
            let name = name.as_ref();
            // Item numbers, not the text: a secret pasted into the list must not be echoed.
            let source: SourceKind = name
                .parse()
                .map_err(|_| format!("item {} ({}) is not a source", i + 1, describe_text(name)))?;
            if sources.contains(&source) {
                return Err(format!("source `{source}` is listed twice"));
            }
            sources.push(source);
        }
        Ok(Sources(sources))
    }
}

impl SettingValue for Sources {
    fn allowed() -> String {
        format!(
            "a list of sources (comma-separated in the environment) from: {}",
            SourceKind::ALL_NAMES
        )
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        Self::parse(raw.strings()?.iter())
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        Self::parse(env_items(raw))
    }
    fn canonical(&self) -> ValueKind {
        list_canonical(self.0.iter().map(|s| s.as_str()))
    }
}

/// A credential source a target may name in `sources = [...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Env,
    Pgpass,
    MyCnf,
    File,
    Keyring,
    Vault,
}

impl SourceKind {
    pub const ALL: [SourceKind; 6] = [
        SourceKind::Env,
        SourceKind::Pgpass,
        SourceKind::MyCnf,
        SourceKind::File,
        SourceKind::Keyring,
        SourceKind::Vault,
    ];
    pub const ALL_NAMES: &'static str = "env, pgpass, mycnf, file, keyring, vault";

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Env => "env",
            SourceKind::Pgpass => "pgpass",
            SourceKind::MyCnf => "mycnf",
            SourceKind::File => "file",
            SourceKind::Keyring => "keyring",
            SourceKind::Vault => "vault",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        SourceKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

super::setting::setting_serde!(Text, Host, FilePath, RootCertSetting, Names, Sources);
