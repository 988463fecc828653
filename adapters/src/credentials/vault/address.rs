//! The Vault address: parsed and checked once, before anything is sent.
//!
//! Allowed: `https://host[:port][/path]`, and `http://` when the host is loopback
//! (`127.0.0.0/8`, `::1`, `localhost`) or the target says `vault.allow_http = true`. Refused:
//! any other scheme, a user name or password (`http://u:pw@host`: reqwest would send it as
//! basic authentication, and it would be printed wherever the address is), a query string or
//! a fragment, `.`/`..` segments. Errors describe what is wrong and never repeat the address,
//! which may hold a secret; a parsed address is shown without any of those parts.

use std::net::IpAddr;

use reqwest::Url;

/// Longest address accepted; real ones are under 100 characters.
const MAX_LEN: usize = 2048;

/// A checked Vault address: where every request goes, and the text shown for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultAddress {
    url: Url,
    shown: String,
}

/// Why an address was refused. The messages never contain the address itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("is not a URL; give https://host:port")]
    NotAUrl,
    #[error("is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("has the scheme `{0}`; only https:// (and http:// to loopback) is allowed")]
    Scheme(String),
    #[error(
        "holds a user name or password; vault addresses may not carry credentials (give the token through VAULT_TOKEN or vault.auth)"
    )]
    UserInfo,
    #[error("has a query string or fragment (`?…`, `#…`), which a vault address may not have")]
    Query,
    #[error("has `.` or `..` path segments")]
    DotSegments,
    #[error("has no host")]
    NoHost,
    #[error(
        "uses plain http:// to a host that is not loopback; use https://, or set vault.allow_http = true in the target to send the token unencrypted"
    )]
    PlainHttp,
}

impl VaultAddress {
    /// Checks `raw`; `allow_http` is the target's `vault.allow_http`.
    pub fn parse(raw: &str, allow_http: bool) -> Result<Self, AddressError> {
        let raw = raw.trim();
        if raw.len() > MAX_LEN {
            return Err(AddressError::TooLong);
        }
        if raw.contains(['?', '#']) {
            return Err(AddressError::Query);
        }
        let url = Url::parse(raw).map_err(|_| AddressError::NotAUrl)?;
        if !url.username().is_empty() || url.password().is_some() || authority(raw).contains('@') {
            return Err(AddressError::UserInfo);
        }
        let scheme = url.scheme().to_owned();
        if scheme != "https" && scheme != "http" {
            let shown: String = scheme.chars().take(16).collect();
            return Err(AddressError::Scheme(shown));
        }
        let host = url.host_str().ok_or(AddressError::NoHost)?;
        if host.is_empty() {
            return Err(AddressError::NoHost);
        }
        if path_of(raw).split('/').any(|s| s == "." || s == "..") {
            return Err(AddressError::DotSegments);
        }
        if scheme == "http" && !allow_http && !is_loopback(&url) {
            return Err(AddressError::PlainHttp);
        }
        let path = url.path().trim_end_matches('/');
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let shown = format!("{scheme}://{host}{port}{path}");
        Ok(Self { url, shown })
    }

    /// `https://vault.internal:8200`: scheme, host, port and path, nothing else.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// The URL of an API path (`auth/token/lookup-self`) under `/v1/`.
    pub fn endpoint(&self, api_path: &str) -> Url {
        let mut url = self.url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}/v1/{api_path}"));
        url
    }
}

impl std::fmt::Display for VaultAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// The part between `//` and the next `/` of a raw address (empty when there is none).
fn authority(raw: &str) -> &str {
    let rest = raw.split_once("//").map_or("", |(_, r)| r);
    rest.split(['/', '\\']).next().unwrap_or("")
}

