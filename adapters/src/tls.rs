//! TLS trust and client certificates, as libpq reads them: one place that turns a target's
//! sslmode and files into what a connection checks, for the database adapter and for
//! `dbcore proxy` alike.
//!
//! Design decision: libpq's rules, to the letter, because an operator's target must mean the
//! same to psql and to us:
//! - `require` with a root certificate given checks the chain (libpq: "if a root CA file
//!   exists, the behavior of sslmode=require will be the same as that of verify-ca");
//! - `verify-ca` / `verify-full` with no root certificate is an error, never a silent fallback
//!   to some other trust;
//! - `sslrootcert=system` allows only `verify-full` (libpq 16: anyone can get a publicly
//!   trusted certificate for a name they control, so a weaker check is worthless there);
//! - a key file readable by others is refused (libpq: 0600 when the user owns it, 0640 when
//!   root does).
//!
//! `system` is the Mozilla root program as webpki-roots ships it, the trust sqlx's rustls
//! builds in (Debian's ca-certificates carries the same program).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use domain::{RootCert, SslMode, TlsFiles};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::fs::{FileKind, read_regular};

/// A certificate or key file: PEM, a few KiB; 1 MiB refuses anything that is not one.
const CERTIFICATE_FILE: FileKind = FileKind {
    what: "a certificate file",
    limit: 1024 * 1024,
};

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error(
        "sslmode {0} checks the server's certificate but no sslrootcert is set: set it to the CA's certificate file, or to `system` for the system's trusted roots, or choose a weaker sslmode"
    )]
    NoRootCert(SslMode),
    #[error(
        "sslrootcert = \"system\" needs sslmode verify-full (a publicly trusted certificate is easy to get for a name one controls), not {0}"
    )]
    SystemNeedsVerifyFull(SslMode),
    #[error("sslrootcert {}: {reason}", path.display())]
    RootCert { path: PathBuf, reason: String },
    #[error("sslcert {}: {reason}", path.display())]
    Cert { path: PathBuf, reason: String },
    #[error("sslkey {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("sslcrl {}: {reason}", path.display())]
    Crl { path: PathBuf, reason: String },
    #[error("sslcert and sslkey go together: {0} is set without the other")]
    Half(&'static str),
    #[error("cannot set up TLS: {0}")]
    Rustls(String),
}

/// The sslmode a connection uses: `require` checks the chain when a CA file is given; an
/// unset mode is `prefer`, or `verify-full` with `sslrootcert = "system"` (libpq 16).
pub fn effective_mode(mode: Option<SslMode>, files: &TlsFiles) -> Result<SslMode, TlsSetupError> {
    let mode = match (mode, &files.root_cert) {
        (None, Some(RootCert::System)) => SslMode::VerifyFull,
        (None, _) => SslMode::Prefer,
        (Some(SslMode::Require), Some(RootCert::File(_))) => SslMode::VerifyCa,
        (Some(mode), _) => mode,
    };
    match (&files.root_cert, mode) {
        (Some(RootCert::System), SslMode::VerifyFull) => Ok(mode),
        (Some(RootCert::System), _) => Err(TlsSetupError::SystemNeedsVerifyFull(mode)),
        (None, SslMode::VerifyCa | SslMode::VerifyFull) => Err(TlsSetupError::NoRootCert(mode)),
        _ => Ok(mode),
    }
}

/// The client certificate and key, checked and read; `None` when neither is set.
pub fn client_identity(
    files: &TlsFiles,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, TlsSetupError> {
    let (cert, key) = match (&files.cert, &files.key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => return Err(TlsSetupError::Half("sslcert")),
        (None, Some(_)) => return Err(TlsSetupError::Half("sslkey")),
    };
    let chain = read_certificates(cert).map_err(|reason| TlsSetupError::Cert {
        path: cert.clone(),
        reason,
    })?;
    let key_error = |reason: String| TlsSetupError::Key {
        path: key.clone(),
        reason,
    };
    check_key_mode(key).map_err(key_error)?;
    let pem = read(key).map_err(key_error)?;
    // The parser's error is not shown: it could quote part of the key.
    let key_der = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|_| key_error("holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".into()))?;
    Ok(Some((chain, key_der)))
}

