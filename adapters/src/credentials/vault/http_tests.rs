//! The HTTP client's tests: redirects refused, answers classified, TLS and CA files.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::de::IgnoredAny;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A server that answers every connection with `answer`; counts connections.
pub(crate) async fn server(answer: String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, count)
}

fn client(port: u16) -> Client {
    let address = VaultAddress::parse(&format!("http://127.0.0.1:{port}"), false).unwrap();
    Client::new(address, None, None).unwrap()
}

pub(crate) fn reply(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn no_redirect_is_followed_even_to_the_same_origin() {
    let (decoy, decoy_hits) = server(reply("200 OK", "", "{}")).await;
    for status in [
        "301 Moved",
        "302 Found",
        "303 See Other",
        "307 Temporary",
        "308 Permanent",
    ] {
        for location in [
            format!("http://127.0.0.1:{decoy}/v1/x"),
            format!("//127.0.0.1:{decoy}/v1/x"),
            "/v1/other".to_owned(),
        ] {
            let (port, hits) =
                server(reply(status, &format!("Location: {location}\r\n"), "")).await;
            let token = SecretString::from("hvs.token".to_owned());
            let e = client(port)
                .send::<IgnoredAny>(
                    reqwest::Method::POST,
                    "auth/approle/login",
                    Some(&token),
                    &json!({"secret_id": "s"}),
                )
                .await
                .unwrap_err();
            let code: u16 = status[..3].parse().unwrap();
            assert_eq!(e, CallError::Redirect(code), "{status} to {location}");
            assert_eq!(
                hits.load(Ordering::SeqCst),
                1,
                "{status} to {location}: followed"
            );
        }
    }
    assert_eq!(decoy_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn answers_are_classified() {
    let (port, _) = server(reply(
        "403 Forbidden",
        "",
        "{\"errors\":[\"permission denied\\n\"]}",
    ))
    .await;
    let e = client(port).get::<IgnoredAny>("x", None).await.unwrap_err();
    assert_eq!(e, CallError::Status(403, vec!["permission denied ".into()]));
    let (port, _) = server(reply("502 Bad Gateway", "", "<html>")).await;
    let e = client(port).get::<IgnoredAny>("x", None).await.unwrap_err();
    assert_eq!(e, CallError::Status(502, vec![]));
    let (port, _) = server(reply("200 OK", "", "<html>")).await;
    let e = client(port).get::<IgnoredAny>("x", None).await.unwrap_err();
    assert_eq!(
        e,
        CallError::Malformed(AnswerError::NotJson { status: 200 })
    );
    let big = format!("{{\"data\":\"{}\"}}", "a".repeat(MAX_ANSWER));
    let (port, _) = server(reply("200 OK", "", &big)).await;
    let e = client(port).get::<IgnoredAny>("x", None).await.unwrap_err();
    assert!(
        matches!(e, CallError::Malformed(AnswerError::TooLarge { .. })),
        "{e:?}"
    );
    // Nothing listens on a port just freed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = client(port).get::<IgnoredAny>("x", None).await.unwrap_err();
    assert!(
        matches!(e, CallError::Unreachable(ref m) if !m.contains("127.0.0.1")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_server_that_does_not_speak_tls_is_a_tls_error() {
    let (port, _) = server(reply("400 Bad Request", "", "")).await;
    let address = VaultAddress::parse(&format!("https://127.0.0.1:{port}"), false).unwrap();
    let e = Client::new(address, None, None)
        .unwrap()
        .get::<IgnoredAny>("x", None)
        .await
        .unwrap_err();
    assert!(matches!(e, CallError::Tls(_)), "{e:?}");
}

#[test]
fn a_ca_file_must_be_a_regular_file_with_certificates() {
    let address = VaultAddress::parse("https://vault:8200", false).unwrap();
    let e = Client::new(
        address.clone(),
        Some(std::path::Path::new("/dev/zero")),
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("a character device"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ca.pem");
    std::fs::write(&file, "not a certificate").unwrap();
    let e = Client::new(address, Some(&file), None).unwrap_err();
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
}
