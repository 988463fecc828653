//! The type of every setting, parsed once where it is read.
//!
//! Each type says how it reads from the target file (strictly: numbers, flags and lists are
//! written as such), how it reads from an environment variable (text), what is allowed, and
//! its one canonical form in the layered configuration. Messages never echo a value: a
//! secret pasted into the wrong key must not reach a terminal, so they say what a value *is*
//! ("a string of 12 characters").

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use config::ValueKind;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};

/// The largest pool size accepted. sqlx and tokio accept any non-zero `u32`, but a pool of more
/// than ten thousand connections to one target is a typo, and every one of them is a server
/// process on PostgreSQL.
pub const MAX_POOL_SIZE: u32 = 10_000;

/// The longest duration any setting accepts. sqlx adds timeouts to `Instant`s (an overflow
/// panics) and PostgreSQL keeps `statement_timeout` in milliseconds in an `int`; a week is far
/// from both limits and longer than any sensible timeout or connection lifetime.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// What a deserializer handed over, before a setting's type looks at it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    Text(String),
    Integer(i128),
    Bool(bool),
    List(Vec<Raw>),
    /// A float, a date, a table: named by what it is.
    Other(&'static str),
}

impl Raw {
    /// What the value is, without what it says.
    fn describe(&self) -> String {
        match self {
            Raw::Text(text) => describe_text(text),
            Raw::Integer(i) => format!("the integer {i}"),
            Raw::Bool(_) => "a boolean".into(),
            Raw::List(_) => "an array".into(),
            Raw::Other(what) => (*what).into(),
        }
    }

    pub(crate) fn got(&self) -> String {
        format!("got {}", self.describe())
    }

    pub(crate) fn text(self) -> Result<String, String> {
        match self {
            Raw::Text(text) => Ok(text),
            other => Err(other.got()),
        }
    }

    pub(crate) fn strings(self) -> Result<Vec<String>, String> {
        match self {
            Raw::List(items) => items
                .into_iter()
                .map(|item| match item {
                    Raw::Text(text) => Ok(text),
                    other => Err(format!("list item {}", other.got())),
                })
                .collect(),
            other => Err(other.got()),
        }
    }
}

/// What a value is, without what it says: `a string of 12 characters`.
pub(crate) fn describe_text(text: &str) -> String {
    match text.chars().count() {
        0 => "an empty string".to_owned(),
        1 => "a string of 1 character".to_owned(),
        n => format!("a string of {n} characters"),
    }
}

/// A setting's type.
pub(crate) trait SettingValue: Sized {
    /// What is allowed, for messages.
    fn allowed() -> String;
    /// From the target file, or from the canonical form `config` hands back.
    fn from_file(raw: Raw) -> Result<Self, String>;
    /// From an environment variable's text.
    fn from_env(raw: &str) -> Result<Self, String>;
    /// The canonical form, given to `config` and shown by `explain`.
    fn canonical(&self) -> ValueKind;
}

/// A message for a refused value: what was wrong and what is allowed.
pub(crate) fn refusal<T: SettingValue>(problem: String) -> String {
    format!("{problem}; allowed: {}", T::allowed())
}

/// Text parsed with `FromStr`, trimmed; the message never quotes it.
pub(crate) fn parsed<T: FromStr>(raw: &str) -> Result<T, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("got {}", describe_text(raw)))
}

/// An integer from text, any size, so that the range check can say "out of range".
pub(crate) fn integer(raw: &str) -> Result<i128, String> {
    parsed(raw)
}

// ---- serde, written once for every setting type ----

/// Collects whatever a deserializer holds into a [`Raw`].
struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a setting value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Integer(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Integer(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Integer(v.into()))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Raw, E> {
        Ok(Raw::Other("a float"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Text(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Text(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(RawSeed)? {
            items.push(item);
        }
        Ok(Raw::List(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Raw, A::Error> {
        Ok(Raw::Other("a table"))
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Other("nothing"))
    }
}

struct RawSeed;

impl<'de> de::DeserializeSeed<'de> for RawSeed {
    type Value = Raw;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

pub(super) fn deserialize_setting<'de, T: SettingValue, D: Deserializer<'de>>(
    d: D,
) -> Result<T, D::Error> {
    let raw = d.deserialize_any(RawVisitor)?;
    T::from_file(raw).map_err(|problem| de::Error::custom(refusal::<T>(problem)))
}

pub(super) fn serialize_kind<S: Serializer>(kind: &ValueKind, s: S) -> Result<S::Ok, S::Error> {
    match kind {
        ValueKind::Boolean(b) => s.serialize_bool(*b),
        ValueKind::I64(i) => s.serialize_i64(*i),
        ValueKind::String(text) => s.serialize_str(text),
        ValueKind::Array(items) => {
            let mut seq = s.serialize_seq(Some(items.len()))?;
            for item in items {
                seq.serialize_element(&Canonical(&item.kind))?;
            }
            seq.end()
        }
        // No setting type has another canonical form.
        _ => s.serialize_unit(),
    }
}

struct Canonical<'a>(&'a ValueKind);

impl serde::Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_kind(self.0, s)
    }
}

/// `Deserialize` and `Serialize` for setting types, through [`SettingValue`]: invoked in each
/// file of types.
macro_rules! setting_serde {
    ($($ty:ty),* $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                super::setting::deserialize_setting(d)
            }
        }
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                super::setting::serialize_kind(&super::setting::SettingValue::canonical(self), s)
            }
        }
    )*};
}
pub(super) use setting_serde;
