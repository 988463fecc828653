//! Vault's (and OpenBao's) answers as types: parsing a body into what the source uses.
//!
//! Design decision: **a secret goes from the answer's bytes straight into a `SecretString`**
//! (a token, a lease id, a password), never through a `serde_json::Value` or a `String`; and
//! **serde's own messages are never shown**, because they quote the offending value
//! (`invalid type: string "hvs.…", expected u64`). So every field is an `Option`: serde only
//! ever fails on a field of the wrong type, which is named by its path (serde_path_to_error),
//! and a field that is needed but absent is named by the accessor that needs it. Fields the
//! source does not use are not declared: lookup-self's `data.id` (the token itself) is
//! skipped, not copied.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use domain::{ExposeSecret, Renewal, SecretString};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;

use super::token_file::{self, ValueError, ValueKind};

/// What is wrong with an answer; never holds a value from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("an answer over {limit_kib} KiB (status {status})")]
    TooLarge { limit_kib: usize, status: u16 },
    #[error("not a JSON answer (status {status})")]
    NotJson { status: u16 },
    #[error("the answer is not the JSON object vault sends")]
    NotAnObject,
    #[error("the answer's `{field}` has the wrong type")]
    WrongType { field: String },
    #[error("the answer has no `{field}`")]
    Missing { field: String },
    #[error("the answer's `{field}` {problem}")]
    Invalid {
        field: &'static str,
        problem: ValueError,
    },
}

fn missing(field: impl Into<String>) -> AnswerError {
    AnswerError::Missing {
        field: field.into(),
    }
}

/// Parses a success body. No content (a 204) reads as `{}`: every field absent.
pub fn parse<T: DeserializeOwned>(body: &[u8], status: u16) -> Result<T, AnswerError> {
    let body = if body.is_empty() { b"{}" } else { body };
    let mut de = serde_json::Deserializer::from_slice(body);
    let value =
        serde_path_to_error::deserialize(&mut de).map_err(|e| match e.inner().classify() {
            Category::Data if e.path().iter().next().is_none() => AnswerError::NotAnObject,
            Category::Data => AnswerError::WrongType {
                field: e.path().to_string(),
            },
            Category::Io | Category::Syntax | Category::Eof => AnswerError::NotJson { status },
        })?;
    de.end().map_err(|_| AnswerError::NotJson { status })?;
    Ok(value)
}

/// Vault's `errors` strings from a failure body (`{"errors": ["permission denied"]}`): at most
/// 3, each cut at 200 characters, control characters made spaces. A body that is not that
/// shape (an HTML page from a proxy) gives none.
pub fn error_messages(body: &[u8]) -> Vec<String> {
    #[derive(Deserialize)]
    struct ErrorBody {
        errors: Option<Vec<ErrorEntry>>,
    }
    /// Vault's entries are strings; anything else is skipped rather than failing the body.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ErrorEntry {
        Text(String),
        Other(IgnoredAny),
    }
    let Ok(ErrorBody {
        errors: Some(errors),
    }) = serde_json::from_slice(body)
    else {
        return Vec::new();
    };
    errors
        .into_iter()
        .filter_map(|e| match e {
            ErrorEntry::Text(t) => Some(t),
            ErrorEntry::Other(_) => None,
        })
        .take(3)
        .map(|e| {
            e.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(200)
                .collect()
        })
        .collect()
}

/// A token's life as an answer gives it: `None` is a token that does not expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLife {
    pub ttl: Option<Duration>,
    pub renewable: bool,
}

impl TokenLife {
    fn new(seconds: Option<u64>, renewable: Option<bool>) -> Self {
        TokenLife {
            ttl: seconds.map(Duration::from_secs).filter(|t| !t.is_zero()),
            renewable: renewable.unwrap_or(false),
        }
    }
}

/// The answer to a login (`auth/<mount>/login`) and to `auth/token/renew-self`.
#[derive(Deserialize)]
pub struct AuthResponse {
    auth: Option<AuthInfo>,
}

#[derive(Deserialize)]
struct AuthInfo {
    client_token: Option<SecretString>,
    lease_duration: Option<u64>,
    renewable: Option<bool>,
}

impl AuthResponse {
    /// A login's token, checked as a configured token is (but not trimmed: Vault sends none
    /// with a line break), and its life.
    pub fn login(self) -> Result<(SecretString, TokenLife), AnswerError> {
        let auth = self.auth.ok_or_else(|| missing("auth"))?;
        let token = auth
            .client_token
            .ok_or_else(|| missing("auth.client_token"))?;
        token_file::check(token.expose_secret(), ValueKind::TOKEN).map_err(|problem| {
            AnswerError::Invalid {
                field: "auth.client_token",
                problem,
            }
        })?;
        Ok((token, TokenLife::new(auth.lease_duration, auth.renewable)))
    }

    /// A renewal's new life for the token that was sent (the answer repeats the token, which
    /// is not needed).
    pub fn renewed(self) -> Result<TokenLife, AnswerError> {
        let auth = self.auth.ok_or_else(|| missing("auth"))?;
        Ok(TokenLife::new(auth.lease_duration, auth.renewable))
    }
}

/// The answer to `auth/token/lookup-self`: only the token's remaining life is read.
#[derive(Deserialize)]
pub struct LookupSelfResponse {
    data: Option<LookupSelfData>,
}

#[derive(Deserialize)]
struct LookupSelfData {
    ttl: Option<u64>,
    renewable: Option<bool>,
}

impl LookupSelfResponse {
    pub fn life(&self) -> TokenLife {
        match &self.data {
            Some(d) => TokenLife::new(d.ttl, d.renewable),
            None => TokenLife::new(None, None),
        }
    }
}

