//! The registry of targets: compiled connection modules and file-only targets, by name.
//! Tools that take a target name (`dbcore ping laptop`) look it up here.

use std::sync::Arc;

use domain::redact::redact;
use domain::{Attempt, CredentialChain, DbKind};

use crate::context::Context;
use crate::db::connections::{laptop, local, prod};
use crate::db::lease::give_back;
use crate::db::{DatabaseConnection, Provenance, resolve_all};
use crate::error::DbError;
use crate::settings::{
    Entry, Origin, Settings, SourceKind, TargetDefaults, file_targets, setting_key,
};

/// The compiled connection modules.
pub const COMPILED: &[&TargetDefaults] = &[&local::DEFAULTS, &laptop::DEFAULTS, &prod::DEFAULTS];

pub fn compiled(name: &str) -> Option<&'static TargetDefaults> {
    COMPILED.iter().copied().find(|d| d.name == name)
}

/// Every target name: compiled modules first, then file-only targets, sorted.
pub fn names(context: &Context) -> Vec<String> {
    let mut names: Vec<String> = COMPILED.iter().map(|d| d.name.to_owned()).collect();
    if let Some(dir) = context.config_dir() {
        for name in file_targets(dir) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// A target's layered settings.
pub fn settings(name: &str, context: &Context) -> Result<Settings, DbError> {
    Ok(Settings::load(
        name,
        compiled(name),
        context.config_dir(),
        context.env().as_ref(),
    )?)
}

/// Opens a target by name (for tools; apps use their connection module's `db()`).
pub async fn open(name: &str, context: &Context) -> Result<DatabaseConnection, DbError> {
    DatabaseConnection::open(settings(name, context)?, context).await
}

/// What `dbcore explain` shows: settings with origins, every source attempt, and the winner.
#[derive(Debug)]
pub struct Explanation {
    pub settings: Settings,
    /// The settings as shown: every set key, and the source order `chain` chose when the
    /// target names none.
    pub entries: Vec<Entry>,
    /// The sources tried, in order.
    pub order: Vec<SourceKind>,
    pub attempts: Vec<Attempt>,
    pub provenance: Option<Provenance>,
    pub needs_credential: bool,
    /// A hard error that stopped the chain, or a source's settings that do not make sense.
    pub error: Option<String>,
    /// Non-secret facts of the sources that have any (Vault: address, auth, path).
    pub source_details: Vec<(String, Vec<(&'static str, String)>)>,
    /// The lease on the credential found, if it is leased: time to live and renewability.
    pub lease: Option<(std::time::Duration, bool)>,
    /// The client certificate the target presents (`sslcert` with its `sslkey`): a credential
    /// of its own, so a server with `cert` authentication needs no password.
    pub client_certificate: Option<std::path::PathBuf>,
    /// For a target with several hosts: each host and which source answered for it.
    pub hosts: Vec<domain::HostAnswer>,
}

/// The settings as `explain` shows them: the set ones, and the order `chain` chose when the
/// target sets none.
fn shown_entries(settings: &Settings, order: &[SourceKind]) -> Vec<Entry> {
    let mut entries = settings.entries();
    if settings.sources().is_none() {
        let names: Vec<&str> = order.iter().map(|s| s.as_str()).collect();
        entries.push(Entry {
            key: setting_key!(sources).to_owned(),
            value: serde_json::json!(names),
            origin: Origin::code_default(),
        });
        entries.sort_by(|a, b| a.key.cmp(&b.key));
    }
    entries
}

/// Resolves a target's credential without connecting, and keeps only what may be shown.
pub async fn explain(name: &str, context: &Context) -> Result<Explanation, DbError> {
    let settings = settings(name, context)?;
    let order = crate::chain::order(&settings);
    let entries = shown_entries(&settings, &order);
    let needs_credential = settings.kind().is_some_and(DbKind::uses_credentials);
    let mut explanation = Explanation {
        entries,
        order,
        attempts: Vec::new(),
        provenance: None,
        needs_credential,
        error: None,
        source_details: Vec::new(),
        lease: None,
        client_certificate: client_certificate(&settings),
        hosts: Vec::new(),
        settings,
    };
    let (chain, resolution) = match resolve_all(&explanation.settings, context.env().clone()).await
    {
        Ok(resolved) => resolved,
        Err(invalid) => {
            explanation.error = Some(redact(&invalid.to_string()));
            return Ok(explanation);
        }
    };
    // Source details and attempt reasons can quote the environment (VAULT_ADDR, a pgpass
    // path): whatever they say passes the secret filter before anyone sees it.
    if needs_credential {
        explanation.source_details = shown_details(&chain);
    }
    explanation.attempts = resolution.attempts;
    explanation.hosts = resolution.hosts;
    for host in &mut explanation.hosts {
        host.origin = host.origin.as_deref().map(redact);
    }
    if explanation.hosts.is_empty() && !explanation.settings.endpoints().is_empty() {
        // A kind without credentials, or a chain that could not be built: the hosts still.
        explanation.hosts = explanation
            .settings
            .endpoints()
            .into_iter()
            .map(|host| domain::HostAnswer {
                host,
                source: None,
                origin: None,
            })
            .collect();
    }
    for attempt in &mut explanation.attempts {
        attempt.detail = redact(&attempt.detail);
    }
    explanation.error = resolution.error.map(|e| redact(&e.to_string()));
    if let Some(credential) = &resolution.credential {
        if let (Some(held), Some(issuer)) = (&credential.lease, &resolution.issuer) {
            explanation.lease = Some((held.duration, held.renewable));
            // explain only looks: the dynamic credential it caused is revoked at once.
            give_back(credential, issuer).await;
        }
        let mut provenance = Provenance::of(credential, explanation.settings.identity().user);
        provenance.origin = redact(&provenance.origin);
        explanation.provenance = Some(provenance);
    }
    Ok(explanation)
}

/// The certificate a connection presents: only with its key, as libpq sends one only then.
fn client_certificate(settings: &Settings) -> Option<std::path::PathBuf> {
    let tls = settings.spec().options.tls;
    tls.cert.filter(|_| tls.key.is_some())
}

/// Each source's non-secret facts, through the secret filter.
fn shown_details(chain: &CredentialChain) -> Vec<(String, Vec<(&'static str, String)>)> {
    chain
        .sources()
        .iter()
        .map(|s| {
            let details = s.details().into_iter().map(|(k, v)| (k, redact(&v)));
            (s.name().to_owned(), details.collect::<Vec<_>>())
        })
        .filter(|(_, details)| !details.is_empty())
        .collect()
}

/// For tests: a context over a fixed environment.
pub fn context_with(config_dir: Option<&std::path::Path>, env: Arc<dyn domain::Env>) -> Context {
    Context::new(config_dir, env)
}
