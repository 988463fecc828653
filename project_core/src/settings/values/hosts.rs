//! `host` and `port`: one value, or a list (libpq's `host=a,b` and `port=5432,5433`).
//!
//! A single value keeps its one-value form (a string, an integer), so a target that names one
//! host reads and shows exactly as before; a list is a TOML array, or commas in the
//! environment and in a host string, as libpq splits them.

use config::ValueKind;

use super::scalar::Port;
use super::setting::{Raw, SettingValue};
use super::text::Host;

/// The hosts of a target, in the order they are tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts(pub Vec<Host>);

/// The ports of a target: one for every host, or one per host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports(pub Vec<Port>);

/// Each item read by `one`, saying which item was refused when there are several.
fn items<T>(texts: Vec<String>, one: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    let several = texts.len() > 1;
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            if several && text.is_empty() {
                return Err(format!("item {} is empty", i + 1));
            }
            one(text).map_err(|e| {
                if several {
                    format!("item {}: {e}", i + 1)
                } else {
                    e
                }
            })
        })
        .collect()
}

/// libpq's comma list; a value without a comma is one item exactly as written (a host with
/// spaces around it stays refused), items of a list are trimmed.
fn split(raw: &str) -> Vec<String> {
    if !raw.contains(',') {
        return vec![raw.to_owned()];
    }
    raw.split(',').map(|s| s.trim().to_owned()).collect()
}

/// The items of a TOML array: a `,` inside one would split it when the list is read back as
/// libpq's comma form, so it is refused.
fn array_items(raw: Raw) -> Result<Vec<String>, String> {
    let texts = raw.strings()?;
    match texts.iter().position(|t| t.contains(',')) {
        Some(i) => Err(format!(
            "item {} holds a `,`; allowed: one host per item",
            i + 1
        )),
        None => Ok(texts),
    }
}

fn one_or_list(mut items: Vec<ValueKind>) -> ValueKind {
    if items.len() == 1 {
        items.remove(0)
    } else {
        ValueKind::Array(
            items
                .into_iter()
                .map(|k| config::Value::new(None, k))
                .collect(),
        )
    }
}

impl Hosts {
    pub fn first(&self) -> Option<&str> {
        self.0.first().map(|h| h.0.as_str())
    }
}

impl SettingValue for Hosts {
    fn allowed() -> String {
        format!(
            "{}; several as a list (comma-separated in a string)",
            Host::allowed()
        )
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        let texts = match raw {
            Raw::Text(text) => split(&text),
            Raw::List(_) => array_items(raw)?,
            other => return Err(other.got()),
        };
        if texts.is_empty() {
            return Err("got an empty array".into());
        }
        items(texts, Host::from_env).map(Hosts)
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        items(split(raw), Host::from_env).map(Hosts)
    }
    fn canonical(&self) -> ValueKind {
        one_or_list(self.0.iter().map(SettingValue::canonical).collect())
    }
}

impl Ports {
    pub fn numbers(&self) -> Vec<u16> {
        self.0.iter().map(|p| p.number()).collect()
    }
}

impl SettingValue for Ports {
    fn allowed() -> String {
        format!(
            "{}, or a list of them, one per host (comma-separated in the environment)",
            Port::allowed()
        )
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        match raw {
            Raw::Integer(_) => Port::from_file(raw).map(|p| Ports(vec![p])),
            Raw::List(list) if list.is_empty() => Err("got an empty array".into()),
            Raw::List(list) => {
                let several = list.len() > 1;
                list.into_iter()
                    .enumerate()
                    .map(|(i, item)| {
                        Port::from_file(item).map_err(|e| {
                            if several {
                                format!("item {}: {e}", i + 1)
                            } else {
                                e
                            }
                        })
                    })
                    .collect::<Result<_, _>>()
                    .map(Ports)
            }
            other => Err(other.got()),
        }
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        items(split(raw), Port::from_env).map(Ports)
    }
    fn canonical(&self) -> ValueKind {
        one_or_list(self.0.iter().map(SettingValue::canonical).collect())
    }
}

