use std::fmt;
use std::sync::Arc;

use crate::{Credential, CredentialSource, Endpoint, Lookup, SourceError, TargetIdentity};

/// How one source answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Found,
    NotFound,
    Unavailable,
    Error,
}

impl Outcome {
    /// The spelling in `dbcore explain --format json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Found => "found",
            Outcome::NotFound => "not_found",
            Outcome::Unavailable => "unavailable",
            Outcome::Error => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Found => "found",
            Outcome::NotFound => "not found",
            Outcome::Unavailable => "unavailable",
            Outcome::Error => "error",
        })
    }
}

/// One source asked, in order: its name, what it answered and why. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub source: String,
    pub outcome: Outcome,
    pub detail: String,
}

/// The result of running a chain: the credential (if any) plus every attempt, in order.
pub struct Resolution {
    pub attempts: Vec<Attempt>,
    pub credential: Option<Credential>,
    /// The source that supplied `credential`: the one to renew or revoke its lease with.
    pub issuer: Option<Arc<dyn CredentialSource>>,
    /// The hard error that stopped the chain, if one did.
    pub error: Option<SourceError>,
    /// For a target with several hosts: each host and what answered for it, in host order.
    pub hosts: Vec<HostAnswer>,
}

/// Which source answered for one host of a multi-host target (`None`: no source did, and
/// that host's login sends no password). No secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAnswer {
    pub host: Endpoint,
    pub source: Option<String>,
    pub origin: Option<String>,
}

impl fmt::Debug for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolution")
            .field("attempts", &self.attempts)
            .field("credential", &self.credential)
            .field("issuer", &self.issuer.as_ref().map(|s| s.name()))
            .field("error", &self.error)
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl Resolution {
    /// No source asked: for kinds that need no credential.
    pub fn nothing() -> Self {
        Resolution {
            attempts: Vec::new(),
            credential: None,
            issuer: None,
            error: None,
            hosts: Vec::new(),
        }
    }

    /// "env: PROJECT_DB_PASSWORD is not set; pgpass: no matching line in …" for error messages.
    pub fn summary(&self) -> String {
        if self.attempts.is_empty() {
            return "no sources are configured".to_owned();
        }
        self.attempts
            .iter()
            .map(|a| format!("{} ({}): {}", a.source, a.outcome, a.detail))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Sources tried in order; the first found credential or hard error ends the search.
#[derive(Clone, Default)]
pub struct CredentialChain {
    sources: Vec<Arc<dyn CredentialSource>>,
}

impl fmt::Debug for CredentialChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.sources.iter().map(|s| s.name()))
            .finish()
    }
}

impl CredentialChain {
    pub fn new(sources: Vec<Arc<dyn CredentialSource>>) -> Self {
        Self { sources }
    }

    pub fn source_names(&self) -> Vec<&str> {
        self.sources.iter().map(|s| s.name()).collect()
    }

