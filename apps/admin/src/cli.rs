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
        after_help = "Examples:\n  dbcore ping local\n  dbcore ping laptop --format json\n  dbcore ping prod --watch --duration 60s --concurrency 4\n  dbcore ping prod --watch --write --retry --duration 2m\n  dbcore ping prod --watch --duration 1h --metrics 127.0.0.1:9187"
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
        /// With --watch: each transaction inserts one row into a table this run creates
        /// (and drops at the end); the report compares the table with what was
        /// acknowledged, and a lost acknowledged write fails the run.
        #[arg(long, requires = "watch")]
        write: bool,
        /// With --watch: run transactions through the retrying scope (conflicts and
        /// connections lost before COMMIT are retried with backoff; a failure during COMMIT
        /// is reported as commit outcome unknown, never retried). The report gives the
        /// retries and each outage, from the first failure to the next success.
        #[arg(long, requires = "watch")]
        retry: bool,
        /// With --watch: serve health metrics (pools, credential sources, leases) in
        /// Prometheus' text format at http://ADDR:PORT/metrics while it runs.
        #[arg(long, requires = "watch", value_name = "ADDR:PORT", value_parser = app_main::parse_metrics_addr)]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Run a command with the target's connection in its environment, the way its own client
    /// library reads it: for PostgreSQL PGHOST, PGPORT, PGDATABASE, PGUSER, PGSSLMODE,
    /// PGAPPNAME, and the password in a private pgpass file (PGPASSFILE) beside a service
    /// file (PGSERVICEFILE, PGSERVICE) that libpq reads at every connection; for MySQL and
    /// MariaDB an option file the client finds through MYSQL_HOME. Never a password variable:
    /// PGPASSWORD, MYSQL_PWD, VAULT_TOKEN and the target's <PREFIX>_PASSWORD are removed
    /// from the child's environment. The files live in a 0700 directory under
    /// $XDG_RUNTIME_DIR (else the temp directory) that is removed when the command ends.
    /// A leased credential is renewed while the command runs and, when rotated, the files are
    /// replaced, so the command's next connection uses the new one without a restart. Signals
    /// (TERM, INT, HUP, QUIT) are passed on; the exit status is the command's; leases are
    /// revoked when it ends.
    #[command(
        after_help = "Examples:\n  dbcore exec laptop -- psql -c 'select current_user'\n  dbcore exec prod -- pg_dump -Fc -f project.dump\n  dbcore exec shop -- mariadb -e 'select current_user()'\n  dbcore exec prod --on-rotate signal=HUP -- ./service\n  dbcore exec prod --url-var DATABASE_URL -- python manage.py migrate"
    )]
    Exec {
        /// Target name, e.g. `laptop`.
        target: String,
        /// Also export the connection as a URL in this variable, password included, for
        /// frameworks that take nothing else (Django, Rails, Prisma). Off by default: a
        /// variable is inherited by everything the command starts, shows in
        /// /proc/PID/environ to the same user and is often printed in crash reports and
        /// debug pages; and it is not updated when the credential rotates.
        #[arg(long, value_name = "NAME", value_parser = crate::exec::parse_variable_name)]
        url_var: Option<String>,
        /// What a rotation does to the running command: keep (replace the files only; its next
        /// connection reads them), restart (SIGTERM, then start it again), or signal=NAME (for
        /// programs that cache the password and reload on a signal).
        #[arg(long, default_value = "keep", value_parser = crate::exec::parse_on_rotate, value_name = "keep|restart|signal=NAME")]
        on_rotate: crate::exec::OnRotate,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<std::ffi::OsString>,
    },
    /// Serve a PostgreSQL target on a private Unix socket, DIR/.s.PGSQL.PORT (the directory
    /// is created 0700, or must be), so that `psql -h DIR -p PORT -d DB` connects with no
    /// password: each client connection is logged in to the server with the target's current
    /// credential (SCRAM-SHA-256, MD5 or cleartext, as the server asks), then relayed. A
    /// database other than the target's is refused; cancel requests reach the right query.
    /// SIGTERM stops accepting, lets open sessions finish up to --shutdown-timeout, then
    /// closes them and revokes the leases.
    #[command(
        after_help = "Examples:\n  dbcore proxy prod --socket-dir /tmp/db\n  psql -h /tmp/db -d project\n  dbcore proxy prod --socket-dir /tmp/db --port 6432 --shutdown-timeout 60s"
    )]
    Proxy {
        /// Target name, e.g. `prod`.
        target: String,
        /// Directory for the socket; only its user may enter it.
        #[arg(long, value_name = "DIR")]
        socket_dir: PathBuf,
        /// The port in the socket's name (clients say `-p PORT`).
        #[arg(long, default_value_t = 5432, value_parser = clap::value_parser!(u16).range(1..))]
        port: u16,
        /// Also listen on this loopback address (127.0.0.1:PORT or [::1]:PORT, never beyond),
        /// where clients must log in with SCRAM-SHA-256 and the password in
        /// --client-password-file.
        #[arg(long, value_name = "ADDR:PORT", value_parser = crate::proxy::parse_listen)]
        listen: Option<std::net::SocketAddr>,
        /// The password TCP clients must give: one line of a 0600 file.
        #[arg(long, value_name = "FILE")]
        client_password_file: Option<PathBuf>,
        /// How long open sessions may go on after SIGTERM (up to 1h).
        #[arg(long, default_value = "30s", value_parser = crate::proxy::parse_shutdown_timeout)]
        shutdown_timeout: std::time::Duration,
        /// Serve health metrics (client connections, upstream logins, bytes relayed, the
        /// target's credential and lease) in Prometheus' text format at
        /// http://ADDR:PORT/metrics.
        #[arg(long, value_name = "ADDR:PORT", value_parser = app_main::parse_metrics_addr)]
        metrics: Option<std::net::SocketAddr>,
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
