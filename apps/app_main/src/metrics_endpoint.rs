//! `--metrics ADDR`: the health metrics of `project_core::health` in Prometheus' text format
//! at `http://ADDR/metrics`.
//!
//! Design decision: our own small endpoint (axum, which the viewer already uses) over the
//! exporter's built-in HTTP listener, so that a scrape first samples the pools and leases of
//! this moment (`health::sample`) and then renders, and so that the endpoint checks the `Host`
//! header as the viewer does, against DNS rebinding (a web page that has its own name resolve
//! to this machine): bound to a loopback address it answers only requests addressed to a
//! loopback name or address; bound to any other address (`0.0.0.0` too, which also answers on
//! 127.0.0.1), only requests addressed to an IP address or `localhost` — Prometheus scrapes a
//! target by address, a rebinding page can only use a name.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// `--metrics`'s value: an IP address and a port (`127.0.0.1:9187`, `[::1]:9187`; port 0
/// picks a free one).
pub fn parse_metrics_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("`{text}` is not an IP address and port, e.g. 127.0.0.1:9187 or [::1]:9187")
    })
}

#[derive(Clone)]
struct Endpoint {
    handle: PrometheusHandle,
    loopback: bool,
}

/// Installs the Prometheus recorder for this process and serves it on `addr` until the
/// process ends; returns the address it listens on.
pub async fn serve_metrics(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for --metrics on {addr}"))?;
    let bound = listener.local_addr()?;
    let recorder = PrometheusBuilder::new()
        // Seconds: from a fast checkout to a slow login across a network.
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ])
        .context("histogram buckets")?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|_| anyhow::anyhow!("a metrics recorder is already installed"))?;
    project_core::health::describe();
    let endpoint = Endpoint {
        handle,
        loopback: bound.ip().is_loopback(),
    };
    let app = Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { (StatusCode::NOT_FOUND, "metrics are at /metrics\n") })
        .with_state(endpoint);
    // A scraper or two, and one person with curl: a small cap.
    let limits = crate::HttpLimits {
        header_read_timeout: std::time::Duration::from_secs(10),
        max_connections: 16,
    };
    tokio::spawn(crate::serve_http(listener, app, limits));
    Ok(bound)
}

async fn scrape(State(endpoint): State<Endpoint>, headers: HeaderMap) -> Response {
    let refused = match endpoint.loopback {
        true if !addressed_to_loopback(&headers) => {
            Some("this endpoint answers requests addressed to localhost, 127.0.0.1 or [::1] only\n")
        }
        false if !addressed_to_an_address(&headers) => {
            Some("this endpoint answers requests addressed to an IP address or localhost only\n")
        }
        _ => None,
    };
    if let Some(refused) = refused {
        return (StatusCode::MISDIRECTED_REQUEST, refused).into_response();
    }
    project_core::health::sample().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        endpoint.handle.render(),
    )
        .into_response()
}

/// The host the `Host` header names, without its port: an IP address, or else a name. A
/// header that is not `host`, `host:port`, `[v6]` or `[v6]:port` names none.
fn host_of(headers: &HeaderMap) -> Option<Result<std::net::IpAddr, &str>> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let port_ok = |port: &str| port.parse::<u16>().is_ok();
    if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(port_ok)) {
            return None;
        }
        let ip = inside.parse::<std::net::Ipv6Addr>().ok()?;
        return Some(Ok(std::net::IpAddr::V6(ip)));
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port_ok(port) => name,
        Some(_) => return None,
        None => host,
    };
    if name.is_empty() {
        return None;
    }
    Some(
        name.parse::<std::net::Ipv4Addr>()
            .map(std::net::IpAddr::V4)
            .map_err(|_| name),
    )
}

/// Whether the `Host` header names a loopback host (any port).
fn addressed_to_loopback(headers: &HeaderMap) -> bool {
    addressed_to(headers, |ip| ip.is_loopback())
}

/// Whether the `Host` header names an IP address or `localhost` (any port).
fn addressed_to_an_address(headers: &HeaderMap) -> bool {
    addressed_to(headers, |_| true)
}

/// Whether the `Host` header names `localhost` or an address `ip_allowed` takes.
fn addressed_to(headers: &HeaderMap, ip_allowed: impl Fn(std::net::IpAddr) -> bool) -> bool {
    match host_of(headers) {
        Some(Ok(ip)) => ip_allowed(ip),
        Some(Err(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value.parse().unwrap());
        headers
    }

    #[test]
    fn only_loopback_hosts_are_answered_on_a_loopback_address() {
        for ok in [
            "127.0.0.1:9187",
            "localhost:1",
            "LOCALHOST",
            "[::1]:9187",
            "127.9.9.9",
        ] {
            assert!(addressed_to_loopback(&host(ok)), "{ok}");
        }
        for refused in [
            "evil.example:9187",
            "127.0.0.1.evil.example",
            "[::2]:1",
            "",
            "10.0.0.1",
            "[::1].evil.example",
            "localhost:1@evil",
            "127.0.0.1:port",
        ] {
            assert!(!addressed_to_loopback(&host(refused)), "{refused}");
        }
        assert!(!addressed_to_loopback(&HeaderMap::new()));
    }

    #[test]
    fn beyond_loopback_only_addresses_and_localhost_are_answered() {
        for ok in [
            "10.1.2.3:9187",
            "[fd00::1]:9187",
            "127.0.0.1",
            "localhost:9187",
        ] {
            assert!(addressed_to_an_address(&host(ok)), "{ok}");
        }
        for refused in [
            "rebind.evil.example",
            "pod.cluster.local:9187",
            "10.1.2.3.nip.io",
            "[::1]x",
        ] {
            assert!(!addressed_to_an_address(&host(refused)), "{refused}");
        }
    }

    #[test]
    fn the_address_must_be_an_ip_and_a_port() {
        assert!(parse_metrics_addr("127.0.0.1:9187").is_ok());
        assert!(parse_metrics_addr("[::1]:0").is_ok());
        for bad in [
            "localhost:9187",
            "127.0.0.1",
            ":9187",
            "127.0.0.1:99999",
            "",
        ] {
            let error = parse_metrics_addr(bad).unwrap_err();
            assert!(error.contains("is not an IP address and port"), "{error}");
        }
    }
}
