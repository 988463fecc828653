//! `dbcore exec TARGET -- COMMAND`: run a program that is not Rust (psql, pg_dump, a Python
//! or Java service, `mariadb`) with the target's connection in the form its own client
//! library reads, and keep a leased credential alive, and current, while it runs.
//!
//! Design decision: exec is one more app on `project_core`. It opens the target like any
//! other (so the credential is resolved through the chain with the same provenance, proven
//! by a connection, renewed and rotated by the library's lease manager) and follows the
//! credential the pool is on ([`project_core::db::CredentialFeed`]). The child never sees a
//! password variable: PostgreSQL clients get a private pgpass file and a service file that
//! libpq reads at every connection, MySQL clients an option file they find through
//! `MYSQL_HOME`; both live in a 0700 directory that goes when the child does. A rotation
//! replaces those files atomically, so a child's next connection uses the new credential
//! without a restart.

mod child;
mod client_files;
mod environment;
mod private_dir;

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::{Result, bail};
use domain::{Credential, DbKind, TargetSpec};
use nix::sys::signal::Signal;
use project_core::{Context, registry};
use tokio::signal::unix::{SignalKind, signal};

pub use child::parse_signal;
use client_files::Handed;
use private_dir::PrivateDir;
pub use private_dir::safe_parent;

/// What a rotation does to a running child (`--on-rotate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRotate {
    /// Replace the files only: the child's next connection reads them.
    Keep,
    /// Stop the child with SIGTERM and start it again.
    Restart,
    /// Send it this signal (a program that reloads its configuration on HUP).
    Signal(Signal),
}

/// Reads `keep`, `restart` or `signal=NAME`.
pub fn parse_on_rotate(text: &str) -> Result<OnRotate, String> {
    match text {
        "keep" => Ok(OnRotate::Keep),
        "restart" => Ok(OnRotate::Restart),
        other => match other.strip_prefix("signal=") {
            Some(name) => parse_signal(name).map(OnRotate::Signal),
            None => Err(format!(
                "`{other}` is not allowed; use keep, restart or signal=NAME (e.g. signal=HUP)"
            )),
        },
    }
}

/// A variable name for `--url-var`: letters, digits and `_`, not starting with a digit.
pub fn parse_variable_name(name: &str) -> Result<String, String> {
    let valid = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().next().is_some_and(|c| !c.is_ascii_digit());
    if valid {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "`{name}` is not a variable name; use letters, digits and _, not starting with a digit"
        ))
    }
}

#[derive(Debug)]
pub struct ExecArgs {
    pub target: String,
    pub url_var: Option<String>,
    pub on_rotate: OnRotate,
    pub command: Vec<OsString>,
}

pub async fn run(context: &Context, args: ExecArgs) -> Result<ExitCode> {
    // Refused before anything is opened (opening a SQLite target would create its file).
    let settings = registry::settings(&args.target, context)?;
    let kind = settings.kind().unwrap_or(DbKind::Sqlite);
    // The files and variables written here name one server; a list would need libpq's own
    // host list and a pgpass line per host, which dbcore exec does not write yet. Refused
    // rather than silently handing over the first host only.
    if settings.chooses_a_server() {
        bail!(
            "target `{}` has several hosts or a target_session_attrs ({}); dbcore exec hands over one-host targets without one only for now",
            args.target,
            settings.location()
        );
    }
    if !matches!(kind, DbKind::Postgres | DbKind::MySql) {
        bail!(
            "target `{}` is {}; dbcore exec hands over postgres and mysql connections only",
            args.target,
            kind.as_str()
        );
    }
    // Before there is anything to clean up, so a SIGTERM from now on is handled.
    let signals = Signals::new()?;
    let connection = registry::open(&args.target, context).await?;
    // However the command ends, or fails to start, the leases are revoked.
    let outcome = supervise(&connection, context.env().as_ref(), kind, &args, signals).await;
    connection.close().await;
    outcome
}

struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
            quit: signal(SignalKind::quit())?,
        })
    }
}

