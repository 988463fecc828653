//! `dbcore ping TARGET`: resolve, connect, run one query, and say what answered and how fast.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use project_core::{Context, DbError, registry};
use serde::Serialize;

use crate::cli::Format;
use crate::output::{CredentialView, print_json};

#[derive(Debug, Serialize)]
struct PingView<'a> {
    /// The server that answered, as it sees itself (PostgreSQL): which host of several.
    answered_by: Option<&'a str>,
    connect_ms: f64,
    credential: Option<CredentialView<'a>>,
    current_user: &'a str,
    database: &'a str,
    kind: &'static str,
    /// Whether this kind logs in at all: a missing credential means something different.
    #[serde(skip)]
    logs_in: bool,
    ok: bool,
    round_trip_ms: f64,
    server_version: &'a str,
    standby: Option<bool>,
    target: &'a str,
    #[serde(rename = "where")]
    place: String,
}

/// A target that could not be opened or queried.
#[derive(Debug, Serialize)]
struct FailureView<'a> {
    error: ErrorView<'a>,
    ok: bool,
    target: &'a str,
}

#[derive(Debug, Serialize)]
struct ErrorView<'a> {
    /// The classified connect failure, or `configuration` for anything before connecting.
    kind: &'a str,
    message: String,
}

pub async fn run(context: &Context, target: &str, format: Format) -> Result<ExitCode> {
    let started = Instant::now();
    let connection = match registry::open(target, context).await {
        Ok(connection) => connection,
        Err(error) => return report_open_error(target, format, &error),
    };
    let connect_time = started.elapsed();
    let round_trip_started = Instant::now();
    let info = match connection.ping().await {
        Ok(info) => info,
        Err(error) => return report_open_error(target, format, &error),
    };
    let round_trip = round_trip_started.elapsed();
    let provenance = connection.provenance().cloned();
    connection.close().await;
    let view = PingView {
        answered_by: info.answered_by.as_deref(),
        connect_ms: ms(connect_time),
        credential: provenance.as_ref().map(CredentialView::of),
        current_user: &info.current_user,
        database: &info.database,
        kind: connection.kind().as_str(),
        logs_in: connection.kind().uses_credentials(),
        ok: true,
        round_trip_ms: ms(round_trip),
        server_version: &info.version,
        standby: info.standby,
        target,
        place: connection.settings().location(),
    };
    if format == Format::Json {
        print_json(&view)?;
    } else {
        view.print_text()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl PingView<'_> {
    fn print_text(&self) -> Result<()> {
        outln!("ok: {} ({}) at {}", self.target, self.kind, self.place);
        outln!("  server:     {}", self.server_version);
        if let Some(answered_by) = self.answered_by {
            let role = match self.standby {
                Some(true) => " (a standby)",
                Some(false) => " (a primary)",
                None => "",
            };
            outln!("  answered:   {answered_by}{role}");
        }
        if !self.current_user.is_empty() {
            outln!("  user:       {}", self.current_user);
        }
        outln!("  database:   {}", self.database);
        match &self.credential {
            Some(c) => outln!("  credential: {} ({})", c.source, c.origin),
            None if self.logs_in => {
                outln!("  credential: none (the server asked for no password)")
            }
            None => outln!("  credential: none needed"),
        }
        outln!(
            "  connect:    {:.1} ms (resolve + connect)\n  round trip: {:.2} ms",
            self.connect_ms,
            self.round_trip_ms
        );
        Ok(())
    }
}

/// A target that failed to open (or to answer): JSON on standard output when asked for, and
/// the error on standard error either way; the command fails.
pub fn report_open_error(target: &str, format: Format, error: &DbError) -> Result<ExitCode> {
    if format == Format::Json {
        print_json(&FailureView {
            error: ErrorView {
                kind: error
                    .connect_error()
                    .map_or("configuration", |e| e.kind.as_str()),
                message: error.to_string(),
            },
            ok: false,
            target,
        })?;
    }
    eprintln!("error: {error}");
    Ok(ExitCode::FAILURE)
}
