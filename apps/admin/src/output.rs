//! What every command shares in its output: JSON from a view struct, and the config-directory
//! line.

use anyhow::Result;
use project_core::Context;
use project_core::db::Provenance;
use serde::Serialize;

/// Pretty JSON on standard output. Each view declares its fields in alphabetical order: the
/// output keeps the key order it had when it was built as a `serde_json` map (sorted keys).
pub fn print_json(view: &impl Serialize) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(view)?);
    Ok(())
}

/// The config directory in use and why it was chosen.
#[derive(Debug, Serialize)]
pub struct ConfigDirView {
    /// The reason's JSON spelling (`flag`, `variable`, …).
    pub chosen_by: &'static str,
    pub path: String,
    /// The reason in words, for the text output.
    #[serde(skip)]
    pub why: String,
}

impl ConfigDirView {
    pub fn of(context: &Context) -> Option<Self> {
        context.config().map(|c| Self {
            chosen_by: c.chosen_by.as_str(),
            path: c.path.display().to_string(),
            why: c.chosen_by.to_string(),
        })
    }
}

/// `config directory: PATH (from REASON)`, so that nobody has to guess which was read.
pub fn print_config_dir(config: Option<&ConfigDirView>, indent: &str) -> Result<()> {
    match config {
        Some(c) => outln!("{indent}config directory: {} (from {})", c.path, c.why),
        None => outln!("{indent}config directory: none (no user config directory on this system)"),
    }
    Ok(())
}

/// Which source supplied the credential, and for whom.
#[derive(Debug, Serialize)]
pub struct CredentialView<'a> {
    /// Where the source found it (a file and line, a variable): shown in the text only.
    #[serde(skip)]
    pub origin: &'a str,
    pub source: &'a str,
    pub username: &'a str,
}

impl<'a> CredentialView<'a> {
    pub fn of(p: &'a Provenance) -> Self {
        Self {
            origin: &p.origin,
            source: &p.source,
            username: &p.username,
        }
    }
}
