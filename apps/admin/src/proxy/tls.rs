//! TLS from the proxy to the server, negotiated per the target's `sslmode` as libpq does:
//! the same mode means the same encryption and the same certificate checks for `psql` and
//! for a client of the proxy, so moving a program behind the proxy never weakens its link.
//!
//! - `disable`: in the clear; `allow`: in the clear, with TLS if the server refuses that;
//!   `prefer` (the default): TLS if the server takes it, else in the clear; `require`: TLS,
//!   the certificate not checked; `verify-ca`: its chain checked; `verify-full`: its chain and
//!   the host name.
//! - A Unix socket is never encrypted ("sslmode is ignored for Unix domain socket
//!   communication", libpq's documentation).
//! - What is trusted and which client certificate is shown come from the target's TLS files
//!   through `project_core::tls` (libpq's rules), so the proxy and the library agree.
//! - The server's certificate hash is kept for SCRAM-SHA-256-PLUS (RFC 5929
//!   `tls-server-end-point`): with it, someone between who terminates TLS with another
//!   certificate cannot relay the login, whether or not the certificate was checked.

use domain::{SslMode, TargetIdentity, TlsFiles};
use rustls::pki_types::ServerName;
use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// What a target's sslmode asks of a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// `disable`, and every Unix socket.
    Plain,
    /// `allow`: in the clear; with TLS when the server refuses the login in the clear.
    PlainThenTls,
    /// `prefer`: TLS when the server takes it (and its handshake works), else in the clear.
    TlsIfOffered,
    /// `require`, `verify-ca`, `verify-full`: TLS or no connection.
    TlsOnly,
}

/// The target's TLS settings, built once when the proxy starts.
pub struct TlsPolicy {
    mode: SslMode,
    plan: Plan,
    connector: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error(
        "host `{host}` is not a DNS name or IP address a certificate can be checked against (sslmode {mode})"
    )]
    HostName { host: String, mode: SslMode },
    #[error(transparent)]
    Files(#[from] project_core::tls::TlsSetupError),
}

/// Why no connection was made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach the server: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server does not accept TLS connections and the target's sslmode is {0}")]
    TlsRefused(SslMode),
    #[error("the server answered the TLS request with {0:#04x}, not S or N")]
    BadAnswer(u8),
    #[error("the TLS handshake with the server failed (sslmode {mode}): {source}")]
    Handshake {
        mode: SslMode,
        source: std::io::Error,
    },
}

impl ConnectError {
    /// A failure `prefer` answers by trying again in the clear (as libpq does).
    pub fn is_handshake(&self) -> bool {
        matches!(self, ConnectError::Handshake { .. })
    }
}

/// A TLS session to the server.
pub struct Encrypted {
    pub stream: tokio_rustls::client::TlsStream<TcpStream>,
    /// The `tls-server-end-point` binding data; `None` when the certificate's signature
    /// algorithm has no hash we compute (Ed25519, RSA-PSS): then a server offering
    /// SCRAM-SHA-256-PLUS is refused rather than logged in to without binding.
    pub end_point: Option<Vec<u8>>,
    /// The certificate was checked against the target's CA (verify-ca, verify-full): only
    /// then is the peer known to be the server.
    pub verified: bool,
}

impl TlsPolicy {
    pub fn for_target(
        identity: &TargetIdentity,
        sslmode: Option<SslMode>,
        files: &TlsFiles,
    ) -> Result<Self, TlsSetupError> {
        let mode = project_core::tls::effective_mode(sslmode, files)?;
        let over_socket = identity.host.as_deref().is_some_and(|h| h.starts_with('/'));
        let plan = match mode {
            _ if over_socket => Plan::Plain,
            SslMode::Disable => Plan::Plain,
            SslMode::Allow => Plan::PlainThenTls,
            SslMode::Prefer => Plan::TlsIfOffered,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Plan::TlsOnly,
        };
        let host = identity.host.as_deref().unwrap_or("localhost");
        let server_name = match ServerName::try_from(host.to_owned()) {
            Ok(name) => name,
            Err(_) if mode != SslMode::VerifyFull || over_socket => {
                // Only SNI would use the name: none is sent for an address.
                ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())
            }
            Err(_) => {
                return Err(TlsSetupError::HostName {
                    host: host.to_owned(),
                    mode,
                });
            }
        };
        let config = project_core::tls::client_config(mode, files)?;
        Ok(Self {
            mode,
            plan,
            connector: tokio_rustls::TlsConnector::from(config),
            server_name,
        })
    }

    pub fn plan(&self) -> Plan {
        self.plan
    }

    /// Asks the server for TLS on `stream` (libpq's SSLRequest) and, when it agrees, runs
    /// the handshake; `Ok(Err(stream))` when it declines and the mode lets us go on in the
    /// clear.
    pub async fn negotiate(
        &self,
        mut stream: TcpStream,
    ) -> Result<Result<Encrypted, TcpStream>, ConnectError> {
        let mut request = bytes::BytesMut::new();
        postgres_protocol::message::frontend::ssl_request(&mut request);
        stream.write_all(&request).await?;
        // Exactly one byte, read unbuffered: anything the server (or someone between) sent
        // after it would otherwise be taken as if it came over TLS (CVE-2021-23222).
        let answer = stream.read_u8().await?;
        match answer {
            b'S' => {}
            b'N' if self.plan == Plan::TlsOnly => return Err(ConnectError::TlsRefused(self.mode)),
            b'N' => return Ok(Err(stream)),
            other => return Err(ConnectError::BadAnswer(other)),
        }
        let stream = self
            .connector
            .connect(self.server_name.clone(), stream)
            .await
            .map_err(|source| ConnectError::Handshake {
                mode: self.mode,
                source,
            })?;
        let end_point = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|certificate| tls_server_end_point(certificate));
        Ok(Ok(Encrypted {
            stream,
            end_point,
            verified: matches!(self.mode, SslMode::VerifyCa | SslMode::VerifyFull),
        }))
    }
}

/// RFC 5929's `tls-server-end-point`: the server certificate hashed with its signature's
/// hash, SHA-256 for MD5 and SHA-1 — what PostgreSQL's `be_tls_get_certificate_hash`
/// computes. `None` for algorithms with no single hash.
pub fn tls_server_end_point(certificate: &[u8]) -> Option<Vec<u8>> {
    use x509_cert::der::Decode as _;
    let parsed = x509_cert::Certificate::from_der(certificate).ok()?;
    let oid = parsed.signature_algorithm.oid.to_string();
    let hash = match oid.as_str() {
        // md5WithRSA, sha1WithRSA, sha256WithRSA, ecdsa-with-SHA1, ecdsa-with-SHA256
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.10045.4.1"
        | "1.2.840.10045.4.3.2" => sha2::Sha256::digest(certificate).to_vec(),
        // sha384WithRSA, ecdsa-with-SHA384
        // sha224WithRSA, ecdsa-with-SHA224
        "1.2.840.113549.1.1.14" | "1.2.840.10045.4.3.1" => {
            sha2::Sha224::digest(certificate).to_vec()
        }
        // sha384WithRSA, ecdsa-with-SHA384
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => {
            sha2::Sha384::digest(certificate).to_vec()
        }
        // sha512WithRSA, ecdsa-with-SHA512
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => {
            sha2::Sha512::digest(certificate).to_vec()
        }
        _ => return None,
    };
    Some(hash)
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
