//! Where the proxy listens: `DIR/.s.PGSQL.PORT` in a directory only its user can enter, so
//! that reaching the socket is the authentication (as with `peer` for a local server).

use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use tokio::net::UnixListener;

/// Creates `dir` 0700 if it is missing; an existing one must be a directory of ours that no
/// one else can enter.
pub fn prepare(dir: &Path) -> Result<()> {
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
    if std::fs::symlink_metadata(&path).is_ok() {
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