/// libpq's rule for the key file: no access for group or others when the user owns it,
/// at most group read when root owns it (a key a system package installed).
pub fn check_key_mode(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("is not a regular file".into());
    }
    let mode = metadata.mode() & 0o777;
    let allowed = if metadata.uid() == 0 { 0o640 } else { 0o600 };
    if mode & !allowed != 0 {
        return Err(format!(
            "has mode {mode:04o}; a private key must be readable by its owner only (chmod 0600{})",
            if metadata.uid() == 0 {
                ", or 0640 when owned by root"
            } else {
                ""
            }
        ));
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    match read_regular(path, CERTIFICATE_FILE) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err("does not exist".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path)?;
    let certificates: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("is not PEM certificates ({e})"))?;
    if certificates.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certificates)
}

/// The roots a certificate is checked against, for the `verify-*` modes.
fn roots(root_cert: &RootCert) -> Result<RootCertStore, TlsSetupError> {
    match root_cert {
        RootCert::System => Ok(RootCertStore::from_iter(
            webpki_roots::TLS_SERVER_ROOTS.iter().cloned(),
        )),
        RootCert::File(path) => {
            let fail = |reason: String| TlsSetupError::RootCert {
                path: path.clone(),
                reason,
            };
            let mut store = RootCertStore::empty();
            for certificate in read_certificates(path).map_err(fail)? {
                store
                    .add(certificate)
                    .map_err(|e| fail(format!("holds a certificate that cannot be a CA ({e})")))?;
            }
            Ok(store)
        }
    }
}

/// A rustls client configuration for `mode` (an [`effective_mode`]) and `files`.
pub fn client_config(mode: SslMode, files: &TlsFiles) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Rustls(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, &files.root_cert) {
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            return Err(TlsSetupError::NoRootCert(mode));
        }
        (SslMode::VerifyFull, Some(root)) => webpki_verifier(root, files, provider)?,
        (SslMode::VerifyCa, Some(root)) => {
            Arc::new(ChainOnly(webpki_verifier(root, files, provider)?))
        }
        _ => Arc::new(Unchecked(provider)),
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client_identity(files)? {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| TlsSetupError::Rustls(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The chain check against `root`, with the revocation lists of `files.crl`: as libpq (which
/// sets OpenSSL's `CRL_CHECK | CRL_CHECK_ALL` once a CRL is loaded), every certificate of the
/// chain must be covered by a list from its issuer, and one that is listed is refused.
fn webpki_verifier(
    root: &RootCert,
    files: &TlsFiles,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsSetupError> {
    let mut builder = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(root)?), provider);
    if let Some(path) = &files.crl {
        let crls = read_crls(path).map_err(|reason| TlsSetupError::Crl {
            path: path.clone(),
            reason,
        })?;
        // An expired list says nothing about today: the status is then unknown, and an
        // unknown status is refused (as OpenSSL's CRL check does for libpq).
        builder = builder.with_crls(crls).enforce_revocation_expiration();
    }
    builder.build().map_err(|e| match &files.crl {
        // A CRL that parses as PEM but not as a CRL is refused here.
        Some(path) => TlsSetupError::Crl {
            path: path.clone(),
            reason: format!("is not a usable revocation list ({e})"),
        },
        None => TlsSetupError::Rustls(e.to_string()),
    })
}

fn read_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    let pem = read(path)?;
    let crls: Vec<_> = CertificateRevocationListDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("is not PEM revocation lists ({e})"))?;
    if crls.is_empty() {
        return Err("holds no PEM revocation list (X509 CRL)".into());
    }
    Ok(crls)
}

/// `require`, `prefer`, `allow` without a CA: the certificate is not checked (libpq's modes),
/// but the handshake's signatures are, so the key used is the certificate's — which is what
/// SCRAM channel binding then ties a login to.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

/// `verify-ca`: the chain must lead to a trusted root; the name is not looked at.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name: a name error means the chain was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
