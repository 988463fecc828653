use std::path::PathBuf;

/// Where settings are wrong; every message names the file or variable, the key, and what is
/// allowed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    File {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{var}: {message}")]
    Env { var: String, message: String },
    /// The target file could not be read: missing permissions, a FIFO, over its size cap.
    #[error(transparent)]
    Unreadable(#[from] adapters::fs::FileError),
    #[error("target `{target}`: {message}")]
    Target { target: String, message: String },
    #[error("invalid target name: {0}")]
    Name(#[from] domain::InvalidTargetName),
    #[error(transparent)]
    ConfigDir(#[from] crate::config_dir::ConfigDirError),
    /// A layer's checked value that `config` would not take: a bug, not a user's mistake.
    #[error("the settings layers could not be merged (a bug in dbcore): {0}")]
    Merge(String),
}
