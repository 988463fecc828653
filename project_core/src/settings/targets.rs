//! Where targets come from: compiled modules' code defaults and the files of `targets/`.

use std::path::{Path, PathBuf};

use domain::{DbKind, TargetName};

use super::error::SettingsError;
use super::fields::TargetSettings;
use super::values::{Choice, FilePath, Host, Hosts, Integer, Ports, SourceKind, Sources, Text};

/// Where a compiled connection module's SQLite file lives by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultPath {
    /// A file name inside the user data directory (`~/.local/share/dbcore/` on Linux).
    UserData(&'static str),
}

/// The code defaults of a connection module (dm-dbcore's `_DEFAULT_DB_CONFIG`).
#[derive(Debug, Clone, Copy)]
pub struct TargetDefaults {
    pub name: &'static str,
    pub kind: DbKind,
    pub host: Option<&'static str>,
    pub port: Option<u16>,
    pub user: Option<&'static str>,
    pub database: Option<&'static str>,
    pub path: Option<DefaultPath>,
    pub sources: &'static [SourceKind],
    pub env_prefix: &'static str,
    /// One line saying what the target is, for `dbcore targets`.
    pub about: &'static str,
}

impl TargetDefaults {
    /// The defaults as settings, the lowest layer.
    pub(super) fn settings(&self) -> TargetSettings {
        let text = |s: Option<&str>| s.map(|s| Text(s.to_owned()));
        TargetSettings {
            kind: Some(Choice(self.kind)),
            host: self.host.map(|h| Hosts(vec![Host(h.to_owned())])),
            // A port of 0 in code would be refused from a file; here it means "unset".
            port: self
                .port
                .filter(|p| *p > 0)
                .map(|p| Ports(vec![Integer(p.into())])),
            user: text(self.user),
            database: text(self.database),
            path: self.path.map(|DefaultPath::UserData(file)| {
                let dir = dirs::data_dir().unwrap_or_else(|| PathBuf::from("."));
                FilePath(dir.join("dbcore").join(file))
            }),
            sources: Some(Sources(self.sources.to_vec())),
            env_prefix: Some(Text(self.env_prefix.to_owned())),
            ..TargetSettings::default()
        }
    }
}

/// The default environment prefix of a file-only target: `PROJECT_DB_<NAME>`, so that two
/// targets open in one process never read each other's variables.
pub fn default_prefix_for(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("PROJECT_DB_{upper}")
}

/// The target file for `name` in `config_dir`. Only a validated name is ever joined into a
/// path, so no name can leave `targets/`.
pub fn target_file(config_dir: &Path, name: &TargetName) -> PathBuf {
    config_dir.join("targets").join(format!("{name}.toml"))
}

/// Names of the targets defined by files in `<config_dir>/targets/`.
pub fn file_targets(config_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(config_dir.join("targets")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let path = e.path();
            (path.extension().is_some_and(|x| x == "toml"))
                .then(|| path.file_stem()?.to_str().map(str::to_owned))
                .flatten()
                // A file whose stem is not a valid name could never be opened: not listed.
                .filter(|name| TargetName::parse(name).is_ok())
        })
        .collect();
    names.sort();
    names
}

/// A name that is neither a compiled module nor a file.
pub(super) fn no_such_target(name: &TargetName, config_dir: Option<&Path>) -> SettingsError {
    SettingsError::Target {
        target: name.to_string(),
        message: match config_dir {
            Some(dir) => format!(
                "no such target: it is not a compiled connection module and {} does not exist",
                target_file(dir, name).display()
            ),
            None => "no such target: it is not a compiled connection module and there is no \
                     config directory"
                .into(),
        },
    }
}
