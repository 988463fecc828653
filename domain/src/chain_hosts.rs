//! The chain for a target with several hosts, as libpq resolves one: a password per host.
//!
//! libpq looks a `.pgpass` line up for each host it tries, so two hosts can have two
//! passwords. Here every host walks the chain in order, but only sources whose answer depends
//! on the host ([`CredentialSource::varies_by_host`], i.e. pgpass) are asked again per host;
//! the others (the environment, a keyring, Vault) are asked once and their answer is reused,
//! so a Vault lease is taken once for the whole target. A host-independent answer can
//! therefore be only one credential; it becomes the target's credential (the one leases and
//! rotations follow), and the hosts answered by pgpass keep their own passwords. No host is
//! ever sent another host's pgpass password: a host nothing answered for sends none.

use crate::chain::{Attempt, HostAnswer, Outcome, Resolution};
use crate::{
    Credential, CredentialChain, CredentialSource, Endpoint, HostSecret, Lookup, TargetIdentity,
};
use std::sync::Arc;

/// A host-independent source's answer, kept for the next hosts.
#[derive(Clone)]
enum Memo {
    Found(Credential),
    Passed,
}

impl CredentialChain {
    /// Resolves a credential for each of `hosts` (the target's identity with each host and
    /// port in turn); with fewer than two hosts, exactly [`CredentialChain::resolve`].
    pub async fn resolve_hosts(&self, target: &TargetIdentity, hosts: &[Endpoint]) -> Resolution {
        if hosts.len() < 2 {
            return self.resolve(target).await;
        }
        let sources = self.sources();
        let mut memo: Vec<Option<Memo>> = vec![None; sources.len()];
        let mut attempts = Vec::new();
        // Per host: the index of the source that answered, and its credential.
        let mut answers: Vec<Option<(usize, Credential)>> = Vec::with_capacity(hosts.len());
        for endpoint in hosts {
            let identity = TargetIdentity {
                host: Some(endpoint.host.clone()),
                port: endpoint.port,
                ..target.clone()
            };
            let shown = endpoint.display(5432);
            let mut answer = None;
            for (index, source) in sources.iter().enumerate() {
                let per_host = source.varies_by_host();
                let known = if per_host { None } else { memo[index].clone() };
                let result = match known {
                    Some(result) => result,
                    None => {
                        let prefix = if per_host {
                            format!("host {shown}: ")
                        } else {
                            String::new()
                        };
                        let attempt = |outcome, detail: String| Attempt {
                            source: source.name().to_owned(),
                            outcome,
                            detail: format!("{prefix}{detail}"),
                        };
                        let result = match source.lookup(&identity).await {
                            Ok(Lookup::Found(credential)) => {
                                let found = format!("found in {}", credential.origin);
                                attempts.push(attempt(Outcome::Found, found));
                                Memo::Found(credential)
                            }
                            Ok(Lookup::NotFound { reason }) => {
                                attempts.push(attempt(Outcome::NotFound, reason));
                                Memo::Passed
                            }
                            Ok(Lookup::Unavailable { reason }) => {
                                attempts.push(attempt(Outcome::Unavailable, reason));
                                Memo::Passed
                            }
                            Err(error) => {
                                attempts.push(attempt(Outcome::Error, error.to_string()));
                                // A lease an earlier host already caused would otherwise live
                                // to its TTL: nobody else holds it.
                                give_back_memoized(sources, &memo).await;
                                return Resolution {
                                    attempts,
                                    error: Some(error),
                                    ..Resolution::nothing()
                                };
                            }
                        };
                        if !per_host {
                            memo[index] = Some(result.clone());
                        }
                        result
                    }
                };
                if let Memo::Found(credential) = result {
                    answer = Some((index, credential));
                    break;
                }
            }
            answers.push(answer);
        }
        combine(sources, hosts, attempts, answers)
    }
}