super::setting::setting_serde!(Hosts, Ports);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_host_keeps_its_form_and_several_are_a_list() {
        let one = Hosts::from_file(Raw::Text("db".into())).unwrap();
        assert_eq!(one.canonical(), ValueKind::String("db".into()));
        let listed = Hosts::from_file(Raw::List(vec![
            Raw::Text("a".into()),
            Raw::Text("/run/pg".into()),
        ]))
        .unwrap();
        assert_eq!(listed.0, [Host("a".into()), Host("/run/pg".into())]);
        assert!(matches!(listed.canonical(), ValueKind::Array(items) if items.len() == 2));
        // libpq's comma form, in the file and the environment.
        assert_eq!(
            Hosts::from_file(Raw::Text("a,b".into())).unwrap().0.len(),
            2
        );
        assert_eq!(
            Hosts::from_env("a, b").unwrap().0,
            [Host("a".into()), Host("b".into())]
        );
        // One empty host is libpq's default socket, as before.
        assert_eq!(Hosts::from_env("").unwrap().0, [Host(String::new())]);
    }

    #[test]
    fn a_comma_inside_an_array_item_and_spaces_around_one_host_are_refused() {
        let error = Hosts::from_file(Raw::List(vec![Raw::Text("/tmp/a,b".into())])).unwrap_err();
        assert_eq!(error, "item 1 holds a `,`; allowed: one host per item");
        assert!(Hosts::from_env(" db ").is_err(), "one host is not trimmed");
        assert!(Hosts::from_file(Raw::Text(" db".into())).is_err());
    }

    #[test]
    fn bad_items_are_named_by_position_never_echoed() {
        assert_eq!(Hosts::from_env("a,,b").unwrap_err(), "item 2 is empty");
        let error = Hosts::from_env("a,u:pw@db").unwrap_err();
        assert!(
            error.starts_with("item 2: ") && !error.contains("pw"),
            "{error}"
        );
        assert_eq!(
            Hosts::from_file(Raw::List(vec![])).unwrap_err(),
            "got an empty array"
        );
        assert_eq!(
            Ports::from_env("5432,0").unwrap_err(),
            "item 2: got 0, out of range"
        );
        assert_eq!(
            Ports::from_env("5432, 5433").unwrap().numbers(),
            [5432, 5433]
        );
        assert_eq!(
            Ports::from_file(Raw::Integer(65536)).unwrap_err(),
            "got 65536, out of range"
        );
        assert!(
            Ports::from_file(Raw::Text("5432".into())).is_err(),
            "a string is not a port in a file"
        );
        assert_eq!(
            Ports::from_file(Raw::List(vec![Raw::Integer(1), Raw::Text("x".into())])).unwrap_err(),
            "item 2: got a string of 1 character"
        );
    }

    proptest::proptest! {
        /// Any list of host names or socket directories reads back as itself from libpq's
        /// comma form, from a TOML array, and through the canonical form the layers keep.
        #[test]
        fn host_lists_round_trip(hosts in proptest::collection::vec(
            "([a-z0-9][a-z0-9.-]{0,20}|/[a-z0-9/ ._-]{0,20}[a-z0-9])", 1..5)) {
            let joined = hosts.join(",");
            let from_env = Hosts::from_env(&joined).unwrap();
            let items: Vec<String> = from_env.0.iter().map(|h| h.0.clone()).collect();
            proptest::prop_assert_eq!(&items, &hosts);
            let listed = Hosts::from_file(Raw::List(hosts.iter().cloned().map(Raw::Text).collect())).unwrap();
            proptest::prop_assert_eq!(&listed, &from_env);
            let back = match listed.canonical() {
                ValueKind::String(one) => Hosts::from_file(Raw::Text(one)).unwrap(),
                ValueKind::Array(items) => Hosts::from_file(Raw::List(items.into_iter().map(|v| match v.kind {
                    ValueKind::String(s) => Raw::Text(s),
                    _ => Raw::Other("not text"),
                }).collect())).unwrap(),
                _ => Hosts(Vec::new()),
            };
            proptest::prop_assert_eq!(back, listed);
        }

        /// Ports: every list of valid numbers reads back; anything else is refused, never a panic.
        #[test]
        fn port_lists_round_trip_and_junk_never_panics(
            ports in proptest::collection::vec(1u16..=65535, 1..5),
            junk in "\\PC{0,30}",
        ) {
            let joined: Vec<String> = ports.iter().map(u16::to_string).collect();
            proptest::prop_assert_eq!(Ports::from_env(&joined.join(",")).unwrap().numbers(), ports.clone());
            let _ = Ports::from_env(&junk);
            let _ = Hosts::from_env(&junk);
            let _ = Hosts::from_file(Raw::Text(junk));
        }
    }
}
