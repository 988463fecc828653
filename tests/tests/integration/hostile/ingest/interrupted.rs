//! ingest interrupted: SIGTERM and SIGINT stop with the exact resume hint, SIGKILL never
//! leaves reject rows of uncommitted work.

use super::*;

/// An ingest run in the background, fed through its standard input, whose stderr is collected
/// as it comes, so that a test can wait for a bad row to have been read or a batch committed.
struct Live {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Live {
    fn start(target: &Target, args: &[&str]) -> Self {
        use std::io::Read as _;
        let mut command = std::process::Command::new(tests::bin::path("dbcore-ingest"));
        command
            .args(["--config-dir", target.config.path_str(), "t", "t", "-"])
            .args(["--format", "csv"])
            .args(args)
            .current_dir(target.config.path())
            .env_clear()
            .envs(target.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stdin = child.stdin.take();
        let mut pipe = child.stderr.take().unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let collected = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                collected
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self {
            child,
            stdin,
            stderr,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        use std::io::Write as _;
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (up to a minute) until ingest has reported `n` skipped rows.
    fn wait_skipped(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.stderr().matches("dbcore-ingest: skipped").count() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "ingest did not report {n} skipped rows:\n{}",
                self.stderr()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The exit code (None when a signal ended the process) and everything on stderr.
    fn wait(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        drop(self.stdin.take());
        // The collecting thread ends with the pipe; give it the last bytes.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::sync::Arc::strong_count(&self.stderr) > 1 && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        (status.code(), self.stderr())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Target {
    /// Waits (up to a minute) until the table holds `n` rows: a batch has committed.
    async fn wait_rows(&self, n: i64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let ids = self.ids("t").await;
            if ids.len() >= usize::try_from(n).unwrap() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the table never held {n} rows: {ids:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Waits (up to a minute) until `ready` holds.
fn wait_until(ready: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited a minute in vain"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The data rows of a CSV reject file (without its header).
fn rejected_rows(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().skip(1).map(str::to_owned).collect()
}

#[tokio::test]
async fn sigterm_and_sigint_stop_with_the_exact_resume_hint() {
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        for target in Target::all(&format!("hi_sig{}", code)).await {
            let who = format!("{:?} SIG{signal}", target.kind);
            target.exec("create table t (id integer, d date)").await;
            let rejects = target.config.path().join("stdin.rejects.csv");
            let mut live = Live::start(
                &target,
                &[
                    "--mode",
                    "per-batch",
                    "--batch-size",
                    "2",
                    "--max-errors",
                    "50",
                ],
            );
            // Batch 1: rows 1 and 3, with line 2 rejected inside it; committed.
            live.send(b"id,d\n1,2024-01-01\n2,bad\n3,2024-01-03\n");
            target.wait_rows(2).await;
            // Batch 2 is open: row 4 read, then bad rows read and set aside.
            live.send(b"4,2024-01-04\n");
            let mut open = Vec::new();
            for i in 0..40 {
                open.extend_from_slice(format!("{},not-a-date-{i:0>200}\n", 100 + i).as_bytes());
            }
            live.send(&open);
            live.wait_skipped(41);
            live.signal(signal);
            let (exit, stderr) = live.wait();
            assert_eq!(exit, Some(code), "{who}:\n{stderr}");
            let hint_at = stderr
                .find("--skip ")
                .unwrap_or_else(|| panic!("no hint:\n{stderr}"));
            let hint: u64 = stderr[hint_at + 7..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap();
            assert_eq!(hint, 3, "{who}:\n{stderr}");
            assert_eq!(target.ids("t").await, vec![1, 3], "{who}");
            let kept = rejected_rows(&rejects);
            assert_eq!(kept.len(), 1, "{who}: {kept:?}");
            assert!(kept[0].starts_with("2,bad,"), "{who}: {kept:?}");
            // Resume with the hint on the whole input: the rest is loaded exactly once.
            std::fs::rename(&rejects, target.config.path().join("first.rejects.csv")).unwrap();
            let mut whole = b"id,d\n1,2024-01-01\n2,bad\n3,2024-01-03\n4,2024-01-04\n".to_vec();
            whole.extend_from_slice(&open);
            whole.extend_from_slice(b"5,2024-01-05\n");
            let input = target.config.path().join("whole.csv");
            std::fs::write(&input, &whole).unwrap();
            let resumed = target.ingest(&[
                "t",
                input.to_str().unwrap(),
                "--mode",
                "per-batch",
                "--batch-size",
                "2",
                "--max-errors",
                "50",
                "--skip",
                &hint.to_string(),
            ]);
            assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
            assert_eq!(target.ids("t").await, vec![1, 3, 4, 5], "{who}");
            let again = rejected_rows(&target.config.path().join("whole.rejects.csv"));
            assert_eq!(again.len(), 40, "{who}");
        }
    }
}

/// Enough bad rows to pass any write buffer.
fn many_bad_rows() -> Vec<u8> {
    let mut open = Vec::new();
    for i in 0..200 {
        open.extend_from_slice(format!("{},not-a-date-{i:0>200}\n", 100 + i).as_bytes());
    }
    open
}

#[tokio::test]
async fn sigkill_never_leaves_rejects_of_uncommitted_batches() {
    let open = many_bad_rows();
    // Per-batch, killed right after the first commit and killed mid-batch.
    for mid_batch in [false, true] {
        for target in Target::all(&format!("hi_kill{}", u8::from(mid_batch))).await {
            target.exec("create table t (id integer, d date)").await;
            let rejects = target.config.path().join("stdin.rejects.csv");
            let mut live = Live::start(
                &target,
                &[
                    "--mode",
                    "per-batch",
                    "--batch-size",
                    "2",
                    "--max-errors",
                    "1000",
                ],
            );
            live.send(b"id,d\n1,2024-01-01\n2,bad\n3,2024-01-03\n");
            target.wait_rows(2).await;
            // The batch's rejects are written just after its commit (a crash in between loses
            // them, never a row, as documented): wait for them too.
            wait_until(|| !rejected_rows(&rejects).is_empty());
            if mid_batch {
                live.send(b"4,2024-01-04\n");
                live.send(&open);
                live.wait_skipped(201);
            }
            live.signal("KILL");
            let (exit, _) = live.wait();
            assert_eq!(exit, None);
            assert_eq!(target.ids("t").await, vec![1, 3]);
            let kept = rejected_rows(&rejects);
            assert_eq!(
                kept.len(),
                1,
                "mid batch {mid_batch}: the reject file holds rows of an uncommitted batch"
            );
            assert!(kept[0].starts_with("2,bad,"), "{:?} {kept:?}", target.kind);
        }
    }
}

#[tokio::test]
async fn sigkill_mid_way_through_all_or_nothing_leaves_no_reject_file() {
    let open = many_bad_rows();
    let target = Target::sqlite().await;
    target.exec("create table t (id integer, d date)").await;
    let mut live = Live::start(&target, &["--max-errors", "1000"]);
    live.send(b"id,d\n1,2024-01-01\n");
    live.send(&open);
    live.wait_skipped(200);
    live.signal("KILL");
    let (exit, _) = live.wait();
    assert_eq!(exit, None);
    assert_eq!(target.ids("t").await, Vec::<i64>::new());
    let left: Vec<String> = std::fs::read_dir(target.config.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("stdin.rejects"))
        .collect();
    assert!(
        left.is_empty(),
        "a killed all-or-nothing load left {left:?}"
    );
}
