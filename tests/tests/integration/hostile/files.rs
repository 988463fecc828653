//! Hostile inputs: files that are not files. A FIFO, a character device, a huge sparse file or
//! a symlink to one of them, planted wherever dbcore reads a secret, a setting or a cache. No
//! command may wait on a FIFO or read a device until memory runs out: each must end at once
//! with an error (or, for the cache, a rebuild) that says what it found.

use std::path::Path;
use std::time::{Duration, Instant};

use tests::bin::{ConfigDir, Run, path};

/// Runs a binary and fails the test if it has not ended within `limit` (a hang is the bug).
pub(super) fn run_bounded(name: &str, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Run {
    let mut command = std::process::Command::new(path(name));
    command
        .args(args)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(p) = std::env::var_os("PATH") {
        command.env("PATH", p);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("the binary starts");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`{name} {}` still running after {limit:?}: it hangs",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub(super) fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A sparse file of `size` bytes: huge on paper, nothing on disk.
fn sparse(path: &Path, size: u64) {
    let file = std::fs::File::create(path).expect("create");
    file.set_len(size).expect("set_len");
}

const LIMIT: Duration = Duration::from_secs(20);

/// Every non-file, planted in each place a secret file is read.
#[test]
fn secret_files_that_are_not_files_fail_at_once_saying_what_they_are() {
    let config = ConfigDir::new();
    let dir = config.path();
    mkfifo(&dir.join("fifo"));
    sparse(&dir.join("huge"), 600 * 1024 * 1024);
    std::os::unix::fs::symlink(dir.join("fifo"), dir.join("link-to-fifo")).expect("symlink");
    std::os::unix::fs::symlink("/dev/zero", dir.join("link-to-zero")).expect("symlink");
    let cases = [
        ("fifo", "it is a FIFO, not a regular file"),
        (
            "huge",
            "it is 600 MiB, over the 1 MiB limit for a password file",
        ),
        ("link-to-fifo", "it is a FIFO, not a regular file"),
        (
            "link-to-zero",
            "it is a character device, not a regular file",
        ),
    ];
    for (file, expected) in cases {
        let planted = dir.join(file).display().to_string();
        config.target(
            "t",
            &format!(
                "kind = \"postgres\"\nhost = \"127.0.0.1\"\nsources = [\"file\"]\npassword_file = \"{planted}\"\n"
            ),
        );
        let explain = run_bounded(
            "dbcore",
            &["--config-dir", config.path_str(), "explain", "t"],
            &[("HOME", config.path_str())],
            LIMIT,
        );
        assert_eq!(explain.code, Some(2), "{file}: {explain:?}");
        assert!(explain.stdout.contains(expected), "{file}: {explain:?}");
        assert!(
            explain.stdout.contains(&planted),
            "the error names the path: {explain:?}"
        );
    }
    // The same through the environment, with /dev/zero itself.
    config.target(
        "t",
        "kind = \"postgres\"\nhost = \"127.0.0.1\"\nsources = [\"file\"]\nenv_prefix = \"T\"\n",
    );
    let explain = run_bounded(
        "dbcore",
        &["--config-dir", config.path_str(), "explain", "t"],
        &[
            ("HOME", config.path_str()),
            ("T_PASSWORD_FILE", "/dev/zero"),
        ],
        LIMIT,
    );
    assert!(
        explain
            .stdout
            .contains("cannot read /dev/zero: it is a character device, not a regular file"),
        "{explain:?}"
    );
}

/// pgpass and my.cnf: libpq's and MySQL's rule (a non-regular file is ignored with a warning),
/// and never a hang, also through a symlink.
#[test]
fn pgpass_and_option_files_that_are_fifos_are_ignored_not_waited_on() {
    let config = ConfigDir::new();
    let dir = config.path();
    mkfifo(&dir.join("fifo"));
    std::os::unix::fs::symlink(dir.join("fifo"), dir.join("link")).expect("symlink");
    for (kind, source, var) in [
        ("postgres", "pgpass", "T_PGPASS"),
        ("mysql", "mycnf", "T_MYCNF"),
    ] {
        for planted in ["fifo", "link"] {
            config.target(
                "t",
                &format!(
                    "kind = \"{kind}\"\nhost = \"127.0.0.1\"\nsources = [\"{source}\"]\nenv_prefix = \"T\"\n"
                ),
            );
            let planted = dir.join(planted).display().to_string();
            let explain = run_bounded(
                "dbcore",
                &["--config-dir", config.path_str(), "explain", "t"],
                &[("HOME", config.path_str()), (var, &planted)],
                LIMIT,
            );
            assert_eq!(explain.code, Some(2), "{source}: {explain:?}");
            assert!(
                explain.stdout.contains("not a plain file")
                    || explain.stdout.contains("not a regular file"),
                "{source}: {explain:?}"
            );
        }
    }
}

/// A FIFO or a device as a target file: `dbcore targets` lists it as an error instead of
/// hanging, and opening it says what it is.
#[test]
fn target_files_that_are_not_files_do_not_hang_any_command() {
    let config = ConfigDir::new();
    config.target("good", "kind = \"sqlite\"\npath = \":memory:\"\n");
    mkfifo(&config.path().join("targets/fifo.toml"));
    std::os::unix::fs::symlink("/dev/zero", config.path().join("targets/zero.toml"))
        .expect("symlink");
    let env = [("HOME", config.path_str())];
    let targets = run_bounded(
        "dbcore",
        &["--config-dir", config.path_str(), "targets"],
        &env,
        LIMIT,
    );
    assert_eq!(targets.code, Some(0), "{targets:?}");
    assert!(
        targets.stdout.contains("it is a FIFO, not a regular file"),
        "{targets:?}"
    );
    assert!(
        targets
            .stdout
            .contains("it is a character device, not a regular file"),
        "{targets:?}"
    );
    assert!(targets.stdout.contains("good"), "{targets:?}");
    for name in ["fifo", "zero"] {
        for command in ["explain", "ping", "metadata"] {
            let run = run_bounded(
                "dbcore",
                &["--config-dir", config.path_str(), command, name],
                &env,
                LIMIT,
            );
            assert_eq!(run.code, Some(1), "{command} {name}: {run:?}");
            assert!(run.stderr.contains("not a regular file"), "{run:?}");
        }
    }
}

/// A FIFO, a device or a huge file where the metadata cache lives: the cache is rebuilt (with
/// a warning that says why), and the command succeeds.
#[test]
fn a_cache_file_that_is_not_a_file_is_rebuilt_not_waited_on() {
    let config = ConfigDir::new();
    let db = config.path().join("db.sqlite");
    config.target(
        "lite",
        &format!(
            "kind = \"sqlite\"\npath = \"{}\"\ncache_name = \"lite\"\n",
            db.display()
        ),
    );
    let cache_dir = config.path().join("cache");
    std::fs::create_dir_all(&cache_dir).expect("mkdir");
    let cache = cache_dir.join("lite.dbmeta");
    let env = [
        ("HOME", config.path_str()),
        ("PROJECT_CACHE_DIR", cache_dir.to_str().expect("utf-8")),
    ];
    for (plant, expected) in [
        ("fifo", "it is a FIFO, not a regular file"),
        ("zero", "it is a character device, not a regular file"),
        ("huge", "over the 256 MiB limit for a metadata cache"),
    ] {
        let _ = std::fs::remove_file(&cache);
        match plant {
            "fifo" => mkfifo(&cache),
            "zero" => std::os::unix::fs::symlink("/dev/zero", &cache).expect("symlink"),
            _ => sparse(&cache, 300 * 1024 * 1024),
        }
        let run = run_bounded(
            "dbcore",
            &["--config-dir", config.path_str(), "metadata", "lite"],
            &env,
            LIMIT,
        );
        assert_eq!(run.code, Some(0), "{plant}: {run:?}");
        assert!(run.stderr.contains(expected), "{plant}: {run:?}");
        // The rebuilt cache replaced the planted file with a real one.
        let metadata = std::fs::symlink_metadata(&cache).expect("cache written");
        assert!(
            metadata.is_file(),
            "{plant}: the cache is a regular file again"
        );
    }
}
