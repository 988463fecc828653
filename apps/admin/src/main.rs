//! `dbcore`, the admin CLI: list targets, explain where a credential comes from, ping a target,
//! show metadata, manage a target's password in the OS keyring.
//!
//! Design decision: the CLI is an app like any other — it reaches targets only through
//! `project_core`'s registry (the connection modules and file-only targets), never by building
//! a URL or reading a secret itself; what it prints comes from non-secret types only.
#![allow(
    clippy::print_stdout,
    reason = "a command-line tool prints its results"
)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// `println!` that returns the write error instead of panicking: in a pipeline whose reader
/// has gone (`dbcore explain laptop | head -1`) the command then ends quietly (see `main`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

mod watch;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use project_core::metadata::CacheStatus;
use project_core::metadata_model::{Schema, Table};
use project_core::registry::{self, Explanation};
use project_core::{Context, DbError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(name = "dbcore", version, about = "Inspect and test dbcore targets")]
struct Cli {
    /// Directory holding targets/<name>.toml; it must exist [default: $PROJECT_CONFIG_DIR,
    /// which must exist too, else ./config when it has targets/, else the user config directory]
    #[arg(long, global = true, value_name = "DIR")]
    config_dir: Option<PathBuf>,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum SecretAction {
    /// Store the password (prompted without echo, or one line from standard input), then read
    /// it back to confirm it was stored. The password is never printed.
    #[command(
        after_help = "Examples:\n  dbcore secret set laptop\n  dbcore secret set laptop --stdin < password.txt"
    )]
    Set {
        target: String,
        /// Read one line from standard input instead of prompting.
        #[arg(long)]
        stdin: bool,
    },
    /// Say whether an entry exists, and in which store.
    #[command(after_help = "Example:\n  dbcore secret status laptop")]
    Status { target: String },
    /// Delete the entry.
    #[command(after_help = "Example:\n  dbcore secret delete laptop")]
    Delete { target: String },
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List every target: name, kind, where it lives, user and sources.
    #[command(
        after_help = "Examples:\n  dbcore targets\n  dbcore --config-dir ./config targets --format json"
    )]
    Targets,
    /// Show every setting with its origin and every credential source tried, in order.
    /// Exits 0 when a credential resolved (or none is needed), 2 when none did.
    #[command(
        after_help = "Examples:\n  dbcore explain laptop\n  PROJECT_DB_PGPASS=~/work.pgpass dbcore explain laptop\n  dbcore explain prod --format json"
    )]
    Explain {
        /// Target name, e.g. `laptop`.
        target: String,
    },
    /// Resolve, connect and run a query; print server version, user, database and timings.
    #[command(
        after_help = "Examples:\n  dbcore ping local\n  dbcore ping laptop --format json\n  dbcore ping prod --watch --duration 60s --concurrency 4"
    )]
    Ping {
        /// Target name, e.g. `local`.
        target: String,
        /// Keep running short transactions and report once per interval and at the end:
        /// successes, classified failures, latency percentiles, credential rotations.
        /// Exits non-zero if any query failed.
        #[arg(long)]
        watch: bool,
        /// Report interval for --watch (100ms to 1h).
        #[arg(long, default_value = "1s", value_parser = watch::parse_interval)]
        interval: std::time::Duration,
        /// How long --watch runs (up to 7d).
        #[arg(long, default_value = "30s", value_parser = watch::parse_duration)]
        duration: std::time::Duration,
        /// Concurrent tasks for --watch (1 to 1024).
        #[arg(long, default_value_t = 4, value_parser = watch::parse_concurrency)]
        concurrency: usize,
    },
    /// Print a shell completion script: `dbcore completions bash > /etc/bash_completion.d/dbcore`.
    #[command(
        after_help = "Examples:\n  dbcore completions bash > ~/.local/share/bash-completion/completions/dbcore\n  dbcore completions zsh > ~/.zfunc/_dbcore\n  dbcore completions fish > ~/.config/fish/completions/dbcore.fish"
    )]
    Completions { shell: clap_complete::Shell },
    /// Store, check or delete a target's password in the OS keyring.
    #[command(
        after_help = "Examples:\n  dbcore secret set laptop\n  printf '%s\\n' \"$PW\" | dbcore secret set laptop --stdin\n  dbcore secret status laptop\n  dbcore secret delete laptop"
    )]
    Secret {
        #[command(subcommand)]
        action: SecretAction,
    },
    /// Show the reflected schema: tables, columns, types and keys, and whether the on-disk
    /// cache was used or rebuilt, with the time each step took.
    #[command(
        after_help = "Examples:\n  dbcore metadata local\n  dbcore metadata laptop --table items --format json\n  dbcore metadata laptop --refresh"
    )]
    Metadata {
        /// Target name, e.g. `local`.
        target: String,
        /// Reflect now and rewrite the cache, whatever it holds.
        #[arg(long)]
        refresh: bool,
        /// Show only this table: NAME in any schema, or SCHEMA.NAME.
        #[arg(long, value_name = "[SCHEMA.]NAME")]
        table: Option<String>,
    },
}

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
    let context = Context::for_app(cli.config_dir.as_deref(), Arc::new(adapters_env()))?;
    project_core::configure(context.clone());
    match cli.command {
        Command::Targets => targets(&context, cli.format),
        Command::Explain { target } => explain(&context, &target, cli.format).await,
        Command::Ping {
            target,
            watch: false,
            ..
        } => ping(&context, &target, cli.format).await,
        Command::Ping {
            target,
            watch: true,
            interval,
            duration,
            concurrency,
        } => watch::run(&context, &target, interval, duration, concurrency).await,
        Command::Secret { action } => secret(&context, action, cli.format).await,
        Command::Completions { .. } => Ok(ExitCode::SUCCESS),
        Command::Metadata {
            target,
            refresh,
            table,
        } => metadata(&context, &target, refresh, table.as_deref(), cli.format).await,
    }
}

