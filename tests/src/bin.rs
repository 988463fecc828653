//! Paths of the workspace's binaries, built by `cargo test --workspace`.

use std::path::PathBuf;

/// `target/<profile>/<name>`, next to the running test binary's `deps/` directory, built (or
/// found fresh) by cargo once per test process: `cargo test --test integration` alone does
/// not rebuild another package's binary, and a stale one would test old code.
pub fn path(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let exe = std::env::current_exe().expect("the test binary has a path");
    // Test binaries live in target/<profile>/deps, other binaries (bench) in target/<profile>.
    let parent = exe.parent().expect("the binary has a directory");
    let profile_dir = if parent.file_name().is_some_and(|n| n == "deps") {
        parent.parent().expect("deps has a parent")
    } else {
        parent
    };
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if !built.iter().any(|b| b == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
        let mut command = std::process::Command::new(cargo);
        command
            .args([
                "build",
                "--quiet",
                "--package",
                package_of(name),
                if is_example(name) {
                    "--example"
                } else {
                    "--bin"
                },
                name,
                "--target-dir",
            ])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            command.arg("--release");
        }
        let status = command.status().expect("cargo runs");
        assert!(status.success(), "cargo build of {name} failed");
        built.push(name.to_owned());
    }
    let path = if is_example(name) {
        profile_dir.join("examples").join(name)
    } else {
        profile_dir.join(name)
    };
    assert!(
        path.exists(),
        "{} is missing after cargo build",
        path.display()
    );
    path
}

/// The pattern scripts are cargo examples (never installed), the apps binaries.
fn is_example(name: &str) -> bool {
    matches!(name, "count_rows" | "two_targets")
}

/// The workspace package that holds a binary or an example.
fn package_of(binary: &str) -> &str {
    match binary {
        "count_rows" | "two_targets" => "scripts",
        "dbcore" => "admin",
        "dbcore-ingest" => "ingest",
        "dbcore-viewer" => "viewer",
        other => other,
    }
}

/// What a tool printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Everything printed, for leak checks.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs a workspace binary with exactly `env` (plus `PATH`), never the developer's environment.
pub fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    run_in(None, name, args, env)
}

