use std::path::PathBuf;

/// Where a target's TLS trust and client certificate come from (libpq's `sslrootcert`,
/// `sslcert`, `sslkey`, `sslcrl`; MySQL's `ssl-ca`, `ssl-cert`, `ssl-key`). Paths only: the
/// key file is read by the adapter that connects, never kept in memory here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub root_cert: Option<RootCert>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Revoked certificates (PEM CRLs; libpq's `sslcrl`): a server certificate listed there
    /// is refused by the `verify-*` modes.
    pub crl: Option<PathBuf>,
}

/// The CAs a server certificate is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// Only the certificates of this PEM file (a private CA).
    File(PathBuf),
    /// The system's trust store (libpq 16's `sslrootcert=system`).
    System,
}
