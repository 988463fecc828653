//! The negotiation against servers made here: one that declines TLS, one that answers
//! nonsense, and rustls servers with certificates rcgen makes (no CA anyone trusts).

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::*;

fn identity(host: &str, port: u16) -> TargetIdentity {
    TargetIdentity {
        name: "t".into(),
        kind: domain::DbKind::Postgres,
        host: Some(host.into()),
        port: Some(port),
        database: Some("app".into()),
        user: Some("app".into()),
    }
}

/// A server that reads the SSLRequest and answers `answer`, then keeps the connection.
async fn answering(answer: &'static [u8]) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 8];
        socket.read_exact(&mut request).await.unwrap();
        assert_eq!(
            request,
            [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f],
            "an SSLRequest"
        );
        socket.write_all(answer).await.unwrap();
        let mut rest = Vec::new();
        let _ = socket.read_to_end(&mut rest).await;
    });
    (port, task)
}

async fn negotiate(mode: SslMode, port: u16) -> Result<Result<Encrypted, TcpStream>, ConnectError> {
    let policy = TlsPolicy::for_target(&identity("127.0.0.1", port), Some(mode)).unwrap();
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    policy.negotiate(stream).await
}

#[tokio::test]
async fn a_server_that_declines_tls_is_refused_under_require_and_kept_under_prefer() {
    let (port, _server) = answering(b"N").await;
    assert!(matches!(negotiate(SslMode::Prefer, port).await, Ok(Err(_))));
    for mode in [SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull] {
        let (port, _server) = answering(b"N").await;
        let refused = negotiate(mode, port).await.err().unwrap();
        assert!(matches!(refused, ConnectError::TlsRefused(m) if m == mode));
        assert_eq!(
            refused.to_string(),
            format!(
                "the server does not accept TLS connections and the target's sslmode is {mode}"
            )
        );
    }
    let (port, _server) = answering(b"E").await;
    assert!(matches!(
        negotiate(SslMode::Prefer, port).await,
        Err(ConnectError::BadAnswer(b'E'))
    ));
}

#[tokio::test]
async fn bytes_sent_after_the_servers_yes_are_not_taken_as_tls() {
    // CVE-2021-23222: an injected "response" right after the S must not reach the client
    // as if it came over TLS; here it breaks the handshake instead.
    let (port, _server) = answering(b"SZ\0\0\0\x05I").await;
    let failed = negotiate(SslMode::Require, port).await.err().unwrap();
    assert!(failed.is_handshake(), "{failed}");
}

/// A TLS server with a fresh self-signed certificate of `algorithm`; its DER.
async fn tls_server(
    algorithm: &'static rcgen::SignatureAlgorithm,
) -> (u16, CertificateDer<'static>) {
    let key = rcgen::KeyPair::generate_for(algorithm).unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = certificate.der().clone();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 8];
                socket.read_exact(&mut request).await.unwrap();
                socket.write_all(b"S").await.unwrap();
                if let Ok(mut tls) = acceptor.accept(socket).await {
                    let _ = tls.write_all(b"hello").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (port, der)
}

#[tokio::test]
async fn require_takes_any_certificate_and_binds_scram_to_its_hash() {
    let (port, der) = tls_server(&rcgen::PKCS_ECDSA_P256_SHA256).await;
    let mut encrypted = negotiate(SslMode::Require, port).await.unwrap().unwrap();
    assert_eq!(
        encrypted.end_point.as_deref(),
        Some(&sha2::Sha256::digest(&der)[..])
    );
    let mut hello = Vec::new();
    encrypted.stream.read_to_end(&mut hello).await.unwrap();
    assert_eq!(hello, b"hello", "the bytes come over TLS");
    let (port, _) = tls_server(&rcgen::PKCS_ECDSA_P256_SHA256).await;
    assert!(matches!(negotiate(SslMode::Prefer, port).await, Ok(Ok(_))));
}

#[tokio::test]
async fn verify_modes_refuse_a_certificate_no_trusted_ca_signed() {
    for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
        let (port, _) = tls_server(&rcgen::PKCS_ECDSA_P256_SHA256).await;
        let failed = negotiate(mode, port).await.err().unwrap();
        let message = failed.to_string();
        assert!(failed.is_handshake(), "{message}");
        assert!(
            message.starts_with(&format!(
                "the TLS handshake with the server failed (sslmode {mode}): "
            )) && message.contains("UnknownIssuer"),
            "{message}"
        );
    }
}

#[test]
fn the_binding_hash_follows_the_certificates_signature_algorithm() {
    let der = |algorithm: &'static rcgen::SignatureAlgorithm| {
        let key = rcgen::KeyPair::generate_for(algorithm).unwrap();
        rcgen::CertificateParams::new(vec!["x".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .der()
            .to_vec()
    };
    let p256 = der(&rcgen::PKCS_ECDSA_P256_SHA256);
    assert_eq!(
        tls_server_end_point(&p256),
        Some(sha2::Sha256::digest(&p256).to_vec())
    );
    let p384 = der(&rcgen::PKCS_ECDSA_P384_SHA384);
    assert_eq!(
        tls_server_end_point(&p384),
        Some(sha2::Sha384::digest(&p384).to_vec())
    );
    assert_eq!(tls_server_end_point(&der(&rcgen::PKCS_ED25519)), None);
    assert_eq!(tls_server_end_point(b"not a certificate"), None);
    assert_eq!(tls_server_end_point(&p256[..p256.len() - 1]), None);
}

#[test]
fn a_host_verify_full_cannot_check_is_refused_at_start_and_sockets_are_never_encrypted() {
    let refused = TlsPolicy::for_target(&identity("db 1", 5432), Some(SslMode::VerifyFull))
        .err()
        .unwrap();
    assert_eq!(
        refused.to_string(),
        "host `db 1` is not a DNS name or IP address a certificate can be checked against (sslmode verify-full)"
    );
    let plan = |host: &str, mode| {
        TlsPolicy::for_target(&identity(host, 5432), mode)
            .unwrap()
            .plan()
    };
    assert_eq!(plan("db 1", Some(SslMode::Require)), Plan::TlsOnly);
    assert_eq!(plan("/run/pg", Some(SslMode::VerifyFull)), Plan::Plain);
    assert_eq!(plan("db", None), Plan::TlsIfOffered);
    assert_eq!(plan("db", Some(SslMode::Allow)), Plan::PlainThenTls);
    assert_eq!(plan("db", Some(SslMode::Disable)), Plan::Plain);
}
