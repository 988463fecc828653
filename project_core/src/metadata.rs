//! The metadata cache: reflected schemas on disk, trusted only while the server's schema
//! fingerprint matches.
//!
//! Design decision: the file is data, never code (the original pickles, so whoever can write
//! the cache can run code in every app). Layout: the magic bytes `DBCOREMD`, a little-endian
//! `u32` format version, then a postcard-encoded [`CacheHeader`] and the postcard-encoded
//! model. The header names the target (kind, host, port, database or path, schemas) and the
//! fingerprint, so a cache from another target or an older format is recognised before the
//! body is decoded. Files are written to a temporary file in the same directory (mode 0600)
//! and renamed into place, so a reader never sees half a file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use domain::Metadata;
use serde::{Deserialize, Serialize};

pub const FORMAT_VERSION: u32 = 2;
const MAGIC: &[u8; 8] = b"DBCOREMD";

/// What identifies the reflected schemas, and the fingerprint they had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheHeader {
    pub kind: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The database name, or the SQLite file path.
    pub database: Option<String>,
    pub schemas: Vec<String>,
    pub fingerprint: String,
    /// The server's commit horizon taken before `fingerprint` (PostgreSQL: its snapshot),
    /// when the kind has one: while the server still reports the same, nothing has committed
    /// since, so the schema is what the cache holds and the fingerprint need not be computed.
    pub commit_horizon: Option<String>,
}

impl CacheHeader {
    fn same_target(&self, other: &CacheHeader) -> bool {
        (
            &self.kind,
            &self.host,
            self.port,
            &self.database,
            &self.schemas,
        ) == (
            &other.kind,
            &other.host,
            other.port,
            &other.database,
            &other.schemas,
        )
    }
}

/// How `metadata()` got its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// The in-process copy was current.
    Memory,
    /// The file was current and was loaded.
    Used,
    /// Reflected and written, for this reason (missing, stale, corrupt, another target, …).
    Rebuilt(String),
}

impl CacheStatus {
    /// `memory`, `used` or `rebuilt`, for JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            CacheStatus::Memory => "memory",
            CacheStatus::Used => "used",
            CacheStatus::Rebuilt(_) => "rebuilt",
        }
    }
}

/// What one `metadata()` call did and how long each step took.
#[derive(Debug, Clone)]
pub struct MetadataReport {
    pub path: Option<PathBuf>,
    pub status: CacheStatus,
    pub steps: Vec<(&'static str, Duration)>,
}

/// What reading the cache file found.
#[derive(Debug)]
pub enum Read {
    Current(Metadata),
    /// Not usable; the reason, and whether it deserves a warning (damage, not staleness).
    Unusable {
        reason: String,
        warn: bool,
    },
}

/// A cache file read and decoded, not yet checked against the target.
#[derive(Debug)]
pub struct Loaded(Result<(CacheHeader, Metadata), Read>);

impl Loaded {
    /// Whether the file belongs to `expected`'s target and was written at the commit horizon
    /// the server reports now (`horizon`): nothing has committed since, so the schema cannot
    /// have changed and the fingerprint need not be asked.
    pub fn unchanged_since(&self, expected: &CacheHeader, horizon: &str) -> bool {
        self.0.as_ref().is_ok_and(|(header, _)| {
            header.same_target(expected) && header.commit_horizon.as_deref() == Some(horizon)
        })
    }

    /// The decoded model, whatever its header says (after [`Loaded::unchanged_since`]).
    pub fn into_model(self) -> Option<Metadata> {
        self.0.ok().map(|(_, model)| model)
    }
}

/// Reads and decodes the file without deciding whether it is current (see [`check`]).
pub fn read_unchecked(path: &Path) -> Loaded {
    Loaded(decode(path))
}

/// Reads the cache file and says whether it is current for `expected`.
pub fn read(path: &Path, expected: &CacheHeader) -> Read {
    check(read_unchecked(path), expected)
}

/// Decides whether a loaded file is current for `expected`.
pub fn check(loaded: Loaded, expected: &CacheHeader) -> Read {
    let (header, metadata) = match loaded.0 {
        Ok(decoded) => decoded,
        Err(unusable) => return unusable,
    };
    if !header.same_target(expected) {
        return Read::Unusable {
            reason: format!(
                "the cache belongs to another target ({} {}:{} {}, schemas {})",
                header.kind,
                header.host.as_deref().unwrap_or("-"),
                header.port.map_or_else(|| "-".into(), |p| p.to_string()),
                header.database.as_deref().unwrap_or("-"),
                header.schemas.join(",")
            ),
            warn: true,
        };
    }
    if header.fingerprint != expected.fingerprint {
        return Read::Unusable {
            reason: "the schema changed since it was written".into(),
            warn: false,
        };
    }
    Read::Current(metadata)
}

fn decode(path: &Path) -> Result<(CacheHeader, Metadata), Read> {
    // A FIFO or a device planted where the cache lives is refused at once (not waited on or
    // read until memory runs out); the cache is then rebuilt, as for any unusable file.
    let bytes = match adapters::fs::read_regular(path, adapters::fs::FileKind::METADATA_CACHE) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Err(Read::Unusable {
                reason: "no cache file yet".into(),
                warn: false,
            });
        }
        Err(e) => {
            return Err(Read::Unusable {
                reason: e.to_string(),
                warn: true,
            });
        }
    };
    let unusable = |reason: &str| Read::Unusable {
        reason: reason.to_owned(),
        warn: true,
    };
    let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Err(unusable(
            "not a dbcore metadata cache (corrupt or foreign file)",
        ));
    };
    let Some((version, rest)) = rest.split_first_chunk::<4>() else {
        return Err(unusable("truncated cache file"));
    };
    let version = u32::from_le_bytes(*version);
    if version != FORMAT_VERSION {
        return Err(unusable(&format!(
            "cache format {version}, this build reads format {FORMAT_VERSION}"
        )));
    }
    let Ok((header, body)) = postcard::take_from_bytes::<CacheHeader>(rest) else {
        return Err(unusable("corrupt cache header"));
    };
    match postcard::from_bytes::<Metadata>(body) {
        Ok(metadata) => Ok((header, metadata)),
        Err(_) => Err(unusable("corrupt cache body")),
    }
}

