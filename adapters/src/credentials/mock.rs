//! `mock`: a source with scripted answers and a call counter, for unit tests of the chain and
//! of apps. Answers are given in order; the last one repeats.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use domain::{Credential, CredentialSource, Lookup, SecretString, SourceError, TargetIdentity};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum MockAnswer {
    /// Found, with this user (or the target's) and password.
    Found {
        username: Option<String>,
        password: String,
    },
    NotFound(String),
    Unavailable(String),
    /// A hard error with this message.
    Error(String),
}

pub struct MockSource {
    name: String,
    answers: Mutex<Vec<MockAnswer>>,
    calls: AtomicUsize,
}

impl std::fmt::Debug for MockSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockSource")
            .field("name", &self.name)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl MockSource {
    pub fn new(name: impl Into<String>, answers: Vec<MockAnswer>) -> Self {
        Self {
            name: name.into(),
            answers: Mutex::new(answers),
            calls: AtomicUsize::new(0),
        }
    }

    /// A source that always finds `password`.
    pub fn found(name: impl Into<String>, password: &str) -> Self {
        Self::new(
            name,
            vec![MockAnswer::Found {
                username: None,
                password: password.into(),
            }],
        )
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl CredentialSource for MockSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn lookup(&self, _target: &TargetIdentity) -> Result<Lookup, SourceError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = {
            let answers = self
                .answers
                .lock()
                .map_err(|_| SourceError::Other("mock source lock poisoned".into()))?;
            match answers.get(call).or(answers.last()) {
                Some(answer) => answer.clone(),
                None => MockAnswer::NotFound("the mock has no answers".into()),
            }
        };
        Ok(match answer {
            MockAnswer::Found { username, password } => Lookup::Found(Credential::new(
                username,
                SecretString::from(password),
                self.name.clone(),
                format!("mock answer {}", call + 1),
            )),
            MockAnswer::NotFound(reason) => Lookup::not_found(reason),
            MockAnswer::Unavailable(reason) => Lookup::unavailable(reason),
            MockAnswer::Error(message) => return Err(SourceError::Other(message)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{DbKind, ExposeSecret};

    #[tokio::test]
    async fn answers_in_order_then_repeats_the_last_and_counts_calls() {
        let source = MockSource::new(
            "m",
            vec![
                MockAnswer::Unavailable("down".into()),
                MockAnswer::Error("boom".into()),
                MockAnswer::Found {
                    username: Some("u".into()),
                    password: "p".into(),
                },
            ],
        );
        let t = TargetIdentity {
            name: "t".into(),
            kind: DbKind::Sqlite,
            host: None,
            port: None,
            database: None,
            user: None,
        };
        assert!(matches!(
            source.lookup(&t).await,
            Ok(Lookup::Unavailable { .. })
        ));
        assert_eq!(source.lookup(&t).await.unwrap_err().to_string(), "boom");
        for _ in 0..2 {
            let Ok(Lookup::Found(c)) = source.lookup(&t).await else {
                panic!("expected found")
            };
            assert_eq!(c.password.expose_secret(), "p");
        }
        assert_eq!(source.calls(), 4);
    }
}