async fn supervise(
    connection: &project_core::db::DatabaseConnection,
    env: &dyn domain::Env,
    kind: DbKind,
    args: &ExecArgs,
    mut signals: Signals,
) -> Result<ExitCode> {
    let mut feed = connection.credential_feed();
    let mut spec = connection.settings().spec();
    // The default application name is the running binary's: here that is the command's,
    // not dbcore's, unless the target names one.
    if connection
        .settings()
        .origin("application_name")
        .is_none_or(|origin| origin.is_default())
    {
        spec.options.application_name = None;
    }
    let mut handout = Handout::new(kind, spec, env)?;
    let mut current = feed.current();
    handout.write(current.as_ref())?;
    if kind == DbKind::MySql {
        warn_about_home_option_file(env);
    }
    let application_name = args
        .command
        .first()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map_or_else(
            || "dbcore-exec".into(),
            |n| n.to_string_lossy().into_owned(),
        );
    // What the child would inherit: the process's own environment, read here only to choose
    // which of its variables the child must not get (target settings come through `Env`).
    let inherited: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .collect();
    let env_prefix = connection.settings().env_prefix().to_owned();
    // The environment is made for each start: a restart after a rotation gets the new user.
    let spawn = |handout: &Handout, credential: Option<&Credential>| {
        let env = environment::for_child(
            kind,
            &handout.spec,
            handout.user(credential),
            handout.dir.dir(),
            &application_name,
            &env_prefix,
            &inherited,
        );
        let url = args
            .url_var
            .as_deref()
            .map(|name| (name, handout.url(credential)));
        child::spawn(
            &args.command,
            &env,
            url.as_ref().map(|(n, u)| (*n, u.as_str())),
        )
    };
    let mut child = match spawn(&handout, current.as_ref()) {
        Ok(child) => child,
        Err(failure) => return Ok(cannot_run(&failure)),
    };

    let mut restart_when_it_ends = false;
    let mut stopping = false;
    let mut following = true;
    let status = loop {
        tokio::select! {
            status = child.wait() => {
                let status = status?;
                if restart_when_it_ends && !stopping {
                    restart_when_it_ends = false;
                    tracing::info!("restarting the command with the new credential");
                    child = match spawn(&handout, current.as_ref()) {
                        Ok(child) => child,
                        Err(failure) => {
                            handout.dir.remove();
                            return Ok(cannot_run(&failure));
                        }
                    };
                    continue;
                }
                break status;
            }
            next = feed.next(), if following => match next {
                None => following = false,
                Some(credential) => {
                    match handout.write(Some(&credential)) {
                        Ok(()) => tracing::info!(source = %credential.source, "the child's connection files now hold the new credential"),
                        Err(error) => tracing::error!(%error, "could not hand the new credential over; the child keeps the old one"),
                    }
                    if args.url_var.is_some() && args.on_rotate == OnRotate::Keep {
                        tracing::warn!("the URL in the child's environment still holds the replaced credential (--on-rotate restart would start it again)");
                    }
                    match args.on_rotate {
                        OnRotate::Keep => {}
                        OnRotate::Restart => {
                            restart_when_it_ends = true;
                            child::signal(&child, Signal::SIGTERM);
                        }
                        OnRotate::Signal(s) => child::signal(&child, s),
                    }
                    current = Some(credential);
                }
            },
            _ = signals.terminate.recv() => {
                stopping = true;
                child::signal(&child, Signal::SIGTERM);
            }
            _ = signals.hangup.recv() => child::signal(&child, Signal::SIGHUP),
            _ = signals.interrupt.recv() => {
                if !child::terminal_signals_the_child() {
                    child::signal(&child, Signal::SIGINT);
                }
            }
            _ = signals.quit.recv() => {
                if !child::terminal_signals_the_child() {
                    child::signal(&child, Signal::SIGQUIT);
                }
            }
        }
    };
    handout.dir.remove();
    Ok(ExitCode::from(child::exit_code(status)))
}

/// A command that cannot be started: said, with the shell's status (127 not found, 126 not
/// executable).
fn cannot_run(failure: &child::SpawnFailure) -> ExitCode {
    #[allow(clippy::print_stderr, reason = "the one line a failed start prints")]
    {
        eprintln!("dbcore: {failure}");
    }
    ExitCode::from(failure.exit_code())
}

/// The private directory and what was last written to it.
struct Handout {
    kind: DbKind,
    spec: TargetSpec,
    dir: PrivateDir,
    /// The credential written last, kept in the pgpass file beside the next one.
    previous: Option<Credential>,
}

impl Handout {
    fn new(kind: DbKind, spec: TargetSpec, env: &dyn domain::Env) -> Result<Self> {
        Ok(Self {
            kind,
            spec,
            dir: PrivateDir::create(env)?,
            previous: None,
        })
    }

    fn user<'c>(&'c self, credential: Option<&'c Credential>) -> Option<&'c str> {
        credential
            .and_then(|c| c.username.as_deref())
            .or(self.spec.identity.user.as_deref())
    }

    fn handed<'c>(&'c self, credential: Option<&'c Credential>) -> Handed<'c> {
        Handed {
            spec: &self.spec,
            user: self.user(credential),
            password: credential.map(|c| &c.password),
        }
    }

    fn write(&mut self, credential: Option<&Credential>) -> Result<()> {
        let current = self.handed(credential);
        let previous = self.previous.as_ref().map(|p| self.handed(Some(p)));
        let files = client_files::files(self.kind, &current, previous.as_ref())
            .map_err(|e| anyhow::anyhow!("target `{}`: {e}", self.spec.identity.name))?;
        for (name, text) in files {
            self.dir.write(name, &text)?;
        }
        self.previous = credential.cloned();
        Ok(())
    }

    fn url(&self, credential: Option<&Credential>) -> String {
        client_files::url(self.kind, &self.handed(credential))
    }
}

/// `~/.my.cnf` is read after the option file exec writes, so its `[client]` values win.
fn warn_about_home_option_file(env: &dyn domain::Env) {
    if let Some(home) = env.home_dir()
        && home.join(".my.cnf").exists()
    {
        tracing::warn!(
            "~/.my.cnf is read after dbcore's option file: a user, password or host in its [client] group overrides the target's"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_rotate_values() {
        assert_eq!(parse_on_rotate("keep"), Ok(OnRotate::Keep));
        assert_eq!(parse_on_rotate("restart"), Ok(OnRotate::Restart));
        assert_eq!(
            parse_on_rotate("signal=hup"),
            Ok(OnRotate::Signal(Signal::SIGHUP))
        );
        assert_eq!(
            parse_on_rotate("reload").unwrap_err(),
            "`reload` is not allowed; use keep, restart or signal=NAME (e.g. signal=HUP)"
        );
        assert!(parse_on_rotate("signal=").is_err());
    }

    #[test]
    fn url_variable_names() {
        assert_eq!(
            parse_variable_name("DATABASE_URL").as_deref(),
            Ok("DATABASE_URL")
        );
        assert!(parse_variable_name("").is_err());
        assert!(parse_variable_name("1X").is_err());
        assert!(parse_variable_name("A=B").is_err());
        assert!(parse_variable_name("É").is_err());
    }
}
