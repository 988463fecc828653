//! Every setting type reads back what it writes (its canonical form goes through `config` and
//! comes back through its `Deserialize`), and says what it allows.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use adapters::credentials::keyring::StoreChoice;
use config::ValueKind;
use domain::{DbKind, SslMode};

use super::setting::{Raw, SettingValue};
use super::*;

/// `value` through its canonical form and back, as the merge does.
fn round_trip<T: SettingValue + PartialEq + std::fmt::Debug>(value: T) {
    let raw = match value.canonical() {
        ValueKind::String(s) => Raw::Text(s),
        ValueKind::I64(n) => Raw::Integer(n.into()),
        ValueKind::Boolean(b) => Raw::Bool(b),
        ValueKind::Array(items) => Raw::List(
            items
                .into_iter()
                .map(|i| match i.kind {
                    ValueKind::String(s) => Raw::Text(s),
                    other => panic!("{other:?}"),
                })
                .collect(),
        ),
        other => panic!("{other:?}"),
    };
    assert_eq!(T::from_file(raw).unwrap(), value);
}

fn every_word<T: Vocabulary + PartialEq + std::fmt::Debug>(all: &[T]) {
    for value in all {
        let word = value.word();
        assert_eq!(T::from_word(word), Some(*value), "{word}");
        assert!(
            T::ALLOWED.split(", ").any(|w| w == word),
            "{word} in {}",
            T::ALLOWED
        );
        round_trip(Choice(*value));
        assert_eq!(
            Choice::<T>::from_env(&format!(" {word} ")),
            Ok(Choice(*value))
        );
    }
    assert_eq!(T::ALLOWED.split(", ").count(), all.len());
    assert_eq!(T::from_word("nonsense"), None);
    assert_eq!(Choice::<T>::allowed(), format!("one of {}", T::ALLOWED));
}

#[test]
fn every_word_of_every_vocabulary_reads_back() {
    every_word(&DbKind::ALL);
    every_word(&SslMode::ALL);
    every_word(&[
        StoreChoice::Auto,
        StoreChoice::SecretService,
        StoreChoice::Keyutils,
    ]);
    every_word(&[
        VaultAuthMethod::Token,
        VaultAuthMethod::AppRole,
        VaultAuthMethod::Kubernetes,
        VaultAuthMethod::Jwt,
    ]);
}

#[test]
fn kv_versions_are_1_and_2_as_integers_or_strings() {
    for (version, n) in [(KvVersion::V1, 1u8), (KvVersion::V2, 2)] {
        assert_eq!(version.number(), n);
        assert_eq!(version.canonical(), ValueKind::I64(n.into()));
        assert_eq!(KvVersion::from_file(Raw::Integer(n.into())), Ok(version));
        assert_eq!(KvVersion::from_file(Raw::Text(n.to_string())), Ok(version));
        round_trip(version);
    }
    assert_eq!(KvVersion::allowed(), "1 or 2");
    assert!(KvVersion::from_file(Raw::Integer(3)).is_err());
    assert_eq!(
        KvVersion::from_file(Raw::Bool(true)),
        Err("got a boolean".into())
    );
}

#[test]
fn numbers_durations_flags_and_lists_read_back() {
    round_trip(Port::from_env("5432").unwrap());
    round_trip(PoolSize::<0>::from_env("0").unwrap());
    round_trip(TimeSpan(Duration::from_millis(1500)));
    round_trip(TimeSpan(MAX_DURATION));
    round_trip(Flag(true));
    round_trip(Flag(false));
    round_trip(Names(vec!["a".into(), "b c".into()]));
    round_trip(Sources(vec![SourceKind::Vault, SourceKind::Env]));
    round_trip(Sources(Vec::new()));
    round_trip(Host("/run/my sockets".into()));
    round_trip(Text(" as written ".into()));
    round_trip(FilePath("/etc/x".into()));
    assert_eq!(Flag::allowed(), "true or false");
    assert_eq!(
        Flag::from_file(Raw::Text("yes".into())),
        Err("got a string of 3 characters".into()),
        "a file writes a flag as a boolean"
    );
    assert_eq!(Port::allowed(), "an integer from 1 to 65535");
    assert_eq!(PoolSize::<1>::allowed(), "an integer from 1 to 10000");
    for kind in SourceKind::ALL {
        assert_eq!(kind.as_str().parse(), Ok(kind));
        assert!(
            SourceKind::ALL_NAMES
                .split(", ")
                .any(|n| n == kind.as_str())
        );
    }
    assert_eq!(
        SourceKind::ALL_NAMES.split(", ").count(),
        SourceKind::ALL.len()
    );
}

#[test]
fn each_text_type_says_what_it_allows() {
    assert_eq!(Text::allowed(), "a string");
    assert_eq!(FilePath::allowed(), "a file path");
    assert!(Host::allowed().starts_with("a host name, an IP address or a socket directory"));
    assert_eq!(
        Names::allowed(),
        "a list of strings (comma-separated in the environment)"
    );
    assert!(Sources::allowed().ends_with(SourceKind::ALL_NAMES));
    assert!(TimeSpan::allowed().starts_with("a duration from 1ms to 7days"));
    assert_eq!(SourceKind::Pgpass.to_string(), "pgpass");
    assert_eq!(
        refusal::<Port>("got 0, out of range".into()),
        "got 0, out of range; allowed: an integer from 1 to 65535"
    );
}
