//! Where the proxy listens: `DIR/.s.PGSQL.PORT` in a directory only its user can enter, so
//! that reaching the socket is the authentication (as with `peer` for a local server).

use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use tokio::net::UnixListener;

/// Creates `dir` 0700 if it is missing; an existing one must be a directory of ours that no
/// one else can enter.
pub fn prepare(dir: &Path) -> Result<()> {
    // Whoever can write to the parent could move our directory away and put theirs in its
    // place, and be the endpoint clients give their queries to.
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let parent = std::fs::canonicalize(parent)
        .with_context(|| format!("cannot read {}", parent.display()))?;
    if !crate::exec::safe_parent(&parent) {
        bail!(
            "the socket directory's parent {} can be written by another user, who could replace the directory; use a directory under one only you can write to (or root's sticky /tmp)",
            parent.display()
        );
    }
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the socket directory {}", dir.display())),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
        Ok(meta) if !meta.is_dir() => bail!(
            "{} is not a directory (a symlink is refused too)",
            dir.display()
        ),
        Ok(meta) if meta.uid() != nix::unistd::geteuid().as_raw() => {
            bail!(
                "the socket directory {} belongs to another user",
                dir.display()
            )
        }
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => bail!(
            "the socket directory {} is mode {:o}; it must be 0700 (anyone who can reach the socket connects as the target's user)",
            dir.display(),
            meta.permissions().mode() & 0o777
        ),
        Ok(_) => Ok(()),
    }
}

/// Binds `DIR/.s.PGSQL.PORT`, replacing a socket file that no one answers on any more.
pub async fn bind(dir: &Path, port: u16) -> Result<(UnixListener, PathBuf)> {
    let path = dir.join(format!(".s.PGSQL.{port}"));
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        use std::os::unix::fs::FileTypeExt as _;
        if !meta.file_type().is_socket() || meta.uid() != nix::unistd::geteuid().as_raw() {
            bail!(
                "{} exists and is not a socket of ours; it is left alone",
                path.display()
            );
        }
        if tokio::net::UnixStream::connect(&path).await.is_ok() {
            bail!(
                "{} is in use: another server or proxy listens there",
                path.display()
            );
        }
        std::fs::remove_file(&path)
            .with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    Ok((listener, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_made_0700_and_an_open_one_or_a_symlink_is_refused() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("sock");
        prepare(&dir).unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        prepare(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(
            prepare(&dir)
                .unwrap_err()
                .to_string()
                .contains("must be 0700")
        );
        let link = scratch.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(prepare(&link).unwrap_err().to_string().contains("symlink"));
        let open = scratch.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = prepare(&open.join("sock")).unwrap_err().to_string();
        assert!(err.contains("can be written by another user"), "{err}");
    }

    #[tokio::test]
    async fn a_file_that_is_not_our_socket_is_never_removed() {
        let scratch = tempfile::tempdir().unwrap();
        let path = scratch.path().join(".s.PGSQL.7777");
        std::fs::write(&path, "precious").unwrap();
        let err = bind(scratch.path(), 7777).await.unwrap_err().to_string();
        assert!(err.contains("is not a socket of ours"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
        std::fs::remove_file(&path).unwrap();
        // A socket no one listens on any more is replaced.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let (listener, bound) = bind(scratch.path(), 7777).await.unwrap();
        assert_eq!(bound, path);
        drop(listener);
    }
}