/// The process environment, through the project's one environment shim.
fn adapters_env() -> project_core::context::ProcessEnv {
    project_core::context::ProcessEnv
}

/// `config directory: PATH (from REASON)`, so that nobody has to guess which was read.
fn print_config_dir(context: &Context, indent: &str) -> Result<()> {
    match context.config() {
        Some(c) => outln!(
            "{indent}config directory: {} (from {})",
            c.path.display(),
            c.chosen_by
        ),
        None => outln!("{indent}config directory: none (no user config directory on this system)"),
    }
    Ok(())
}

/// A metadata step as a JSON key: `read cache (after the fingerprint)` is `read_cache`.
fn step_key(step: &str) -> String {
    step.split('(')
        .next()
        .unwrap_or(step)
        .trim()
        .replace(' ', "_")
}

/// Which tables `metadata --table` shows: `NAME` in any schema, or `SCHEMA.NAME` (as
/// `dbcore-ingest` takes) when SCHEMA is one of the reflected schemas.
struct TableFilter<'a> {
    schema: Option<&'a str>,
    name: &'a str,
}

impl<'a> TableFilter<'a> {
    fn parse(only: &'a str, schemas: &[Schema]) -> Self {
        match only.split_once('.') {
            Some((schema, name)) if schemas.iter().any(|s| s.name == schema) => Self {
                schema: Some(schema),
                name,
            },
            _ => Self {
                schema: None,
                name: only,
            },
        }
    }
}