/// Revokes the leases of the shared answers kept so far.
async fn give_back_memoized(sources: &[Arc<dyn CredentialSource>], memo: &[Option<Memo>]) {
    for (source, kept) in sources.iter().zip(memo) {
        if let Some(Memo::Found(credential)) = kept
            && let Some(lease) = &credential.lease
        {
            let _ = source.revoke(lease).await;
        }
    }
}

/// The target's credential and each host's secret, from what answered for each host.
fn combine(
    sources: &[Arc<dyn CredentialSource>],
    hosts: &[Endpoint],
    attempts: Vec<Attempt>,
    answers: Vec<Option<(usize, Credential)>>,
) -> Resolution {
    let host_answers = hosts
        .iter()
        .zip(&answers)
        .map(|(host, answer)| HostAnswer {
            host: host.clone(),
            source: answer.as_ref().map(|(_, c)| c.source.clone()),
            origin: answer.as_ref().map(|(_, c)| c.origin.clone()),
        })
        .collect();
    // The shared answer if there is one (it may carry a lease), else the first host's own.
    let shared = answers.iter().position(|a| {
        a.as_ref()
            .is_some_and(|(i, _)| !sources[*i].varies_by_host())
    });
    let main = shared.or_else(|| answers.iter().position(Option::is_some));
    let Some((main, (main_source, mut credential))) =
        main.and_then(|m| answers[m].clone().map(|answer| (m, answer)))
    else {
        return Resolution {
            attempts,
            hosts: host_answers,
            ..Resolution::nothing()
        };
    };
    credential.hosts = answers
        .into_iter()
        .enumerate()
        .map(|(host, answer)| match answer {
            None => HostSecret::NoPassword,
            Some(_) if host == main => HostSecret::Shared,
            Some((index, _)) if index == main_source && !sources[index].varies_by_host() => {
                HostSecret::Shared
            }
            Some((_, own)) => HostSecret::Own {
                username: own.username,
                password: own.password,
                source: own.source,
                origin: own.origin,
            },
        })
        .collect();
    Resolution {
        attempts,
        credential: Some(credential),
        issuer: Some(sources[main_source].clone()),
        error: None,
        hosts: host_answers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DbKind, SourceError};
    use async_trait::async_trait;
    use secrecy::{ExposeSecret, SecretString};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers with a password per host (`per_host`), or the same one for any host.
    struct ByHost {
        name: &'static str,
        per_host: bool,
        passwords: Vec<(&'static str, &'static str)>,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl CredentialSource for ByHost {
        fn name(&self) -> &str {
            self.name
        }
        async fn lookup(&self, target: &TargetIdentity) -> Result<Lookup, SourceError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let host = target.host.as_deref().unwrap_or("");
            let found = self
                .passwords
                .iter()
                .find(|(h, _)| !self.per_host || *h == host);
            Ok(match found {
                Some((h, password)) => Lookup::Found(Credential::new(
                    None,
                    SecretString::from(*password),
                    self.name,
                    format!("{} for {h}", self.name),
                )),
                None => Lookup::not_found(format!("nothing for {host}")),
            })
        }
        fn varies_by_host(&self) -> bool {
            self.per_host
        }
    }

    fn source(
        name: &'static str,
        per_host: bool,
        passwords: &[(&'static str, &'static str)],
    ) -> Arc<ByHost> {
        Arc::new(ByHost {
            name,
            per_host,
            passwords: passwords.to_vec(),
            calls: AtomicUsize::new(0),
        })
    }

    fn target() -> TargetIdentity {
        TargetIdentity {
            name: "t".into(),
            kind: DbKind::Postgres,
            host: Some("a".into()),
            port: None,
            database: Some("app".into()),
            user: Some("u".into()),
        }
    }

    fn hosts(names: &[&str]) -> Vec<Endpoint> {
        names
            .iter()
            .map(|h| Endpoint {
                host: (*h).into(),
                port: Some(5432),
            })
            .collect()
    }

    /// Each host's password as the connector would send it.
    fn sent(resolution: &Resolution, count: usize) -> Vec<Option<String>> {
        let credential = resolution.credential.as_ref().unwrap();
        (0..count)
            .map(|i| {
                credential
                    .for_host(i)
                    .map(|(p, _, _)| p.expose_secret().to_owned())
            })
            .collect()
    }

    #[tokio::test]
    async fn pgpass_answers_per_host_and_no_host_gets_another_host_s_password() {
        let env = source("env", false, &[]);
        let pgpass = source("pgpass", true, &[("a", "pw-a"), ("c", "pw-c")]);
        let chain = CredentialChain::new(vec![env.clone(), pgpass.clone()]);
        let resolution = chain
            .resolve_hosts(&target(), &hosts(&["a", "b", "c"]))
            .await;
        assert_eq!(
            sent(&resolution, 3),
            [Some("pw-a".into()), None, Some("pw-c".into())]
        );
        assert_eq!(env.calls.load(Ordering::SeqCst), 1, "env is asked once");
        assert_eq!(
            pgpass.calls.load(Ordering::SeqCst),
            3,
            "pgpass once per host"
        );
        let answered: Vec<Option<&str>> = resolution
            .hosts
            .iter()
            .map(|h| h.source.as_deref())
            .collect();
        assert_eq!(answered, [Some("pgpass"), None, Some("pgpass")]);
        assert!(
            resolution
                .attempts
                .iter()
                .any(|a| a.detail == "host b:5432: nothing for b"),
            "{:?}",
            resolution.attempts
        );
        assert_eq!(resolution.issuer.as_ref().unwrap().name(), "pgpass");
    }

    #[tokio::test]
    async fn a_shared_source_is_asked_once_and_becomes_the_target_s_credential() {
        // pgpass first: host b has a line, the others fall through to the shared source.
        let pgpass = source("pgpass", true, &[("b", "pw-b")]);
        let vault = source("vault", false, &[("any", "leased")]);
        let chain = CredentialChain::new(vec![pgpass.clone(), vault.clone()]);
        let resolution = chain
            .resolve_hosts(&target(), &hosts(&["a", "b", "c"]))
            .await;
        assert_eq!(
            vault.calls.load(Ordering::SeqCst),
            1,
            "one lease for all hosts"
        );
        assert_eq!(
            sent(&resolution, 3),
            [
                Some("leased".into()),
                Some("pw-b".into()),
                Some("leased".into())
            ]
        );
        assert_eq!(resolution.issuer.as_ref().unwrap().name(), "vault");
        assert_eq!(resolution.credential.as_ref().unwrap().source, "vault");
    }

    #[tokio::test]
    async fn one_host_is_the_plain_chain_and_no_answer_is_no_credential() {
        let pgpass = source("pgpass", true, &[]);
        let chain = CredentialChain::new(vec![pgpass.clone()]);
        let single = chain.resolve_hosts(&target(), &hosts(&["a"])).await;
        assert!(single.credential.is_none() && single.hosts.is_empty());
        let none = chain.resolve_hosts(&target(), &hosts(&["a", "b"])).await;
        assert!(none.credential.is_none());
        assert_eq!(none.hosts.len(), 2);
        assert!(none.hosts.iter().all(|h| h.source.is_none()));
    }

    #[tokio::test]
    async fn a_hard_error_for_any_host_stops_the_chain() {
        struct Broken;
        #[async_trait]
        impl CredentialSource for Broken {
            fn name(&self) -> &str {
                "pgpass"
            }
            async fn lookup(&self, target: &TargetIdentity) -> Result<Lookup, SourceError> {
                match target.host.as_deref() {
                    Some("b") => Err(SourceError::Other("unreadable".into())),
                    _ => Ok(Lookup::not_found("no line")),
                }
            }
            fn varies_by_host(&self) -> bool {
                true
            }
        }
        let chain = CredentialChain::new(vec![Arc::new(Broken)]);
        let resolution = chain.resolve_hosts(&target(), &hosts(&["a", "b"])).await;
        assert!(resolution.error.is_some());
        assert!(resolution.credential.is_none());
        assert_eq!(resolution.attempts.last().unwrap().outcome, Outcome::Error);
    }
}
