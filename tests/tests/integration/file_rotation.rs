//! A password file rotated the way Kubernetes rotates a secret volume — a new `..2026_N`
//! directory, then the `..data` link swapped over the old one — under `dbcore ping --watch`
//! with four tasks: the server's password changes first, the file follows, and not one query
//! fails; the rotation shows in the watch's output and in its Prometheus metrics, connections
//! made with the old password are retired, and a file that becomes empty keeps the pool on
//! the credential it has.

use std::io::{BufRead as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tests::bin::{ConfigDir, path};

/// A directory laid out as the kubelet lays out a secret volume: `password` →
/// `..data/password`, `..data` → `..<version>`.
struct SecretVolume {
    dir: tempfile::TempDir,
    versions: u32,
}

impl SecretVolume {
    fn new(password: &str) -> Self {
        let mut volume = Self {
            dir: tempfile::tempdir().unwrap(),
            versions: 0,
        };
        volume.publish(password);
        std::os::unix::fs::symlink("..data/password", volume.dir.path().join("password")).unwrap();
        volume
    }

    fn password_path(&self) -> PathBuf {
        self.dir.path().join("password")
    }

    /// Writes `password` into a new version directory and swaps `..data` to it atomically.
    fn publish(&mut self, password: &str) {
        self.versions += 1;
        let version = format!("..2026_12_02_{:02}", self.versions);
        let root = self.dir.path();
        std::fs::create_dir(root.join(&version)).unwrap();
        std::fs::write(root.join(&version).join("password"), password).unwrap();
        std::os::unix::fs::symlink(&version, root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
    }
}

/// `GET /metrics` from the endpoint at `addr`.
pub(crate) fn scrape(addr: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    reply
}

/// The value of the sample of `name` whose labels include every one of `labels`.
pub(crate) fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The server processes of `user`'s sessions now.
async fn backends_of(pg: &tests::pg::PgCluster, user: &str) -> Vec<i32> {
    let pool = pg.superuser().await;
    let pids = sqlx::query_scalar("select pid from pg_stat_activity where usename = $1")
        .bind(user)
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    pids
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_secret_volume_reaches_the_live_pool_with_no_failed_query() {
    let Some(pg) = tests::pg::cluster() else {
        return;
    };
    pg.create_role_and_database("file_rot", "rot-pw-one").await;
    let mut volume = SecretVolume::new("rot-pw-one\n");
    let config = ConfigDir::new();
    config.target(
        "rot",
        &format!(
            "kind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"file_rot\"\nuser = \"file_rot\"\nsources = [\"file\"]\npassword_file = \"{}\"\n[pool]\nmin_connections = 4\nmax_connections = 4\n",
            pg.port(),
            volume.password_path().display()
        ),
    );
    let mut child = std::process::Command::new(path("dbcore"))
        .args(["--config-dir", config.path_str(), "ping", "rot", "--watch"])
        .args([
            "--duration",
            "16s",
            "--concurrency",
            "4",
            "--interval",
            "500ms",
        ])
        .args(["--metrics", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reading_stdout = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reading_stderr = std::thread::spawn(move || {
        let mut seen = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.strip_prefix("dbcore: metrics at http://") {
                let _ = addr_tx.send(rest.trim_end_matches("/metrics").to_owned());
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    let Ok(addr) = addr_rx.recv_timeout(Duration::from_secs(30)) else {
        let _ = child.kill();
        panic!(
            "no metrics address announced:\n{}",
            reading_stderr.join().unwrap()
        );
    };

    let rotations = |text: &str| {
        sample(
            text,
            "dbcore_credential_rotations_total",
            &[
                "target=\"rot\"",
                "source=\"file\"",
                "trigger=\"file_changed\"",
            ],
        )
        .unwrap_or(0.0)
    };
    let before = {
        let mut text = String::new();
        wait_for("the pool is sampled", Duration::from_secs(10), || {
            text = scrape(&addr);
            // A full pool opens no connection while the password changes under it: the file
            // watch, not a refused login, is what must notice the new one.
            sample(&text, "dbcore_pool_connections", &["target=\"rot\""]).is_some_and(|n| n >= 4.0)
        });
        text
    };
    assert_eq!(rotations(&before), 0.0, "{before}");
    assert!(
        sample(
            &before,
            "dbcore_credential_resolutions_total",
            &["target=\"rot\"", "source=\"file\"", "outcome=\"found\""],
        )
        .is_some_and(|n| n >= 1.0),
        "{before}"
    );
    assert!(
        sample(
            &before,
            "dbcore_credential_last_refresh_timestamp_seconds",
            &["target=\"rot\""]
        )
        .is_some_and(|t| t > 1.7e9),
        "{before}"
    );

    // The sessions the pool made with the first password.
    let mut old_sessions = backends_of(pg, "file_rot").await;
    let full = Instant::now();
    while old_sessions.len() < 4 {
        assert!(full.elapsed() < Duration::from_secs(10), "{old_sessions:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        old_sessions = backends_of(pg, "file_rot").await;
    }
    // The server first, then the file, as an operator (or Vault's static roles) does it.
    pg.set_password("file_rot", "rot-pw-two").await;
    volume.publish("rot-pw-two\n");
    let mut after = String::new();
    let counted = Instant::now();
    while rotations(&after) != 1.0 {
        if counted.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!(
                "no rotation counted:\n{after}\n{}",
                reading_stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
        after = scrape(&addr);
    }
    // Connections made with the old password go as they are released.
    let started = Instant::now();
    loop {
        let now = backends_of(pg, "file_rot").await;
        let left: Vec<&i32> = old_sessions
            .iter()
            .filter(|pid| now.contains(pid))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "sessions made with the old password are still open: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A file that becomes empty: the pool keeps the password it has, queries go on.
    volume.publish("");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(rotations(&scrape(&addr)), 1.0);

    // A good file again, with a new password: the watch recovers from the failed attempt.
    pg.set_password("file_rot", "rot-pw-three").await;
    volume.publish("rot-pw-three");
    wait_for("the second rotation", Duration::from_secs(40), || {
        after = scrape(&addr);
        rotations(&after) == 2.0
    });
    for secret in ["rot-pw-one", "rot-pw-two", "rot-pw-three"] {
        assert!(!after.contains(secret), "no secret in metrics: {after}");
    }
    assert!(
        sample(
            &after,
            "dbcore_pool_acquire_duration_seconds_count",
            &["target=\"rot\""]
        )
        .is_some_and(|n| n >= 1.0),
        "{after}"
    );

    let status = child.wait().unwrap();
    let stdout = reading_stdout.join().unwrap();
    let stderr = reading_stderr.join().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "no query failed:\n{stdout}\n{stderr}"
    );
    let total = stdout
        .lines()
        .find(|l| l.contains("total after"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(total.contains("rotations 2"), "{total}");
    let rotation_lines: Vec<&str> = stdout.lines().filter(|l| l.contains("rotation:")).collect();
    assert_eq!(rotation_lines.len(), 2, "{stdout}");
    let shown = volume.password_path().display().to_string();
    assert!(
        rotation_lines
            .iter()
            .all(|l| l.contains(&format!("from file {shown} (the file changed)"))),
        "{stdout}"
    );
    assert!(
        stderr.contains("the pool keeps the credential it has")
            && stderr.contains(&format!("{shown} is empty")),
        "the empty file is reported: {stderr}"
    );
    for secret in ["rot-pw-one", "rot-pw-two", "rot-pw-three"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
    assert!(
        !Path::new(&shown)
            .read_link()
            .unwrap()
            .as_os_str()
            .is_empty()
    );
}