/// A database credential as a secret holds it.
pub struct DbSecret {
    pub username: Option<String>,
    pub password: SecretString,
    pub lease: Option<LeaseTerms>,
}

/// The lease a dynamic credential came with.
pub struct LeaseTerms {
    pub id: SecretString,
    pub duration: Duration,
    pub renewable: bool,
}

/// `{username, password}`, the `data` of both database-engine reads.
#[derive(Deserialize)]
struct DbCreds {
    username: Option<String>,
    password: Option<SecretString>,
}

impl DbCreds {
    fn into_secret(self, lease: Option<LeaseTerms>) -> Result<DbSecret, AnswerError> {
        Ok(DbSecret {
            username: self.username,
            password: self.password.ok_or_else(|| missing("data.password"))?,
            lease,
        })
    }
}

/// The answer to `<mount>/creds/<role>`: a dynamic credential and its lease.
#[derive(Deserialize)]
pub struct DynamicCredsResponse {
    lease_id: Option<SecretString>,
    lease_duration: Option<u64>,
    renewable: Option<bool>,
    data: Option<DbCreds>,
}

impl DynamicCredsResponse {
    /// An empty lease id is no lease (nothing to renew or revoke).
    pub fn credential(self) -> Result<DbSecret, AnswerError> {
        let lease = self
            .lease_id
            .filter(|id| !id.expose_secret().is_empty())
            .map(|id| LeaseTerms {
                id,
                duration: Duration::from_secs(self.lease_duration.unwrap_or(0)),
                renewable: self.renewable.unwrap_or(false),
            });
        self.data.ok_or_else(|| missing("data"))?.into_secret(lease)
    }
}

/// The answer to `<mount>/static-creds/<role>` (its rotation fields are not used).
#[derive(Deserialize)]
pub struct StaticCredsResponse {
    data: Option<DbCreds>,
}

impl StaticCredsResponse {
    pub fn credential(self) -> Result<DbSecret, AnswerError> {
        self.data.ok_or_else(|| missing("data"))?.into_secret(None)
    }
}

/// The answer to a KV v1 read: `{"data": {key: value, …}}`.
#[derive(Deserialize)]
pub struct KvV1Response {
    data: Option<BTreeMap<String, KvValue>>,
}

/// The answer to a KV v2 read: `{"data": {"data": {key: value, …}, "metadata": …}}`.
#[derive(Deserialize)]
pub struct KvV2Response {
    data: Option<KvV2Data>,
}

#[derive(Deserialize)]
struct KvV2Data {
    data: Option<BTreeMap<String, KvValue>>,
}

impl KvV1Response {
    pub fn credential(
        self,
        username_key: &str,
        password_key: &str,
    ) -> Result<DbSecret, AnswerError> {
        let data = self.data.ok_or_else(|| missing("data"))?;
        kv_credential(data, "data", username_key, password_key)
    }
}

impl KvV2Response {
    pub fn credential(
        self,
        username_key: &str,
        password_key: &str,
    ) -> Result<DbSecret, AnswerError> {
        let data = self
            .data
            .and_then(|d| d.data)
            .ok_or_else(|| missing("data.data"))?;
        kv_credential(data, "data.data", username_key, password_key)
    }
}

/// The user name and password under the configured keys; a user name that is not text is
/// no user name (the target's own is used), a password that is not text is an error.
fn kv_credential(
    mut data: BTreeMap<String, KvValue>,
    at: &str,
    username_key: &str,
    password_key: &str,
) -> Result<DbSecret, AnswerError> {
    let password = match data.remove(password_key) {
        Some(KvValue::Text(p)) => p,
        Some(KvValue::Other) => {
            return Err(AnswerError::WrongType {
                field: format!("{at}.{password_key}"),
            });
        }
        None => return Err(missing(format!("{at}.{password_key}"))),
    };
    let username = match data.remove(username_key) {
        Some(KvValue::Text(u)) => Some(u.expose_secret().to_owned()),
        _ => None,
    };
    Ok(DbSecret {
        username,
        password,
        lease: None,
    })
}

/// A value in a KV secret: text (held as a secret, since any key may be the password) or
/// something else, skipped without being copied. KV secrets hold whatever was written to
/// them, so no value type is an error here.
enum KvValue {
    Text(SecretString),
    Other,
}

impl<'de> Deserialize<'de> for KvValue {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KvValueVisitor)
    }
}

struct KvValueVisitor;

impl<'de> Visitor<'de> for KvValueVisitor {
    type Value = KvValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<KvValue, E> {
        Ok(KvValue::Text(SecretString::from(v)))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<KvValue, E> {
        Ok(KvValue::Text(SecretString::from(v)))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<KvValue, E> {
        Ok(KvValue::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<KvValue, E> {
        Ok(KvValue::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<KvValue, E> {
        Ok(KvValue::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<KvValue, E> {
        Ok(KvValue::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<KvValue, E> {
        Ok(KvValue::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KvValue, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(KvValue::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KvValue, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(KvValue::Other)
    }
}

/// The answer to `sys/leases/renew`. Absent fields read as 0 s and not renewable, as they
/// always have here.
#[derive(Deserialize)]
pub struct LeaseRenewalResponse {
    lease_duration: Option<u64>,
    renewable: Option<bool>,
}

impl LeaseRenewalResponse {
    pub fn renewal(&self) -> Renewal {
        Renewal {
            duration: Duration::from_secs(self.lease_duration.unwrap_or(0)),
            renewable: self.renewable.unwrap_or(false),
        }
    }
}

#[cfg(test)]
#[path = "responses_tests.rs"]
mod tests;
