//! The private directory a child's client library reads its password from: 0700, under
//! `$XDG_RUNTIME_DIR` (a per-user tmpfs that the login session clears) or else the temp
//! directory, removed when it is dropped. Its files are replaced atomically, so a client that
//! opens one while a rotation writes it reads the old credential or the new one, never half
//! of either.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use tempfile::TempDir;

#[derive(Debug)]
pub struct PrivateDir {
    dir: TempDir,
}

impl PrivateDir {
    /// Creates the (empty) directory.
    pub fn create() -> Result<Self> {
        let base = base_dir();
        let dir = tempfile::Builder::new()
            .prefix("dbcore-exec-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&base)
            .with_context(|| format!("cannot create a private directory in {}", base.display()))?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where the file `name` is (or will be).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to a new 0600 file beside `name` and renames it over it.
    pub fn write(&self, name: &str, contents: &str) -> Result<()> {
        let path = self.path(name);
        let write = || -> std::io::Result<()> {
            // tempfile creates it 0600 with O_EXCL: never a file someone else put there.
            let mut next = tempfile::Builder::new()
                .prefix(".next-")
                .tempfile_in(self.dir.path())?;
            next.write_all(contents.as_bytes())?;
            next.as_file().sync_all()?;
            next.persist(&path).map_err(|e| e.error)?;
            Ok(())
        };
        write().with_context(|| format!("cannot write {}", path.display()))
    }

    /// Removes the directory now (also done on drop), saying so if it cannot.
    pub fn remove(self) {
        let shown = self.dir.path().display().to_string();
        if let Err(error) = self.dir.close() {
            tracing::warn!(dir = %shown, %error, "could not remove the private directory");
        }
    }
}

/// `$XDG_RUNTIME_DIR` when it is an absolute directory that only we can enter, else the
/// temp directory.
fn base_dir() -> PathBuf {
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && runtime.is_absolute()
        && std::fs::symlink_metadata(&runtime)
            .is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o077 == 0)
    {
        return runtime;
    }
    std::env::temp_dir()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    #[test]
    fn the_directory_is_0700_the_file_0600_and_both_go_when_removed() {
        let private = PrivateDir::create().unwrap();
        private.write("pgpass", "one\n").unwrap();
        let file = private.path("pgpass");
        let dir = private.dir().to_owned();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        let inode = std::fs::metadata(&file).unwrap().ino();
        private.write("pgpass", "two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "two\n");
        assert_ne!(
            std::fs::metadata(&file).unwrap().ino(),
            inode,
            "a new file, renamed in"
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        private.remove();
        assert!(!dir.exists());
    }

    #[test]
    fn dropping_it_removes_it_too() {
        let private = PrivateDir::create().unwrap();
        private.write("my.cnf", "x").unwrap();
        let dir = private.dir().to_owned();
        drop(private);
        assert!(!dir.exists());
    }
}
