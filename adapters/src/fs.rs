//! Small file helpers shared by the file-based credential sources.

use std::path::{Path, PathBuf};

use domain::Env;

/// Expands a leading `~/` with the environment's home directory, as shells and the original
/// pattern's `PROJECT_DB_PGPASS=~/.pgpass` expect.
pub(crate) fn expand_home(path: &str, env: &dyn Env) -> PathBuf {
    match (path.strip_prefix("~/"), env.home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// The permission bits of a file, for warnings (`0644`).
#[cfg(unix)]
pub(crate) fn mode_of(metadata: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
pub(crate) fn mode_of(_: &std::fs::Metadata) -> u32 {
    0o600
}

/// What `stat` said about a credential file.
pub(crate) enum Stat {
    Missing,
    File(std::fs::Metadata),
}

/// `stat` (following symlinks, as libpq and MySQL do); a missing file is not an error.
pub(crate) fn stat(path: &Path) -> Result<Stat, domain::SourceError> {
    match std::fs::metadata(path) {
        Ok(metadata) => Ok(Stat::File(metadata)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stat::Missing),
        Err(source) => Err(domain::SourceError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, domain::SourceError> {
    std::fs::read(path).map_err(|source| domain::SourceError::Read {
        path: path.to_owned(),
        source,
    })
}
