//! The command line: every subcommand, flag and help example, as clap reads them.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "dbcore", version, about = "Inspect and test dbcore targets")]
pub struct Cli {
    /// Directory holding targets/<name>.toml; it must exist [default: $PROJECT_CONFIG_DIR,
    /// which must exist too, else ./config when it has targets/, else the user config directory]
    #[arg(long, global = true, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum SecretAction {
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
pub enum Command {
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
        #[arg(long, default_value = "1s", value_parser = crate::watch::parse_interval)]
        interval: std::time::Duration,
        /// How long --watch runs (up to 7d).
        #[arg(long, default_value = "30s", value_parser = crate::watch::parse_duration)]
        duration: std::time::Duration,
        /// Concurrent tasks for --watch (1 to 1024).
        #[arg(long, default_value_t = 4, value_parser = crate::watch::parse_concurrency)]
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

impl SecretAction {
    pub fn target(&self) -> &str {
        match self {
            SecretAction::Set { target, .. }
            | SecretAction::Status { target }
            | SecretAction::Delete { target } => target,
        }
    }
}