fn targets(context: &Context, format: Format) -> Result<ExitCode> {
    let mut rows = Vec::new();
    for name in registry::names(context) {
        let row = match registry::settings(&name, context) {
            Ok(s) => json!({
                "name": name,
                "kind": s.kind().map(|k| k.as_str()),
                "where": s.location(),
                "user": s.identity().user,
                "sources": project_core::chain::order(&s).iter().map(|x| x.as_str()).collect::<Vec<_>>(),
                "defined_in": s.file().map_or_else(|| "code".to_owned(), |p| p.display().to_string()),
            }),
            Err(error) => json!({ "name": name, "error": error.to_string() }),
        };
        rows.push(row);
    }
    if format == Format::Json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_config_dir(context, "")?;
    let text = |row: &serde_json::Value, key: &str| row[key].as_str().unwrap_or("-").to_owned();
    // A target whose settings are broken is listed by name with its error.
    let lines: Vec<Result<[String; 5], (String, String)>> = rows
        .iter()
        .map(|row| match row["error"].as_str() {
            Some(error) => Err((text(row, "name"), error.to_owned())),
            None => {
                let sources: Vec<&str> = row["sources"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
                    .unwrap_or_default();
                let sources = if sources.is_empty() {
                    "-".to_owned()
                } else {
                    sources.join(", ")
                };
                Ok([
                    text(row, "name"),
                    text(row, "kind"),
                    text(row, "where"),
                    text(row, "user"),
                    sources,
                ])
            }
        })
        .collect();
    let header = ["NAME", "KIND", "WHERE", "USER", "SOURCES"].map(str::to_owned);
    // Each column as wide as its widest cell, so that long paths do not push rows apart.
    let mut widths = [0usize; 4];
    for cells in std::iter::once(&header).chain(lines.iter().filter_map(|l| l.as_ref().ok())) {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for (name, _) in lines.iter().filter_map(|l| l.as_ref().err()) {
        widths[0] = widths[0].max(name.chars().count());
    }
    let [name_w, kind_w, where_w, user_w] = widths;
    for line in std::iter::once(Ok(header)).chain(lines) {
        match line {
            Ok([name, kind, place, user, sources]) => outln!(
                "{name:<name_w$} {kind:<kind_w$} {place:<where_w$} {user:<user_w$} {sources}"
            ),
            Err((name, error)) => outln!("{name:<name_w$} error: {error}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn explain(context: &Context, target: &str, format: Format) -> Result<ExitCode> {
    let explanation = registry::explain(target, context).await?;
    let resolved = !explanation.needs_credential || explanation.provenance.is_some();
    if format == Format::Json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&explain_json(target, context, &explanation))?
        );
    } else {
        print_explanation(target, context, &explanation)?;
    }
    Ok(if resolved {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn explain_json(target: &str, context: &Context, e: &Explanation) -> serde_json::Value {
    let settings: serde_json::Map<String, serde_json::Value> = e
        .entries
        .iter()
        .map(|entry| {
            (
                entry.key.clone(),
                json!({ "value": entry.value, "origin": entry.origin.to_string() }),
            )
        })
        .collect();
    json!({
        "target": target,
        "kind": e.settings.kind().map(|k| k.as_str()),
        "config_dir": context.config().map(|c| json!({
            "path": c.path.display().to_string(),
            "chosen_by": c.chosen_by.as_str(),
        })),
        "settings_file": e.settings.file().map(|f| f.display().to_string()),
        "settings": settings,
        "attempts": e.attempts.iter().map(|a| json!({
            "source": a.source,
            "outcome": a.outcome.as_str(),
            "detail": a.detail,
        })).collect::<Vec<_>>(),
        "credential": e.provenance.as_ref().map(|p| json!({
            "source": p.source,
            "username": p.username,
        })),
        "credential_needed": e.needs_credential,
        "error": e.error,
        "not_consulted": not_consulted(e),
        "source_details": e.source_details.iter().map(|(name, details)| {
            let details: serde_json::Map<String, serde_json::Value> =
                details.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
            (name.clone(), serde_json::Value::Object(details))
        }).collect::<serde_json::Map<_, _>>(),
        "lease": e.lease.map(|(ttl, renewable)| json!({"ttl_seconds": ttl.as_secs(), "renewable": renewable})),
    })
}

/// The configured sources the chain never reached because an earlier one answered (found, or
/// stopped it with an error): a different password there goes unnoticed, so explain says so.
fn not_consulted(e: &Explanation) -> Vec<&'static str> {
    if !e.needs_credential {
        return Vec::new();
    }
    e.order
        .iter()
        .map(|s| s.as_str())
        .filter(|name| !e.attempts.iter().any(|a| a.source == *name))
        .collect()
}

fn print_explanation(target: &str, context: &Context, e: &Explanation) -> Result<()> {
    let kind = e.settings.kind().map_or("?", |k| k.as_str());
    outln!("target {target} ({kind})");
    print_config_dir(context, "  ")?;
    if let Some(file) = e.settings.file() {
        outln!("  settings file: {}", file.display());
    }
    outln!("settings:");
    for entry in &e.entries {
        outln!("  {:<26} {:<32} {}", entry.key, entry.shown(), entry.origin);
    }
    if !e.needs_credential {
        outln!("credential: none needed for {kind}");
        return Ok(());
    }
    outln!("sources, in order:");
    if e.attempts.is_empty() && e.error.is_none() {
        outln!("  (none configured)");
    }
    for (i, a) in e.attempts.iter().enumerate() {
        outln!("  {}. {} ({}): {}", i + 1, a.source, a.outcome, a.detail);
    }
    let skipped = not_consulted(e);
    if !skipped.is_empty() && !e.attempts.is_empty() {
        outln!(
            "  not consulted: {} (an earlier source answered)",
            skipped.join(", ")
        );
    }
    if let Some(error) = &e.error {
        outln!("error: {error}");
    }
    for (source, details) in &e.source_details {
        let facts: Vec<String> = details.iter().map(|(k, v)| format!("{k} {v}")).collect();
        outln!("{source}: {}", facts.join(", "));
    }
    if let Some((ttl, renewable)) = e.lease {
        let renewable = if renewable {
            "renewable"
        } else {
            "not renewable"
        };
        outln!(
            "lease: {}s to live, {renewable} (explain revoked the lease it obtained)",
            ttl.as_secs()
        );
    }
    match &e.provenance {
        Some(p) => outln!(
            "credential: user {} from {} ({})",
            p.username,
            p.source,
            p.origin
        ),
        None => outln!("credential: none resolved; a connection would send no password"),
    }
    Ok(())
}

async fn ping(context: &Context, target: &str, format: Format) -> Result<ExitCode> {
    let started = Instant::now();
    let connection = match registry::open(target, context).await {
        Ok(connection) => connection,
        Err(error) => return report_ping_error(target, format, &error),
    };
    let connect_time = started.elapsed();
    let round_trip_started = Instant::now();
    let info = match connection.ping().await {
        Ok(info) => info,
        Err(error) => return report_ping_error(target, format, &error),
    };
    let round_trip = round_trip_started.elapsed();
    let where_ = connection.settings().location();
    let provenance = connection.provenance().cloned();
    connection.close().await;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    if format == Format::Json {
        let out = json!({
            "target": target,
            "ok": true,
            "kind": connection.kind().as_str(),
            "where": where_,
            "server_version": info.version,
            "current_user": info.current_user,
            "database": info.database,
            "connect_ms": ms(connect_time),
            "round_trip_ms": ms(round_trip),
            "credential": provenance.as_ref().map(|p| json!({"source": p.source, "username": p.username})),
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        outln!("ok: {target} ({}) at {where_}", connection.kind());
        outln!("  server:     {}", info.version);
        if !info.current_user.is_empty() {
            outln!("  user:       {}", info.current_user);
        }
        outln!("  database:   {}", info.database);
        match &provenance {
            Some(p) => outln!("  credential: {} ({})", p.source, p.origin),
            None if connection.kind().uses_credentials() => {
                outln!("  credential: none (the server asked for no password)")
            }
            None => outln!("  credential: none needed"),
        }
        outln!(
            "  connect:    {:.1} ms (resolve + connect)\n  round trip: {:.2} ms",
            ms(connect_time),
            ms(round_trip)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn report_ping_error(target: &str, format: Format, error: &DbError) -> Result<ExitCode> {
    let kind = error
        .connect_error()
        .map_or("configuration", |e| e.kind.as_str());
    if format == Format::Json {
        let out = json!({
            "target": target,
            "ok": false,
            "error": { "kind": kind, "message": error.to_string() },
        });
        outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    eprintln!("error: {error}");
    Ok(ExitCode::FAILURE)
}

async fn metadata(
    context: &Context,
    target: &str,
    refresh: bool,
    only: Option<&str>,
    format: Format,
) -> Result<ExitCode> {
    let connection = match registry::open(target, context).await {
        Ok(connection) => connection,
        Err(error) => return report_ping_error(target, format, &error),
    };
    let (model, report) = connection.metadata_with_report(refresh).await?;
    connection.close().await;
    let filter = only.map(|only| TableFilter::parse(only, &model.schemas));
    let schemas: Vec<&Schema> = model
        .schemas
        .iter()
        .filter(|s| {
            filter
                .as_ref()
                .is_none_or(|f| f.schema.is_none_or(|x| x == s.name))
        })
        .collect();
    let wanted = |t: &&Table| filter.as_ref().is_none_or(|f| t.name == f.name);
    if let Some(name) = only
        && !schemas.iter().any(|s| s.tables.iter().any(|t| wanted(&t)))
    {
        anyhow::bail!(
            "target `{target}` has no table `{name}` in schemas {}",
            connection.settings().schemas().join(", ")
        );
    }
    let path = report.path.as_ref().map(|p| p.display().to_string());
    if format == Format::Json {
        let out = json!({
            "target": target,
            "cache": {
                "path": path,
                "status": report.status.as_str(),
                "reason": match &report.status { CacheStatus::Rebuilt(r) => Some(r.as_str()), _ => None },
            },
            "timings_ms": report.steps.iter().map(|(step, d)| (step_key(step), json!((d.as_secs_f64() * 1_000_000.0).round() / 1000.0))).collect::<serde_json::Map<_, _>>(),
            "schemas": schemas.iter().map(|s| json!({
                "name": s.name,
                "tables": s.tables.iter().filter(wanted).map(table_json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    for schema in &schemas {
        outln!("schema {} ({} tables)", schema.name, schema.tables.len());
        for table in schema.tables.iter().filter(wanted) {
            outln!("  {} {}", table.kind.as_str(), table.name);
            for c in &table.columns {
                let key = if table.primary_key.contains(&c.name) {
                    " [pk]"
                } else {
                    ""
                };
                let null = if c.nullable { "null" } else { "not null" };
                let default = c
                    .default
                    .as_deref()
                    .map(|d| format!(" default {d}"))
                    .unwrap_or_default();
                outln!("    {:<24} {} {null}{default}{key}", c.name, c.data_type);
            }
            for fk in &table.foreign_keys {
                outln!(
                    "    foreign key ({}) references {}.{} ({})",
                    fk.columns.join(", "),
                    fk.referenced_schema,
                    fk.referenced_table,
                    fk.referenced_columns.join(", ")
                );
            }
            for ix in &table.indexes {
                let unique = if ix.unique { "unique " } else { "" };
                outln!("    {unique}index {} ({})", ix.name, ix.columns.join(", "));
            }
        }
    }
    let status = match &report.status {
        CacheStatus::Memory => "current in memory".to_owned(),
        CacheStatus::Used => "used (fingerprint matched)".to_owned(),
        CacheStatus::Rebuilt(reason) => format!("rebuilt: {reason}"),
    };
    outln!(
        "cache: {} — {status}",
        path.as_deref().unwrap_or("(no cache directory)")
    );
    let steps: Vec<String> = report
        .steps
        .iter()
        .map(|(step, d)| format!("{step} {:.1} ms", d.as_secs_f64() * 1000.0))
        .collect();
    outln!("timings: {}", steps.join(", "));
    Ok(ExitCode::SUCCESS)
}

fn table_json(table: &Table) -> serde_json::Value {
    json!({
        "name": table.name,
        "kind": table.kind.as_str(),
        "columns": table.columns.iter().map(|c| json!({
            "name": c.name,
            "type": c.data_type,
            "nullable": c.nullable,
            "default": c.default,
        })).collect::<Vec<_>>(),
        "primary_key": table.primary_key,
        "foreign_keys": table.foreign_keys.iter().map(|fk| json!({
            "name": fk.name,
            "columns": fk.columns,
            "references": {
                "schema": fk.referenced_schema,
                "table": fk.referenced_table,
                "columns": fk.referenced_columns,
            },
        })).collect::<Vec<_>>(),
        "unique_constraints": table.unique_constraints.iter().map(|u| json!({"name": u.name, "columns": u.columns})).collect::<Vec<_>>(),
        "indexes": table.indexes.iter().map(|ix| json!({
            "name": ix.name,
            "columns": ix.columns,
            "unique": ix.unique,
        })).collect::<Vec<_>>(),
    })
}

/// Reads the new password: one line from standard input, or a prompt without echo.
fn read_password(target: &str, user: &str, from_stdin: bool) -> Result<SecretString> {
    let line = if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line
    } else {
        // rpassword prompts on /dev/tty; without one it fails with "No such device or address".
        if std::fs::File::open("/dev/tty").is_err() {
            anyhow::bail!(
                "there is no terminal to prompt for the password on; give it on standard input \
                 with --stdin, e.g. `printf '%s\\n' \"$PW\" | dbcore secret set {target} --stdin`"
            );
        }
        rpassword::prompt_password(format!("password for {user} on target {target}: "))?
    };
    let secret = SecretString::from(line.trim_end_matches(['\n', '\r']).to_owned());
    if secret.expose_secret().is_empty() {
        anyhow::bail!("the password is empty; nothing was stored");
    }
    Ok(secret)
}

async fn secret(context: &Context, action: SecretAction, format: Format) -> Result<ExitCode> {
    let target = match &action {
        SecretAction::Set { target, .. }
        | SecretAction::Status { target }
        | SecretAction::Delete { target } => target.clone(),
    };
    let account = project_core::secrets::keyring_account(&target, context).await?;
    let store = format!("{} ({})", account.store.name, account.store.why);
    let where_ = format!("service {}, account {}", account.service, account.user);
    let (done, exists) = match action {
        SecretAction::Set { stdin, .. } => {
            let password = read_password(&target, &account.user, stdin)?;
            let verified =
                tokio::task::spawn_blocking(move || account.set_and_verify(&password)).await??;
            if !verified {
                anyhow::bail!(
                    "stored the password in {store}, but reading it back gave something else"
                );
            }
            (
                format!(
                    "stored the password for target {target} in {store}, {where_}; read back and verified"
                ),
                true,
            )
        }
        SecretAction::Status { .. } => {
            let exists = tokio::task::spawn_blocking(move || account.exists()).await??;
            let said = if exists {
                "an entry exists"
            } else {
                "no entry"
            };
            (
                format!("{said} for target {target} in {store}, {where_}"),
                exists,
            )
        }
        SecretAction::Delete { .. } => {
            let deleted = tokio::task::spawn_blocking(move || account.delete()).await??;
            let said = if deleted {
                "deleted the entry"
            } else {
                "there was no entry to delete"
            };
            (
                format!("{said} for target {target} in {store}, {where_}"),
                false,
            )
        }
    };
    if format == Format::Json {
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"target": target, "message": done, "exists": exists})
            )?
        );
    } else {
        outln!("{done}");
    }
    Ok(ExitCode::SUCCESS)
}