/// Writes the cache atomically with mode 0600.
pub fn write(path: &Path, header: &CacheHeader, metadata: &Metadata) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut bytes = Vec::with_capacity(64 * 1024);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let encode = |e: postcard::Error| std::io::Error::other(e.to_string());
    bytes.extend_from_slice(&postcard::to_stdvec(header).map_err(encode)?);
    bytes.extend_from_slice(&postcard::to_stdvec(metadata).map_err(encode)?);
    // tempfile creates the file with mode 0600 in the target directory.
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(&bytes)?;
    file.as_file().sync_data()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// `<cache dir>/<cache_name>.dbmeta`; the name may not climb out of the directory.
pub fn path_for(cache_dir: &Path, cache_name: &str) -> PathBuf {
    let safe: String = cache_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    cache_dir.join(format!("{safe}.dbmeta"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::metadata::{Schema, Table, TableKind};

    fn header(fingerprint: &str) -> CacheHeader {
        CacheHeader {
            kind: "postgres".into(),
            host: Some("h".into()),
            port: Some(5432),
            database: Some("d".into()),
            schemas: vec!["public".into()],
            fingerprint: fingerprint.into(),
            commit_horizon: Some("100:100:".into()),
        }
    }

    #[test]
    fn an_unchanged_commit_horizon_of_the_same_target_is_a_hit_without_a_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "prod_metadata");
        write(&path, &header("fp1"), &model()).unwrap();
        let loaded = read_unchecked(&path);
        assert!(loaded.unchanged_since(&header("other"), "100:100:"));
        assert!(!loaded.unchanged_since(&header("fp1"), "100:101:"));
        assert_eq!(loaded.into_model(), Some(model()));
        let mut elsewhere = header("fp1");
        elsewhere.port = Some(5433);
        assert!(
            !read_unchecked(&path).unchanged_since(&elsewhere, "100:100:"),
            "another target's file is never a hit"
        );
        let mut none = header("fp1");
        none.commit_horizon = None;
        write(&path, &none, &model()).unwrap();
        assert!(
            !read_unchecked(&path).unchanged_since(&header("fp1"), ""),
            "a file written without a horizon matches none"
        );
        assert!(
            !read_unchecked(&dir.path().join("missing"))
                .unchanged_since(&header("fp1"), "100:100:")
        );
    }

    fn model() -> Metadata {
        Metadata {
            schemas: vec![Schema {
                name: "public".into(),
                tables: vec![Table {
                    name: "t".into(),
                    kind: TableKind::Table,
                    columns: vec![],
                    primary_key: vec![],
                    foreign_keys: vec![],
                    unique_constraints: vec![],
                    indexes: vec![],
                }],
            }],
        }
    }

    fn reason(read: Read) -> String {
        match read {
            Read::Unusable { reason, .. } => reason,
            Read::Current(_) => panic!("expected unusable"),
        }
    }

    #[test]
    fn round_trips_and_checks_target_and_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "prod_metadata");
        write(&path, &header("fp1"), &model()).unwrap();
        assert!(matches!(read(&path, &header("fp1")), Read::Current(m) if m == model()));
        assert_eq!(
            reason(read(&path, &header("fp2"))),
            "the schema changed since it was written"
        );
        let mut other = header("fp1");
        other.database = Some("elsewhere".into());
        assert!(reason(read(&path, &other)).starts_with("the cache belongs to another target"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn damaged_files_are_unusable_not_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "x");
        write(&path, &header("fp"), &model()).unwrap();
        let full = std::fs::read(&path).unwrap();
        for cut in [0, 4, 10, full.len() - 1] {
            std::fs::write(&path, &full[..cut]).unwrap();
            let Read::Unusable { warn, .. } = read(&path, &header("fp")) else {
                panic!("a file truncated at {cut} must not be used")
            };
            assert!(warn);
        }
        std::fs::write(&path, b"\x80\x04\x95 a pickle, perhaps").unwrap();
        assert!(reason(read(&path, &header("fp"))).contains("not a dbcore metadata cache"));
        let mut old = full.clone();
        old[8..12].copy_from_slice(&0u32.to_le_bytes());
        std::fs::write(&path, &old).unwrap();
        assert_eq!(
            reason(read(&path, &header("fp"))),
            "cache format 0, this build reads format 2"
        );
        assert_eq!(
            reason(read(&dir.path().join("none"), &header("fp"))),
            "no cache file yet"
        );
    }

    #[test]
    fn a_fifo_in_place_of_the_cache_is_unusable_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "x");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(reason(read(&path, &header("fp"))).ends_with("it is a FIFO, not a regular file"));
    }

    #[test]
    fn cache_names_cannot_leave_the_directory() {
        assert_eq!(
            path_for(Path::new("/c"), "../../etc/x"),
            PathBuf::from("/c/_.._etc_x.dbmeta")
        );
    }
}
