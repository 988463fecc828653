//! `viewer`: browse a target's schemas, tables and rows in a browser, read-only.
//!
//! Design decision: read-only by construction, not by convention. Rows are read in read-only
//! transactions (PostgreSQL `SET TRANSACTION READ ONLY`, MySQL `START TRANSACTION READ ONLY`,
//! SQLite connections with `query_only`), under a statement timeout and a row limit per page.
//! Identifiers in SQL come only from the target's metadata, never from the request; a value
//! typed by a visitor is always a bound parameter; every byte printed is HTML-escaped.
//!
//! Design decision: a token is required always, on loopback too. Loopback is not private: any
//! local user can connect to it, and any web page the user visits can make the browser send a
//! GET to it. The `Host` check stops DNS rebinding (a page cannot read the answers), and
//! opening only configured targets means a GET can no longer send a secret anywhere the
//! configuration does not name, but without a token another local user would still read every
//! database this user can, and a page could still make the viewer open pools and run queries.
//! So when no token is given on loopback, the viewer makes a random one and prints its login
//! address once, on its own terminal (as Jupyter does); beyond loopback a token must be given.
//!
//! Layers, each in its own file: `auth` (the `Host` check, the token exchanged once for an
//! `HttpOnly; SameSite=Strict` cookie, protective headers), `token` (where the token comes
//! from: `DBCORE_VIEWER_TOKEN` or `--token-file`, never the command line), `targets` (only
//! configured targets, one pool each), `queries` (checked paging, the SELECT, the read-only
//! fetch), `routes` (the router: which checks stand in front of which pages), `targets_page`
//! (the target list with each target's credential, lease and pool), `schema_pages` (tables,
//! columns), `rows_page` (a table's rows), `html` (escaping) and `style` (the stylesheet).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a server says where it listens"
)]

mod auth;
mod html;
#[cfg(test)]
mod in_process_tests;
mod queries;
mod routes;
mod rows_page;
mod schema_pages;
mod style;
mod targets;
mod targets_page;
mod token;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use project_core::Context;

use crate::auth::Guard;
use crate::targets::Targets;
use crate::token::{TOKEN_VAR, Token};

#[derive(Parser, Debug)]
#[command(
    name = "dbcore-viewer",
    version,
    about = "A read-only web view of dbcore targets",
    after_help = "The token comes from DBCORE_VIEWER_TOKEN or --token-file, never the command line; \
                  on loopback without one, the viewer makes one and prints its login address.\n\n\
                  Examples:\n  dbcore-viewer                       # prints http://127.0.0.1:8080/login?token=…\n  \
                  dbcore-viewer --listen 127.0.0.1:9000 --token-file ~/.config/dbcore/viewer-token\n  \
                  DBCORE_VIEWER_TOKEN=\"$(openssl rand -hex 16)\" dbcore-viewer --listen 0.0.0.0:8080 --allow-host myhost.lan"
)]
struct Cli {
    /// Directory holding targets/<name>.toml (as for dbcore).
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A file holding the token (one trailing newline is trimmed); or set DBCORE_VIEWER_TOKEN.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Refused: a command line is visible to every local user.
    #[arg(long, hide = true, value_name = "TOKEN")]
    token: Option<String>,
    /// Another `Host` browsers use for this viewer (`name` or `name:port`); repeatable.
    /// Needed when listening on 0.0.0.0 or ::.
    #[arg(long = "allow-host", value_name = "HOST[:PORT]")]
    allow_host: Vec<String>,
    /// Serve health metrics of the targets it opened (pools, credential sources, leases) in
    /// Prometheus' text format at http://ADDR:PORT/metrics, apart from the pages and their
    /// login.
    #[arg(long, value_name = "ADDR:PORT", value_parser = app_main::parse_metrics_addr)]
    metrics: Option<SocketAddr>,
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) targets: Arc<Targets>,
    pub(crate) guard: Guard,
}

async fn serve(cli: Cli) -> Result<()> {
    let env: Arc<dyn project_core::context::EnvPort> = Arc::new(project_core::context::ProcessEnv);
    let given = token::load(env.as_ref(), cli.token_file.as_deref(), cli.token.is_some())?;
    let generated = given.is_none();
    let token = match given {
        Some(token) => token,
        None if cli.listen.ip().is_loopback() => Token::generate()?,
        None => bail!(
            "listening on {} (beyond loopback) requires a token: set {TOKEN_VAR} or use \
             --token-file PATH",
            cli.listen
        ),
    };
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    let bound = listener.local_addr()?;
    let guard = Guard::new(bound, &cli.allow_host, token)?;
    let context = Context::for_app(cli.config_dir.as_deref(), env)?;
    project_core::configure(context.clone());
    let origin = guard.origin().to_owned();
    let metrics = match cli.metrics {
        Some(addr) => {
            let bound = app_main::serve_metrics(addr).await?;
            format!("; metrics at http://{bound}/metrics")
        }
        None => String::new(),
    };
    if generated {
        println!(
            "dbcore-viewer: listening on {origin}{metrics}; log in at {origin}/login?token={}",
            guard.token().expose()
        );
    } else {
        println!(
            "dbcore-viewer: listening on {origin}{metrics}; log in at {origin}/login with the token"
        );
    }
    let app = Arc::new(App {
        targets: Arc::new(Targets::new(context)),
        guard,
    });
    // A browser opens about six connections per origin; a few operators' tabs fit easily.
    let limits = app_main::HttpLimits {
        header_read_timeout: std::time::Duration::from_secs(10),
        max_connections: 128,
    };
    app_main::serve_http(listener, routes::router(app), limits).await;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    app_main::main("dbcore-viewer", async {
        serve(cli).await.map(|()| std::process::ExitCode::SUCCESS)
    })
}
