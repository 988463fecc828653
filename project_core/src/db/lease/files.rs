//! Secret files that change on disk: a Kubernetes secret volume swapping its `..data` link,
//! a Vault Agent template or the Secrets Store CSI driver rewriting a file, an operator
//! editing `~/.pgpass`.
//!
//! Design decision: a cheap periodic check, not change notification. Every
//! [`FILE_CHECK_INTERVAL`] the watch `stat`s each file the chain's sources read (following
//! links, so a swapped `..data` link shows as another file) and compares device, inode, size,
//! modification and change times with what it saw last. inotify would see a change sooner,
//! but it watches directory entries, not the file a chain of links ends at; it misses changes
//! on NFS and some container file systems; and it needs re-arming whenever the watched link
//! is replaced — a few `stat`s a second cost microseconds and see every case the same way.
//!
//! When something changed, the chain is resolved again ([`Leases::refresh_after_file_change`])
//! and a credential that differs from the pool's is proven with one connection and swapped in
//! exactly as a lease rotation is: connections made with the old one are retired as they are
//! released, never broken. A file that became unreadable, empty or malformed keeps the pool on
//! the credential it has, with a warning naming the source, and is tried again with backoff
//! (as is a new password the server does not accept yet: the file can be rewritten before
//! `ALTER ROLE` has run). Only the files of the sources up to the one that supplied the
//! credential in the pool are acted on, and only those sources are asked again (that one
//! included when it reads a file): a later source cannot win while that one answers, nor on
//! a file's bad moment, and a Vault that supplied the pool's credential is not asked for a new
//! lease because an earlier source's file was edited.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use domain::{CredentialChain, TargetIdentity};

use super::Leases;

/// How often the files of a target's sources are checked.
pub const FILE_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// The longest wait between attempts after a change that could not be applied.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What `stat` says of one file (`None`: it cannot be stat'ed: missing, no permission).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
    changed: Option<(i64, i64)>,
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (device, inode, changed) = {
        use std::os::unix::fs::MetadataExt;
        (
            meta.dev(),
            meta.ino(),
            Some((meta.ctime(), meta.ctime_nsec())),
        )
    };
    #[cfg(not(unix))]
    let (device, inode, changed) = (0, 0, None);
    Some(Stamp {
        device,
        inode,
        len: meta.len(),
        modified: meta.modified().ok(),
        changed,
    })
}

/// Each source's files and what `stat` says of them, in chain order.
type Snapshot = Vec<(String, Vec<(PathBuf, Option<Stamp>)>)>;

