//! The one way dbcore reads a file that holds a secret, settings or a cache.
//!
//! Design decision: every such file is opened without blocking (`O_NONBLOCK`, so opening a FIFO
//! returns at once instead of waiting for a writer), then checked **on the opened descriptor**
//! (`fstat`, so there is no window between a check and the open in which the path could be
//! swapped), and read up to a size cap that depends on what the file is for. A FIFO, a device,
//! a directory or a file over its cap is refused with a message that says what was found
//! instead (`is a FIFO`, `is 600 MiB, over the 1 MiB limit for a password file`). Symbolic links
//! are followed: Kubernetes secret volumes and Vault Agent templates are links by design.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use domain::Env;

/// What a file is for, which decides its size cap and how errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKind {
    /// "a password file", "a settings file"…, for messages.
    pub what: &'static str,
    /// The largest size read, in bytes.
    pub limit: u64,
}

const MIB: u64 = 1024 * 1024;

impl FileKind {
    /// A file holding one secret (password file, Vault token, AppRole secret id, JWT). 1 MiB is
    /// the size limit of a whole Kubernetes Secret, the largest thing these files are made from.
    pub const SECRET: FileKind = FileKind {
        what: "a password file",
        limit: MIB,
    };
    /// A target file (`targets/<name>.toml`). Hand-written settings are a few hundred bytes;
    /// 1 MiB leaves room for comments while refusing anything that is not settings.
    pub const SETTINGS: FileKind = FileKind {
        what: "a settings file",
        limit: MIB,
    };
    /// A MySQL option file: settings plus comments, written by hand or by a tool.
    pub const OPTION_FILE: FileKind = FileKind {
        what: "an option file",
        limit: 16 * MIB,
    };
    /// The metadata cache: measured at about 2 KiB per table, so 256 MiB holds schemas two
    /// orders of magnitude larger than the 1,000-table benchmark.
    pub const METADATA_CACHE: FileKind = FileKind {
        what: "a metadata cache",
        limit: 256 * MIB,
    };
}

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}: it is {found}, not a regular file", path.display())]
    NotRegular { path: PathBuf, found: &'static str },
    #[error("cannot read {}: it is {}, over the {} limit for {what}", path.display(), human(*size), human(*limit))]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
        what: &'static str,
    },
}

impl FileError {
    pub fn path(&self) -> &Path {
        match self {
            FileError::Io { path, .. }
            | FileError::NotRegular { path, .. }
            | FileError::TooLarge { path, .. } => path,
        }
    }
}

impl From<FileError> for domain::SourceError {
    fn from(error: FileError) -> Self {
        match error {
            FileError::Io { path, source } => domain::SourceError::Read { path, source },
            other => domain::SourceError::File(Box::new(other)),
        }
    }
}

/// `1 MiB`, `600 MiB`, `12 bytes`: sizes as people read them.
fn human(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) || bytes >= 10 * MIB {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// What a non-regular file is, in words.
fn describe(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading without blocking and checks, on the descriptor, that it is a
/// regular file no larger than `kind` allows. `Ok(None)` when it does not exist.
pub fn open_regular(path: &Path, kind: FileKind) -> Result<Option<(File, u64)>, FileError> {
    let io = |source| FileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let metadata = file.metadata().map_err(io)?;
    if !metadata.is_file() {
        return Err(FileError::NotRegular {
            path: path.to_owned(),
            found: describe(metadata.file_type()),
        });
    }
    if metadata.len() > kind.limit {
        return Err(FileError::TooLarge {
            path: path.to_owned(),
            size: metadata.len(),
            limit: kind.limit,
            what: kind.what,
        });
    }
    Ok(Some((file, metadata.len())))
}

/// Reads a whole regular file under its cap; `Ok(None)` when it does not exist. A file that
/// grows past the cap while being read is refused as well.
pub fn read_regular(path: &Path, kind: FileKind) -> Result<Option<Vec<u8>>, FileError> {
    let Some((file, len)) = open_regular(path, kind)? else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(kind.limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| FileError::Io {
            path: path.to_owned(),
            source,
        })?;
    let read = bytes.len() as u64;
    if read > kind.limit {
        return Err(FileError::TooLarge {
            path: path.to_owned(),
            size: read,
            limit: kind.limit,
            what: kind.what,
        });
    }
    Ok(Some(bytes))
}

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TINY: FileKind = FileKind {
        what: "a test file",
        limit: 8,
    };

    #[test]
    fn a_fifo_is_refused_at_once_instead_of_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pw");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let error = read_regular(&fifo, FileKind::SECRET).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "cannot read {}: it is a FIFO, not a regular file",
                fifo.display()
            )
        );
    }

    #[test]
    fn dev_zero_and_directories_are_refused_by_what_they_are() {
        let error = read_regular(Path::new("/dev/zero"), FileKind::SECRET).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("it is a character device, not a regular file"),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        let error = read_regular(dir.path(), FileKind::SECRET).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("it is a directory, not a regular file")
        );
    }

    #[test]
    fn a_file_over_its_cap_is_refused_with_both_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, "123456789").unwrap();
        let error = read_regular(&path, TINY).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("it is 9 bytes, over the 8 bytes limit for a test file"),
            "{error}"
        );
        std::fs::write(&path, "12345678").unwrap();
        assert_eq!(read_regular(&path, TINY).unwrap().unwrap(), b"12345678");
    }

    #[test]
    fn a_missing_file_is_none_and_a_symlink_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read_regular(&dir.path().join("nope"), TINY)
                .unwrap()
                .is_none()
        );
        std::fs::write(dir.path().join("real"), "pw").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
        assert_eq!(
            read_regular(&dir.path().join("link"), TINY)
                .unwrap()
                .unwrap(),
            b"pw"
        );
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(human(12), "12 bytes");
        assert_eq!(human(64 * 1024), "64 KiB");
        assert_eq!(human(MIB), "1 MiB");
        assert_eq!(human(600 * MIB + 5), "600 MiB");
    }

    #[test]
    fn file_errors_become_source_errors_that_name_the_path() {
        let error: domain::SourceError = FileError::NotRegular {
            path: PathBuf::from("/run/pw"),
            found: "a FIFO",
        }
        .into();
        assert_eq!(
            error.to_string(),
            "cannot read /run/pw: it is a FIFO, not a regular file"
        );
    }
}
