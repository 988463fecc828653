//! `dbcore explain TARGET`: every setting with its origin, every credential source tried in
//! order, and which one answered.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use project_core::registry::{self, Explanation};
use project_core::settings::Entry;
use project_core::{Context, Outcome};
use serde::{Serialize, Serializer};

use crate::cli::Format;
use crate::output::{ConfigDirView, CredentialView, print_config_dir, print_json};

/// Exits 0 when a credential resolved (a password, or a client certificate) or none is
/// needed, 2 when none did.
pub async fn run(context: &Context, target: &str, format: Format) -> Result<ExitCode> {
    let explanation = registry::explain(target, context).await?;
    let view = ExplainView::new(target, context, &explanation);
    let resolved =
        !view.credential_needed || view.credential.is_some() || view.client_certificate.is_some();
    if format == Format::Json {
        print_json(&view)?;
    } else {
        view.print_text()?;
    }
    Ok(if resolved {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

#[derive(Debug, Serialize)]
struct ExplainView<'a> {
    attempts: Vec<AttemptView<'a>>,
    /// The client certificate presented at login (`sslcert`): what authenticates a target
    /// whose server uses `cert` authentication, with or without a password.
    client_certificate: Option<String>,
    config_dir: Option<ConfigDirView>,
    credential: Option<CredentialView<'a>>,
    credential_needed: bool,
    error: Option<&'a str>,
    /// A multi-host target's hosts, in order, each with what answered for it.
    hosts: Vec<HostView<'a>>,
    kind: Option<&'static str>,
    lease: Option<LeaseView>,
    not_consulted: Vec<&'static str>,
    settings: BTreeMap<String, SettingView>,
    settings_file: Option<String>,
    /// In the chain's order for the text; JSON has always shown them sorted by name.
    #[serde(serialize_with = "sorted_details")]
    source_details: &'a [(String, Vec<(&'static str, String)>)],
    target: &'a str,
}

#[derive(Debug, Serialize)]
struct AttemptView<'a> {
    detail: &'a str,
    /// `not_found` in JSON, `not found` in the text.
    #[serde(serialize_with = "outcome_json")]
    outcome: Outcome,
    source: &'a str,
}

#[derive(Debug, Serialize)]
struct HostView<'a> {
    host: &'a str,
    /// Where the source found it: shown in the text only, as for the credential.
    #[serde(skip)]
    origin: Option<&'a str>,
    port: Option<u16>,
    /// The source whose password this host's login sends; `null` when none answered.
    source: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct LeaseView {
    renewable: bool,
    ttl_seconds: u64,
}

/// One setting: its value as its type for JSON, as text for people, and where it came from.
#[derive(Debug, Serialize)]
pub struct SettingView {
    origin: String,
    #[serde(skip)]
    text: String,
    value: serde_json::Value,
}

/// The settings as `explain` shows them (registry adds the chain's source order when the
/// target sets none).
fn settings_view(entries: &[Entry]) -> BTreeMap<String, SettingView> {
    entries
        .iter()
        .map(|entry| {
            let view = SettingView {
                origin: entry.origin.to_string(),
                text: entry.shown(),
                value: entry.value.clone(),
            };
            (entry.key.clone(), view)
        })
        .collect()
}

fn outcome_json<S: Serializer>(outcome: &Outcome, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(outcome.as_str())
}