async fn snapshot(files: Vec<(String, Vec<PathBuf>)>) -> Snapshot {
    // A `stat` can block (a hung network file system): not on the runtime's threads.
    tokio::task::spawn_blocking(move || {
        files
            .into_iter()
            .map(|(source, paths)| {
                let stamped = paths
                    .into_iter()
                    .map(|path| {
                        let stamp = stamp(&path);
                        (path, stamp)
                    })
                    .collect();
                (source, stamped)
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// The files that differ between `before` and `now` among the sources up to `issuer` (all
/// of them when no source supplied the credential in use).
fn changed_files(before: &Snapshot, now: &Snapshot, issuer: Option<&str>) -> Vec<PathBuf> {
    let mut changed = Vec::new();
    for (source, files) in now {
        let earlier = before.iter().find(|(s, _)| s == source).map(|(_, f)| f);
        for (path, stamp) in files {
            let was = earlier.and_then(|f| f.iter().find(|(p, _)| p == path));
            if was.is_none_or(|(_, old)| old != stamp) {
                changed.push(path.clone());
            }
        }
        if issuer == Some(source.as_str()) {
            break;
        }
    }
    changed
}

/// The chain's sources with the files each reads for `target`, in chain order.
pub(super) fn files_of(
    chain: &CredentialChain,
    target: &TargetIdentity,
) -> Vec<(String, Vec<PathBuf>)> {
    chain
        .sources()
        .iter()
        .map(|source| (source.name().to_owned(), source.watched_files(target)))
        .collect()
}

/// Takes what the files look like now, before the open resolves: a change between that and
/// the first check is then seen, never missed.
pub async fn baseline(chain: &CredentialChain, target: &TargetIdentity) -> Baseline {
    Baseline(snapshot(files_of(chain, target)).await)
}

/// What the files looked like when the watch began.
#[derive(Debug)]
pub struct Baseline(Snapshot);

/// Watches the files of `leases`' sources until the task is aborted (see the module doc).
pub async fn watch_files(leases: Arc<Leases>, baseline: Baseline, every: Duration) {
    let Baseline(mut seen) = baseline;
    if seen.iter().all(|(_, files)| files.is_empty()) {
        return; // no source reads a file
    }
    // After a change that could not be applied: the wait before the next attempt, and when
    // it is due. A new change is acted on at the next check whatever the backoff says.
    let mut backoff: Option<(Duration, tokio::time::Instant)> = None;
    loop {
        tokio::time::sleep(every).await;
        // Taken before resolving: a file rewritten while we read it differs from this at the
        // next check, so a half-written file is read again.
        let now = snapshot(leases.watched_files()).await;
        let issuer = leases.current_source();
        let changed = changed_files(&seen, &now, issuer.as_deref());
        seen = now;
        let retry_due = backoff.is_some_and(|(_, at)| tokio::time::Instant::now() >= at);
        if changed.is_empty() && !retry_due {
            continue;
        }
        let shown: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
        match leases.refresh_after_file_change().await {
            Ok(rotated) => {
                if !rotated {
                    tracing::debug!(files = ?shown, "a secret file changed; same credential");
                }
                backoff = None;
            }
            Err(reason) => {
                let wait = match (backoff, changed.is_empty()) {
                    (Some((wait, _)), true) => (wait * 2).min(MAX_BACKOFF),
                    _ => every,
                };
                tracing::warn!(
                    files = ?shown,
                    %reason,
                    retry_in_s = wait.as_secs_f64(),
                    "a secret file changed but its credential cannot be used; the pool keeps the credential it has"
                );
                backoff = Some((wait, tokio::time::Instant::now() + wait));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source's files and their sizes (`None`: cannot be stat'ed).
    type Files<'a> = &'a [(&'a str, Option<u64>)];

    fn snap(entries: &[(&str, Files<'_>)]) -> Snapshot {
        entries
            .iter()
            .map(|(source, files)| {
                let files = files
                    .iter()
                    .map(|(path, len)| {
                        let stamp = len.map(|len| Stamp {
                            device: 1,
                            inode: 2,
                            len,
                            modified: None,
                            changed: None,
                        });
                        (PathBuf::from(path), stamp)
                    })
                    .collect();
                ((*source).to_owned(), files)
            })
            .collect()
    }

    #[test]
    fn only_files_of_sources_up_to_the_issuer_count() {
        let before = snap(&[
            ("file", &[("/s/pw", Some(3))]),
            ("pgpass", &[("/h/.pgpass", Some(9))]),
        ]);
        let later_changed = snap(&[
            ("file", &[("/s/pw", Some(3))]),
            ("pgpass", &[("/h/.pgpass", Some(10))]),
        ]);
        assert!(changed_files(&before, &later_changed, Some("file")).is_empty());
        assert_eq!(
            changed_files(&before, &later_changed, Some("pgpass")),
            vec![PathBuf::from("/h/.pgpass")]
        );
        assert_eq!(changed_files(&before, &later_changed, None).len(), 1);
    }

    #[test]
    fn a_file_that_appears_or_disappears_is_a_change() {
        let gone = snap(&[("file", &[("/s/pw", None)])]);
        let there = snap(&[("file", &[("/s/pw", Some(3))])]);
        assert_eq!(changed_files(&gone, &there, Some("file")).len(), 1);
        assert_eq!(changed_files(&there, &gone, Some("file")).len(), 1);
        assert!(changed_files(&gone, &gone, Some("file")).is_empty());
    }

    #[test]
    fn a_swapped_data_link_is_another_file() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("..2026_1");
        let second = dir.path().join("..2026_2");
        std::fs::create_dir(&first).unwrap();
        std::fs::create_dir(&second).unwrap();
        std::fs::write(first.join("password"), "aaaa").unwrap();
        std::fs::write(second.join("password"), "bbbb").unwrap();
        let data = dir.path().join("..data");
        std::os::unix::fs::symlink("..2026_1", &data).unwrap();
        std::os::unix::fs::symlink("..data/password", dir.path().join("password")).unwrap();
        let path = dir.path().join("password");
        let before = stamp(&path).unwrap();
        // The atomic swap Kubernetes makes: a new link renamed over `..data`.
        std::os::unix::fs::symlink("..2026_2", dir.path().join("..data_tmp")).unwrap();
        std::fs::rename(dir.path().join("..data_tmp"), &data).unwrap();
        let after = stamp(&path).unwrap();
        assert_eq!(before.len, after.len, "same size, so only the inode tells");
        assert_ne!(before, after);
    }
}