/// The raw path after the authority, before the URL parser normalises `..` away.
fn path_of(raw: &str) -> &str {
    let rest = raw.split_once("//").map_or("", |(_, r)| r);
    rest.find(['/', '\\']).map_or("", |i| &rest[i..])
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// An API path made of configured mounts, paths and roles: non-empty segments of visible
/// ASCII without `?`, `#`, `%`, `\` or `.`/`..`, so that it cannot leave `/v1/` or add a query.
pub fn check_api_path(path: &str) -> Result<(), String> {
    if path.len() > 1024 {
        return Err("is longer than 1024 characters".into());
    }
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err("has an empty, `.` or `..` segment".into());
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !c.is_ascii_graphic() || matches!(c, '?' | '#' | '%' | '\\'))
        {
            return Err(match c {
                c if c.is_ascii_graphic() => format!("has `{c}`, which a vault path may not have"),
                _ => "has a space, control or non-ASCII character".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> AddressError {
        match VaultAddress::parse(raw, false) {
            Ok(a) => panic!("{raw} was accepted as {a}"),
            Err(e) => e,
        }
    }

    #[test]
    fn https_anywhere_and_http_to_loopback_are_accepted() {
        for (raw, shown) in [
            (
                "https://vault.example.com:8200",
                "https://vault.example.com:8200",
            ),
            ("https://vault.example.com/", "https://vault.example.com"),
            (
                "https://10.1.2.3:8200/prefix/",
                "https://10.1.2.3:8200/prefix",
            ),
            ("http://127.0.0.1:8200", "http://127.0.0.1:8200"),
            ("http://127.9.9.9:8200", "http://127.9.9.9:8200"),
            ("http://localhost:8200", "http://localhost:8200"),
            ("HTTP://LOCALHOST:8200", "http://localhost:8200"),
            ("http://[::1]:8200", "http://[::1]:8200"),
            (
                "http://[::ffff:127.0.0.1]:8200",
                "http://[::ffff:7f00:1]:8200",
            ),
        ] {
            let address = VaultAddress::parse(raw, false).unwrap();
            assert_eq!(address.shown(), shown, "{raw}");
        }
    }

    #[test]
    fn plain_http_beyond_loopback_needs_allow_http() {
        for raw in [
            "http://10.0.0.1:8200",
            "http://vault.example.com",
            "http://0.0.0.0:8200",
            "http://[::]:8200",
            "http://[2001:db8::1]",
            "http://[::ffff:10.0.0.1]",
            "http://localhost.example.com",
            "http://127.0.0.1.example.com",
            "http://localhost@evil.example",
        ] {
            let e = refused(raw);
            assert!(
                matches!(e, AddressError::PlainHttp | AddressError::UserInfo),
                "{raw}: {e}"
            );
            if e == AddressError::PlainHttp {
                assert!(
                    VaultAddress::parse(raw, true).is_ok(),
                    "{raw} with allow_http"
                );
            }
        }
    }

    #[test]
    fn credentials_queries_and_odd_schemes_are_refused_without_echo() {
        for (raw, expected) in [
            ("http://u:canary@127.0.0.1:8200", AddressError::UserInfo),
            ("https://canary@vault", AddressError::UserInfo),
            ("https://canary:@vault", AddressError::UserInfo),
            ("https://:canary@vault", AddressError::UserInfo),
            ("https://vault/?canary", AddressError::Query),
            ("https://vault?x=canary", AddressError::Query),
            ("https://vault#canary", AddressError::Query),
            ("https://vault/a/../canary", AddressError::DotSegments),
            ("ftp://canary", AddressError::Scheme("ftp".into())),
            (
                "unix:///run/canary.sock",
                AddressError::Scheme("unix".into()),
            ),
            ("canary", AddressError::NotAUrl),
            ("https://", AddressError::NotAUrl),
        ] {
            let e = refused(raw);
            assert_eq!(e, expected, "{raw}");
            assert!(!e.to_string().contains("canary"), "{raw}: {e}");
        }
        assert_eq!(
            refused(&format!("https://{}", "a".repeat(3000))),
            AddressError::TooLong
        );
    }

    #[test]
    fn endpoints_stay_under_v1() {
        let a = VaultAddress::parse("https://vault:8200/prefix/", false).unwrap();
        assert_eq!(
            a.endpoint("auth/token/lookup-self").as_str(),
            "https://vault:8200/prefix/v1/auth/token/lookup-self"
        );
        let a = VaultAddress::parse("http://127.0.0.1:8200", false).unwrap();
        assert_eq!(
            a.endpoint("secret/data/app").as_str(),
            "http://127.0.0.1:8200/v1/secret/data/app"
        );
    }

    #[test]
    fn api_paths_are_plain_segments() {
        assert!(check_api_path("secret/data/team-a/app_1").is_ok());
        for bad in [
            "secret/../sys/raw",
            "secret//x",
            "secret/x?list=true",
            "secret/x#y",
            "secret/%2e%2e/x",
            "secret/a b",
            "secret/\u{e9}",
            "/secret",
        ] {
            assert!(check_api_path(bad).is_err(), "{bad}");
        }
    }
}