fn sorted_details<S: Serializer>(
    details: &&[(String, Vec<(&'static str, String)>)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let sorted: BTreeMap<&str, BTreeMap<&str, &str>> = details
        .iter()
        .map(|(name, facts)| {
            let facts = facts.iter().map(|(k, v)| (*k, v.as_str())).collect();
            (name.as_str(), facts)
        })
        .collect();
    sorted.serialize(serializer)
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

impl<'a> ExplainView<'a> {
    fn new(target: &'a str, context: &Context, e: &'a Explanation) -> Self {
        Self {
            attempts: e
                .attempts
                .iter()
                .map(|a| AttemptView {
                    detail: &a.detail,
                    outcome: a.outcome,
                    source: &a.source,
                })
                .collect(),
            client_certificate: e
                .client_certificate
                .as_ref()
                .filter(|_| e.needs_credential)
                .map(|p| p.display().to_string()),
            config_dir: ConfigDirView::of(context),
            credential: e.provenance.as_ref().map(CredentialView::of),
            credential_needed: e.needs_credential,
            error: e.error.as_deref(),
            hosts: e
                .hosts
                .iter()
                .map(|h| HostView {
                    host: &h.host.host,
                    origin: h.origin.as_deref(),
                    port: h.host.port,
                    source: h.source.as_deref(),
                })
                .collect(),
            kind: e.settings.kind().map(|k| k.as_str()),
            lease: e.lease.map(|(ttl, renewable)| LeaseView {
                renewable,
                ttl_seconds: ttl.as_secs(),
            }),
            not_consulted: not_consulted(e),
            settings: settings_view(&e.entries),
            settings_file: e.settings.file().map(|f| f.display().to_string()),
            source_details: &e.source_details,
            target,
        }
    }

    fn print_text(&self) -> Result<()> {
        outln!("target {} ({})", self.target, self.kind.unwrap_or("?"));
        print_config_dir(self.config_dir.as_ref(), "  ")?;
        if let Some(file) = &self.settings_file {
            outln!("  settings file: {file}");
        }
        outln!("settings:");
        for (key, setting) in &self.settings {
            outln!("  {key:<26} {:<32} {}", setting.text, setting.origin);
        }
        self.print_hosts()?;
        if !self.credential_needed {
            outln!("credential: none needed for {}", self.kind.unwrap_or("?"));
            return Ok(());
        }
        self.print_sources()?;
        match &self.credential {
            Some(c) => outln!(
                "credential: user {} from {} ({})",
                c.username,
                c.source,
                c.origin
            ),
            None => match &self.client_certificate {
                Some(cert) => outln!(
                    "credential: the client certificate {cert} (no password resolved; a server with `cert` authentication needs none)"
                ),
                None => outln!("credential: none resolved; a connection would send no password"),
            },
        }
        if let (Some(cert), Some(_)) = (&self.client_certificate, &self.credential) {
            outln!("client certificate: {cert} (presented at login too)");
        }
        Ok(())
    }

    /// Each host of a multi-host target, in the order tried, with its password's source.
    fn print_hosts(&self) -> Result<()> {
        if self.hosts.is_empty() {
            return Ok(());
        }
        outln!("hosts, in order:");
        for (i, h) in self.hosts.iter().enumerate() {
            let port = h
                .port
                .map_or_else(|| "default".to_owned(), |p| p.to_string());
            let credential = match (h.source, h.origin) {
                (Some(source), Some(origin)) => format!("password from {source} ({origin})"),
                (Some(source), None) => format!("password from {source}"),
                _ if self.credential_needed => {
                    "no password (no source answered for this host)".into()
                }
                _ => "no password needed".into(),
            };
            outln!("  {}. {}:{port}: {credential}", i + 1, h.host);
        }
        Ok(())
    }

    /// The attempts in order, what was not consulted, the error, the sources' facts, the lease.
    fn print_sources(&self) -> Result<()> {
        outln!("sources, in order:");
        if self.attempts.is_empty() && self.error.is_none() {
            outln!("  (none configured)");
        }
        for (i, a) in self.attempts.iter().enumerate() {
            outln!("  {}. {} ({}): {}", i + 1, a.source, a.outcome, a.detail);
        }
        if !self.not_consulted.is_empty() && !self.attempts.is_empty() {
            outln!(
                "  not consulted: {} (an earlier source answered)",
                self.not_consulted.join(", ")
            );
        }
        if let Some(error) = self.error {
            outln!("error: {error}");
        }
        for (source, details) in self.source_details {
            let facts: Vec<String> = details.iter().map(|(k, v)| format!("{k} {v}")).collect();
            outln!("{source}: {}", facts.join(", "));
        }
        if let Some(lease) = &self.lease {
            let renewable = if lease.renewable {
                "renewable"
            } else {
                "not renewable"
            };
            outln!(
                "lease: {}s to live, {renewable} (explain revoked the lease it obtained)",
                lease.ttl_seconds
            );
        }
        Ok(())
    }
}