/// [`run`] in the working directory `cwd` (else the test's own).
pub fn run_in(
    cwd: Option<&std::path::Path>,
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let mut command = std::process::Command::new(path(name));
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    command.args(args).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("the binary runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A temporary config directory with `targets/<name>.toml` files.
#[derive(Debug)]
pub struct ConfigDir {
    pub dir: tempfile::TempDir,
}

impl ConfigDir {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("targets")).expect("mkdir targets");
        Self { dir }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn path_str(&self) -> &str {
        self.dir.path().to_str().expect("utf-8 temp path")
    }

    pub fn target(&self, name: &str, toml: &str) -> &Self {
        std::fs::write(
            self.path().join("targets").join(format!("{name}.toml")),
            toml,
        )
        .expect("write target file");
        self
    }

    /// Writes a SQLite target `name` whose database is `file` in this directory, and opens a
    /// pool on that file (created if missing) for the test's own set-up and checks.
    pub async fn sqlite_target(&self, name: &str, file: &str) -> sqlx::SqlitePool {
        let path = self.path().join(file);
        self.target(
            name,
            &format!(
                "kind = \"sqlite\"\npath = {:?}\n",
                path.display().to_string()
            ),
        );
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        sqlx::SqlitePool::connect_with(options)
            .await
            .expect("the test's own SQLite pool opens")
    }

    /// Writes a credential file with mode 0600 and returns its path.
    pub fn secret_file(&self, name: &str, contents: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path().join(name);
        std::fs::write(&path, contents).expect("write secret file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path.display().to_string()
    }
}

impl Default for ConfigDir {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `sh -c script` with exactly `env` (plus `PATH`) and `$ADMIN` naming the admin binary:
/// for flows that need a wrapper such as `keyctl session` or `dbus-run-session`.
pub fn run_shell(script: &str, env: &[(&str, &str)]) -> Run {
    let admin = path("dbcore");
    let mut command = std::process::Command::new("sh");
    command.args(["-c", script]).env_clear().env("ADMIN", admin);
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("sh runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Whether a program is on `PATH`.
pub fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A workspace binary running in the background, killed when dropped (even if a test fails).
#[derive(Debug)]
pub struct Background {
    child: std::process::Child,
}

impl Background {
    fn command(name: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
        let mut command = std::process::Command::new(path(name));
        command.args(args).env_clear();
        if let Some(p) = std::env::var_os("PATH") {
            command.env("PATH", p);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        command.stderr(std::process::Stdio::null());
        command
    }

    pub fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let child = Self::command(name, args, env)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts");
        Self { child }
    }

    /// Starts a server and waits for the line on its stdout that begins with `announce`
    /// (e.g. the viewer's `dbcore-viewer: listening on `), returning the rest of that line. A server
    /// told to listen on port 0 binds a port the kernel picks, so no port is chosen before it
    /// is bound and none can be taken by another process in between.
    pub fn start_announced(
        name: &str,
        args: &[&str],
        env: &[(&str, &str)],
        announce: &str,
    ) -> (Self, String) {
        use std::io::BufRead as _;
        let mut child = Self::command(name, args, env)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let this = Self { child };
        let (tx, rx) = std::sync::mpsc::channel();
        let wanted = announce.to_owned();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let found = lines
                .by_ref()
                .map_while(Result::ok)
                .find_map(|line| line.strip_prefix(&wanted).map(str::to_owned));
            let _ = tx.send(found);
            // Keep draining, so that the server never blocks on a full pipe.
            lines.for_each(drop);
        });
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(Some(rest)) => (this, rest),
            Ok(None) => panic!("{name} exited without announcing `{announce}`"),
            Err(_) => panic!("{name} did not announce `{announce}` within 60 s"),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The DOM of a page as headless Chromium renders it; `None` when Chromium is not installed
/// (after a visible skip, or a failure under `scripts/test`).
pub fn chromium_dom(url: &str) -> Option<String> {
    let output = chromium(&["--dump-dom", url])?;
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Writes a 1280×900 PNG of a page as headless Chromium renders it, in the light or the dark
/// color scheme (`prefers-color-scheme`); `None` when Chromium is not installed (after a
/// visible skip, or a failure under `scripts/test`).
pub fn chromium_screenshot(url: &str, path: &std::path::Path, dark: bool) -> Option<()> {
    let shot = format!("--screenshot={}", path.display());
    // Blink's preferred color scheme: 0 is dark, 1 light.
    let scheme = format!("--blink-settings=preferredColorScheme={}", u8::from(!dark));
    let mut args = vec![shot.as_str(), "--window-size=1280,900", "--hide-scrollbars"];
    args.push(&scheme);
    if dark {
        args.push("--force-dark-mode");
    }
    args.push(url);
    let output = chromium(&args)?;
    assert!(
        path.exists(),
        "chromium wrote no screenshot to {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(())
}

/// Runs headless Chromium with a fresh profile and `args`.
fn chromium(args: &[&str]) -> Option<std::process::Output> {
    let Some(browser) = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| have(b))
    else {
        return crate::servers::unavailable("Chromium", "not installed");
    };
    let profile = tempfile::tempdir().expect("tempdir");
    let output = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("chromium runs");
    Some(output)
}

/// `<target dir>/viewer-screenshots/`, made if missing: where tests leave pictures of the
/// viewer's pages for a person to look at (the target directory is the running test binary's,
/// so `CARGO_TARGET_DIR` is followed).
pub fn screenshot_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let mut dir = exe.parent().expect("the binary has a directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("deps has a parent");
    }
    let target = dir.parent().expect("target/<profile> has a parent");
    let out = target.join("viewer-screenshots");
    std::fs::create_dir_all(&out).expect("mkdir viewer-screenshots");
    out
}
