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
    pub fn create(env: &dyn domain::Env) -> Result<Self> {
        let base = base_dir(env)?;
        remove_orphans(&base);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
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

const PREFIX: &str = "dbcore-exec-";

/// Removes the directories of dbcore processes that are gone (killed with SIGKILL, which
/// leaves no chance to clean up): ours, named `dbcore-exec-<pid>-…`, with no such process.
fn remove_orphans(base: &Path) {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let me = nix::unistd::geteuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            == Err(nix::errno::Errno::ESRCH);
        let ours = entry.metadata().is_ok_and(|m| m.is_dir() && m.uid() == me);
        if gone && ours && pid > 0 {
            tracing::info!(dir = %entry.path().display(), "removing the private directory of a dbcore exec that was killed");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `$XDG_RUNTIME_DIR` when it is safe to hold our directory, else the temp directory when it
/// is; neither is an error.
fn base_dir(env: &dyn domain::Env) -> Result<PathBuf> {
    let runtime = env.var("XDG_RUNTIME_DIR").map(PathBuf::from);
    if let Some(runtime) = runtime.filter(|r| safe_parent(r)) {
        return Ok(runtime);
    }
    let temp = env
        .var("TMPDIR")
        .filter(|t| !t.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    if safe_parent(&temp) {
        return Ok(temp);
    }
    anyhow::bail!(
        "neither $XDG_RUNTIME_DIR nor the temp directory {} is safe for a private directory: it must be ours and not writable by others, or root's and sticky like /tmp",
        temp.display()
    )
}

/// Whether no one else can rename or replace a directory we create in `dir`: it is a real
/// directory (not a symlink), and either ours and writable by no one else, or root's with
/// the sticky bit (like `/tmp`, where only we may rename what is ours).
pub fn safe_parent(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return false;
    };
    let mode = meta.mode();
    let ours = meta.uid() == nix::unistd::geteuid().as_raw();
    dir.is_absolute()
        && meta.is_dir()
        && ((ours && mode & 0o022 == 0) || (meta.uid() == 0 && mode & 0o1000 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    #[test]
    fn the_directory_is_0700_the_file_0600_and_both_go_when_removed() {
        let private = PrivateDir::create(&domain::MapEnv::new()).unwrap();
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
    fn a_parent_someone_else_can_write_or_owns_is_not_safe() {
        use std::os::unix::fs::PermissionsExt as _;
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("runtime");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(safe_parent(&dir));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(!safe_parent(&dir), "world-writable");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            assert!(
                !safe_parent(&dir),
                "another user's, who could rename our directory away"
            );
        }
        let link = scratch.path().join("link");
        std::os::unix::fs::symlink(scratch.path(), &link).unwrap();
        assert!(!safe_parent(&link), "a symlink");
        assert!(!safe_parent(Path::new("relative")));
        assert!(safe_parent(Path::new("/tmp")), "root's and sticky");
    }

    #[test]
    fn the_directory_of_a_killed_exec_is_removed_and_a_live_ones_kept() {
        let base = tempfile::tempdir().unwrap();
        let dead = base.path().join(format!("{PREFIX}{}-abc", i32::MAX));
        let alive = base
            .path()
            .join(format!("{PREFIX}{}-abc", std::process::id()));
        let other = base.path().join("dbcore-exec-notapid");
        for dir in [&dead, &alive, &other] {
            std::fs::create_dir(dir).unwrap();
            std::fs::write(dir.join("pgpass"), "x").unwrap();
        }
        remove_orphans(base.path());
        assert!(!dead.exists());
        assert!(alive.exists());
        assert!(other.exists());
    }

    #[test]
    fn the_runtime_directory_is_used_only_when_it_is_safe() {
        use std::os::unix::fs::PermissionsExt as _;
        let runtime = tempfile::tempdir().unwrap();
        let temp = tempfile::tempdir().unwrap();
        let env = |xdg: &Path| {
            domain::MapEnv::new()
                .with("XDG_RUNTIME_DIR", xdg.to_str().unwrap())
                .with("TMPDIR", temp.path().to_str().unwrap())
        };
        assert_eq!(base_dir(&env(runtime.path())).unwrap(), runtime.path());
        std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            base_dir(&env(runtime.path())).unwrap(),
            temp.path(),
            "world-writable: the temp dir"
        );
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let refused = base_dir(&env(runtime.path())).unwrap_err().to_string();
        assert!(
            refused.contains("is safe for a private directory"),
            "{refused}"
        );
        assert_eq!(base_dir(&domain::MapEnv::new()).unwrap(), Path::new("/tmp"));
    }

    #[test]
    fn dropping_it_removes_it_too() {
        let private = PrivateDir::create(&domain::MapEnv::new()).unwrap();
        private.write("my.cnf", "x").unwrap();
        let dir = private.dir().to_owned();
        drop(private);
        assert!(!dir.exists());
    }
}
