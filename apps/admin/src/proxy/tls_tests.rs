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
    negotiate_with(mode, port, "127.0.0.1", &TlsFiles::default()).await
}

async fn negotiate_with(
    mode: SslMode,
    port: u16,
    host: &str,
    files: &TlsFiles,
) -> Result<Result<Encrypted, TcpStream>, ConnectError> {
    let policy = TlsPolicy::for_target(&identity(host, port), Some(mode), files).unwrap();
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    policy.negotiate(stream).await
}

#[tokio::test]
async fn a_server_that_declines_tls_is_refused_under_require_and_kept_under_prefer() {
    let (port, _server) = answering(b"N").await;
    assert!(matches!(negotiate(SslMode::Prefer, port).await, Ok(Err(_))));
    let ca = Pki::new();
    for mode in [SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull] {
        let (port, _server) = answering(b"N").await;
        let refused = negotiate_with(mode, port, "localhost", &ca.files())
            .await
            .err()
            .unwrap();
        // `require` with a CA file is verify-ca (libpq).
        let mode = if mode == SslMode::Require {
            SslMode::VerifyCa
        } else {
            mode
        };
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

/// A CA made for one test, in a temporary directory, and leaf certificates it signs.
struct Pki {
    dir: tempfile::TempDir,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        // A name of its own: two CAs of one name would look like one to a verifier.
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, dir.path().display().to_string());
        let ca = params.self_signed(&key).unwrap();
        std::fs::write(dir.path().join("ca.crt"), ca.pem()).unwrap();
        Self {
            dir,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// The CA as the target's `sslrootcert`.
    fn files(&self) -> TlsFiles {
        TlsFiles {
            root_cert: Some(domain::RootCert::File(self.dir.path().join("ca.crt"))),
            ..TlsFiles::default()
        }
    }

    /// A leaf for `localhost`, signed by this CA: its DER and key.
    fn leaf(&self) -> (CertificateDer<'static>, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        (certificate.der().clone(), key)
    }
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
    (serve_tls(der.clone(), key).await, der)
}

/// A TLS server showing `der`, signed with `key`, that says "hello" over TLS.
async fn serve_tls(der: CertificateDer<'static>, key: rcgen::KeyPair) -> u16 {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![der],
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
    port
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
async fn verify_modes_take_only_what_the_targets_ca_signed_and_verify_full_only_its_name() {
    let ca = Pki::new();
    let other_ca = Pki::new();
    for mode in [SslMode::VerifyCa, SslMode::VerifyFull, SslMode::Require] {
        let (der, key) = ca.leaf();
        let port = serve_tls(der, key).await;
        assert!(
            matches!(
                negotiate_with(mode, port, "localhost", &ca.files()).await,
                Ok(Ok(_))
            ),
            "{mode} with the right CA"
        );
        let failed = negotiate_with(mode, port, "localhost", &other_ca.files())
            .await
            .err()
            .unwrap();
        let message = failed.to_string();
        // `require` with a CA file checks the chain as verify-ca does (libpq).
        let shown = if mode == SslMode::Require {
            SslMode::VerifyCa
        } else {
            mode
        };
        assert!(
            failed.is_handshake()
                && message.starts_with(&format!(
                    "the TLS handshake with the server failed (sslmode {shown}): "
                ))
                && message.contains("UnknownIssuer"),
            "{message}"
        );
    }
    // The certificate names localhost, not 127.0.0.1: only verify-full looks.
    let (der, key) = ca.leaf();
    let port = serve_tls(der, key).await;
    assert!(matches!(
        negotiate_with(SslMode::VerifyCa, port, "127.0.0.1", &ca.files()).await,
        Ok(Ok(_))
    ));
    let wrong_name = negotiate_with(SslMode::VerifyFull, port, "127.0.0.1", &ca.files())
        .await
        .err()
        .unwrap();
    assert!(
        wrong_name.to_string().contains("not valid for name"),
        "{wrong_name}"
    );
    // A self-signed certificate is no CA's.
    let (port, _) = tls_server(&rcgen::PKCS_ECDSA_P256_SHA256).await;
    assert!(
        negotiate_with(SslMode::VerifyFull, port, "localhost", &ca.files())
            .await
            .is_err()
    );
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
    let ca = Pki::new();
    let refused = TlsPolicy::for_target(
        &identity("db 1", 5432),
        Some(SslMode::VerifyFull),
        &ca.files(),
    )
    .err()
    .unwrap();
    assert_eq!(
        refused.to_string(),
        "host `db 1` is not a DNS name or IP address a certificate can be checked against (sslmode verify-full)"
    );
    let plan = |host: &str, mode| {
        TlsPolicy::for_target(&identity(host, 5432), mode, &ca.files())
            .unwrap()
            .plan()
    };
    assert_eq!(plan("db 1", Some(SslMode::Require)), Plan::TlsOnly);
    assert_eq!(plan("/run/pg", Some(SslMode::VerifyFull)), Plan::Plain);
    assert_eq!(plan("db", None), Plan::TlsIfOffered);
    assert_eq!(plan("db", Some(SslMode::Allow)), Plan::PlainThenTls);
    assert_eq!(plan("db", Some(SslMode::Disable)), Plan::Plain);
}
