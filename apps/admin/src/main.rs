//! `dbcore`, the admin CLI: list targets, explain where a credential comes from, ping a target,
//! show metadata, manage a target's password in the OS keyring.
//!
//! Design decision: the CLI is an app like any other — it reaches targets only through
//! `project_core`'s registry (the connection modules and file-only targets), never by building
//! a URL or reading a secret itself; what it prints comes from non-secret types only. Each
//! command builds one view struct: `--format json` serializes it, the text is printed from it.
#![allow(
    clippy::print_stdout,
    reason = "a command-line tool prints its results"
)]

use std::process::ExitCode;
use std::sync::Arc;

/// `println!` that returns the write error instead of panicking: in a pipeline whose reader
/// has gone (`dbcore explain laptop | head -1`) the command then ends quietly (see `main`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

mod cli;
mod exec;
mod explain;
mod metadata_cmd;
mod output;
mod ping;
mod proxy;
mod secret;
mod targets;
mod watch;
mod watch_writes;

use anyhow::Result;
use clap::Parser;
use cli::{Cli, Command};
use project_core::Context;

fn main() -> ExitCode {
    let cli = Cli::parse();
    app_main::main("", run(cli))
}

async fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Completions { shell } = cli.command {
        use clap::CommandFactory;
        use std::io::Write as _;
        // Generated into memory first: clap_complete panics when its writer fails.
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "dbcore", &mut script);
        std::io::stdout().lock().write_all(&script)?;
        return Ok(ExitCode::SUCCESS);
    }
    let env = Arc::new(project_core::context::ProcessEnv);
    let context = Context::for_app(cli.config_dir.as_deref(), env)?;
    project_core::configure(context.clone());
    match cli.command {
        Command::Targets => targets::run(&context, cli.format),
        Command::Explain { target } => explain::run(&context, &target, cli.format).await,
        Command::Ping {
            target,
            watch: false,
            ..
        } => ping::run(&context, &target, cli.format).await,
        Command::Ping {
            target,
            watch: true,
            interval,
            duration,
            concurrency,
            write,
            retry,
            metrics,
        } => {
            start_metrics(metrics).await?;
            let options = watch::WatchOptions {
                interval,
                duration,
                concurrency,
                write,
                retry,
            };
            watch::run(&context, &target, options).await
        }
        Command::Secret { action } => secret::run(&context, action, cli.format).await,
        Command::Completions { .. } => Ok(ExitCode::SUCCESS),
        Command::Exec {
            target,
            url_var,
            on_rotate,
            command,
        } => {
            let args = exec::ExecArgs {
                target,
                url_var,
                on_rotate,
                command,
            };
            exec::run(&context, args).await
        }
        Command::Proxy {
            target,
            socket_dir,
            port,
            shutdown_timeout,
            listen,
            client_password_file,
            metrics,
        } => {
            start_metrics(metrics).await?;
            let args = proxy::ProxyArgs {
                target,
                socket_dir,
                port,
                shutdown_timeout,
                listen,
                client_password_file,
            };
            proxy::run(&context, args).await
        }
        Command::Metadata {
            target,
            refresh,
            table,
        } => metadata_cmd::run(&context, &target, refresh, table.as_deref(), cli.format).await,
    }
}

/// Serves `--metrics` when it was given, and says where on stderr (port 0 picks one).
#[allow(
    clippy::print_stderr,
    reason = "where the metrics are, beside the command's output"
)]
async fn start_metrics(addr: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    if let Some(addr) = addr {
        let bound = app_main::serve_metrics(addr).await?;
        eprintln!("dbcore: metrics at http://{bound}/metrics");
    }
    Ok(())
}
