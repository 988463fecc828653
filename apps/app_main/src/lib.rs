//! What every dbcore binary does around its work, written once: warnings to stderr (coloured
//! on a terminal, `RUST_LOG` to change), a multi-threaded runtime, and one way to end — the
//! status `run` chose, a quiet exit when the reader of our output went away, or one line
//! naming every cause once.
//!
//! Design decision: apps keep their own `Cli` and `run`; only the frame around them is shared,
//! so that a new binary cannot get the error format or the closed-pipe rule wrong.

mod http_serve;
mod metrics_endpoint;

pub use http_serve::{HttpLimits, serve_http};
pub use metrics_endpoint::{parse_metrics_addr, serve_metrics};

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Runs `run` on a new runtime and turns its outcome into the process status. Errors are
/// printed as `PREFIX: error: …` (`error: …` when `prefix` is empty).
#[allow(
    clippy::print_stderr,
    reason = "the one place a binary reports its failure"
)]
pub fn main(prefix: &str, run: impl Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    tracing_subscriber::fmt()
        // Warnings (an ignored pgpass file, a rebuilt cache) show by default.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let label = if prefix.is_empty() {
        "error".to_owned()
    } else {
        format!("{prefix}: error")
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{label}: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run) {
        Ok(code) => code,
        // The reader of our output went away: nothing more to say, and no one to say it to.
        Err(error) if is_closed_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{label}: {}", project_core::one_line(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Whether a failure is a write to a pipe whose reader has gone (`dbcore explain x | head -1`).
pub fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_pipe_somewhere_in_the_chain_is_a_closed_pipe() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_closed_pipe(&anyhow::Error::new(pipe).context("writing")));
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(!is_closed_pipe(&anyhow::Error::new(other)));
        assert!(!is_closed_pipe(&anyhow::anyhow!(
            "broken pipe, in words only"
        )));
    }
}
