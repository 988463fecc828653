//! The child process: started with its environment, told about signals, and its exit status
//! turned into ours.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::environment::ChildEnv;

/// A command that could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot run {program}: {error}")]
pub struct SpawnFailure {
    program: String,
    error: std::io::Error,
}

impl SpawnFailure {
    /// The shell's status for it: 127 not found, 126 found but not runnable.
    pub fn exit_code(&self) -> u8 {
        match self.error.kind() {
            std::io::ErrorKind::NotFound => 127,
            _ => 126,
        }
    }
}

/// Starts `command` with `env` applied to ours, and `extra` (the `--url-var` URL) on top.
pub fn spawn(
    command: &[OsString],
    env: &ChildEnv,
    extra: Option<(&str, &str)>,
) -> Result<Child, SpawnFailure> {
    let Some((program, args)) = command.split_first() else {
        return Err(SpawnFailure {
            program: "nothing".into(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no command given after --"),
        });
    };
    let mut child = Command::new(program);
    child.args(args);
    for name in &env.removed {
        child.env_remove(name);
    }
    child.envs(env.set.iter().map(|(name, value)| (name, value)));
    if let Some((name, value)) = extra {
        child.env(name, value);
    }
    child.spawn().map_err(|error| SpawnFailure {
        program: program.to_string_lossy().into_owned(),
        error,
    })
}

/// Sends `signal` to the child, if it is still there.
pub fn signal(child: &Child, signal: Signal) {
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        // ESRCH (it has just ended) is no error here: its exit is collected next.
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// Whether a terminal delivers this signal to the child itself: the child shares our process
/// group, and when that group is the terminal's foreground, Ctrl-C and Ctrl-\ reach it
/// directly — forwarding would deliver them twice (a second SIGINT can interrupt the
/// handler of the first).
pub fn terminal_signals_the_child() -> bool {
    nix::unistd::tcgetpgrp(std::io::stdin()).is_ok_and(|fg| fg == nix::unistd::getpgrp())
}

/// The shell's convention: the child's code, or 128 + the signal that ended it.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + (signal & 0x7f)).unwrap_or(255),
        (None, None) => 1,
    }
}

/// Reads a signal name for `--on-rotate signal=NAME`: `HUP`, `SIGHUP`, `usr1`, any case.
pub fn parse_signal(name: &str) -> Result<Signal, String> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<Signal>()
        .map_err(|_| format!("`{name}` is not a signal name (e.g. HUP, USR1, TERM)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137, "killed by SIGKILL");
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
    }

    #[test]
    fn signal_names_in_any_spelling() {
        assert_eq!(parse_signal("hup"), Ok(Signal::SIGHUP));
        assert_eq!(parse_signal("SIGUSR1"), Ok(Signal::SIGUSR1));
        assert_eq!(
            parse_signal("nope").unwrap_err(),
            "`nope` is not a signal name (e.g. HUP, USR1, TERM)"
        );
        assert!(parse_signal("").is_err());
        assert!(parse_signal("SIG").is_err());
    }
}
