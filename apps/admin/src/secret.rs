//! `dbcore secret set|status|delete TARGET`: a target's password in the OS keyring. The
//! password is read without echo (or from standard input) and never printed.

use std::process::ExitCode;

use anyhow::Result;
use project_core::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::cli::{Format, SecretAction};
use crate::output::print_json;

#[derive(Debug, Serialize)]
struct SecretView<'a> {
    /// Whether an entry is there after the command.
    exists: bool,
    message: String,
    target: &'a str,
}

pub async fn run(context: &Context, action: SecretAction, format: Format) -> Result<ExitCode> {
    let target = action.target().to_owned();
    let account = project_core::secrets::keyring_account(&target, context).await?;
    let store = format!("{} ({})", account.store.name, account.store.why);
    let where_ = format!("service {}, account {}", account.service, account.user);
    // What was done, anything said after where, and whether an entry is left.
    let (said, after, exists) = match action {
        SecretAction::Set { stdin, .. } => {
            let password = read_password(&target, &account.user, stdin)?;
            if !blocking(move || account.set_and_verify(&password)).await? {
                anyhow::bail!(
                    "stored the password in {store}, but reading it back gave something else"
                );
            }
            ("stored the password", "; read back and verified", true)
        }
        SecretAction::Status { .. } => {
            let exists = blocking(move || account.exists()).await?;
            let said = if exists {
                "an entry exists"
            } else {
                "no entry"
            };
            (said, "", exists)
        }
        SecretAction::Delete { .. } => {
            let deleted = blocking(move || account.delete()).await?;
            let said = if deleted {
                "deleted the entry"
            } else {
                "there was no entry to delete"
            };
            (said, "", false)
        }
    };
    let view = SecretView {
        exists,
        message: format!("{said} for target {target} in {store}, {where_}{after}"),
        target: &target,
    };
    if format == Format::Json {
        print_json(&view)?;
    } else {
        outln!("{}", view.message);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a keyring call off the runtime: the stores block (D-Bus, system calls).
async fn blocking<T, E>(call: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T>
where
    T: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    Ok(tokio::task::spawn_blocking(call).await??)
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