    pub fn sources(&self) -> &[Arc<dyn CredentialSource>] {
        &self.sources
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    pub async fn resolve(&self, target: &TargetIdentity) -> Resolution {
        let mut attempts = Vec::with_capacity(self.sources.len());
        for source in &self.sources {
            let name = source.name().to_owned();
            match source.lookup(target).await {
                Ok(Lookup::Found(credential)) => {
                    attempts.push(Attempt {
                        source: name,
                        outcome: Outcome::Found,
                        detail: format!("found in {}", credential.origin),
                    });
                    return Resolution {
                        attempts,
                        credential: Some(credential),
                        issuer: Some(source.clone()),
                        error: None,
                        hosts: Vec::new(),
                    };
                }
                Ok(Lookup::NotFound { reason }) => attempts.push(Attempt {
                    source: name,
                    outcome: Outcome::NotFound,
                    detail: reason,
                }),
                Ok(Lookup::Unavailable { reason }) => attempts.push(Attempt {
                    source: name,
                    outcome: Outcome::Unavailable,
                    detail: reason,
                }),
                Err(error) => {
                    attempts.push(Attempt {
                        source: name,
                        outcome: Outcome::Error,
                        detail: error.to_string(),
                    });
                    return Resolution {
                        attempts,
                        credential: None,
                        issuer: None,
                        error: Some(error),
                        hosts: Vec::new(),
                    };
                }
            }
        }
        Resolution {
            attempts,
            error: None,
            ..Resolution::nothing()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DbKind;
    use async_trait::async_trait;
    use secrecy::{ExposeSecret, SecretString};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A tiny scripted source; the full mock lives in `adapters`.
    struct Scripted {
        name: &'static str,
        answer: fn() -> Result<Lookup, SourceError>,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl CredentialSource for Scripted {
        fn name(&self) -> &str {
            self.name
        }
        async fn lookup(&self, _: &TargetIdentity) -> Result<Lookup, SourceError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            (self.answer)()
        }
    }

    fn scripted(name: &'static str, answer: fn() -> Result<Lookup, SourceError>) -> Arc<Scripted> {
        Arc::new(Scripted {
            name,
            answer,
            calls: AtomicUsize::new(0),
        })
    }

    fn target() -> TargetIdentity {
        TargetIdentity {
            name: "t".into(),
            kind: DbKind::Postgres,
            host: Some("h".into()),
            port: Some(5432),
            database: Some("d".into()),
            user: Some("u".into()),
        }
    }

    fn found() -> Result<Lookup, SourceError> {
        Ok(Lookup::Found(Credential::new(
            None,
            SecretString::from("pw"),
            "b",
            "b's store",
        )))
    }

    #[tokio::test]
    async fn stops_at_the_first_found_and_records_every_attempt() {
        let a = scripted("a", || Ok(Lookup::not_found("nothing in a")));
        let u = scripted("u", || Ok(Lookup::unavailable("no daemon")));
        let b = scripted("b", found);
        let c = scripted("c", found);
        let chain = CredentialChain::new(vec![a.clone(), u.clone(), b.clone(), c.clone()]);
        let resolution = chain.resolve(&target()).await;
        assert_eq!(
            resolution.attempts,
            vec![
                Attempt {
                    source: "a".into(),
                    outcome: Outcome::NotFound,
                    detail: "nothing in a".into()
                },
                Attempt {
                    source: "u".into(),
                    outcome: Outcome::Unavailable,
                    detail: "no daemon".into()
                },
                Attempt {
                    source: "b".into(),
                    outcome: Outcome::Found,
                    detail: "found in b's store".into()
                },
            ]
        );
        assert_eq!(
            resolution.issuer.as_ref().map(|s| s.name()),
            Some("b"),
            "the issuer is the source that found it"
        );
        let credential = resolution.credential.expect("b found one");
        assert_eq!(credential.password.expose_secret(), "pw");
        assert_eq!(c.calls.load(Ordering::SeqCst), 0, "c is never asked");
    }

    #[tokio::test]
    async fn a_hard_error_stops_the_chain() {
        let a = scripted("a", || Err(SourceError::Misconfigured("broken".into())));
        let b = scripted("b", found);
        let resolution = CredentialChain::new(vec![a, b.clone()])
            .resolve(&target())
            .await;
        assert!(resolution.credential.is_none());
        assert!(resolution.issuer.is_none());
        assert_eq!(resolution.attempts.len(), 1);
        assert_eq!(resolution.attempts[0].outcome, Outcome::Error);
        assert_eq!(
            resolution.error.map(|e| e.to_string()).as_deref(),
            Some("broken")
        );
        assert_eq!(b.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn nothing_found_lists_every_attempt_in_the_summary() {
        let a = scripted("a", || Ok(Lookup::not_found("x is not set")));
        let b = scripted("b", || Ok(Lookup::not_found("no line")));
        let resolution = CredentialChain::new(vec![a, b]).resolve(&target()).await;
        assert!(resolution.credential.is_none() && resolution.error.is_none());
        assert_eq!(
            resolution.summary(),
            "a (not found): x is not set; b (not found): no line"
        );
        assert_eq!(
            CredentialChain::default()
                .resolve(&target())
                .await
                .summary(),
            "no sources are configured"
        );
    }

    #[test]
    fn the_chain_names_its_sources_in_order() {
        let a = scripted("a", found);
        let b = scripted("b", found);
        let chain = CredentialChain::new(vec![a, b]);
        assert_eq!(chain.source_names(), ["a", "b"]);
        assert_eq!(chain.sources().len(), 2);
        assert!(!chain.is_empty());
        assert!(CredentialChain::default().is_empty());
        assert_eq!(format!("{chain:?}"), r#"["a", "b"]"#);
    }

    #[test]
    fn outcomes_have_a_json_spelling_and_a_human_one() {
        let spelled: Vec<(&str, String)> = [
            Outcome::Found,
            Outcome::NotFound,
            Outcome::Unavailable,
            Outcome::Error,
        ]
        .into_iter()
        .map(|o| (o.as_str(), o.to_string()))
        .collect();
        assert_eq!(
            spelled,
            [
                ("found", "found".to_owned()),
                ("not_found", "not found".to_owned()),
                ("unavailable", "unavailable".to_owned()),
                ("error", "error".to_owned()),
            ]
        );
    }
}
