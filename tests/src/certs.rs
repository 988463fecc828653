//! Certificates for TLS tests, made fresh per test run: a CA, and a server certificate it
//! signed — what an operator with a private CA has — and a client certificate for `cert`
//! authentication. The certificate names `localhost` only,
//! not `127.0.0.1`: the same server is then the right host under one name and a wrong one
//! under the other, for `verify-full` tests.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, IsCa, Issuer,
    KeyIdMethod, KeyPair, RevocationReason, RevokedCertParams, SerialNumber, date_time_ymd,
};

/// The server certificate's serial number, which the revoking CRL lists.
const SERVER_SERIAL: u64 = 0x5e_7e_01;

/// The role the client certificate names (its common name), which the TLS cluster lets in
/// with `cert` authentication only.
pub const CERT_USER: &str = "dbcore_cert_user";

/// The files a TLS server and its clients use, in one directory.
#[derive(Debug, Clone)]
pub struct TestPki {
    dir: PathBuf,
}

impl TestPki {
    /// Writes `ca.crt`, `server.crt` and `server.key` (0600) into `dir`.
    pub fn create(dir: &Path) -> Result<Self, String> {
        let fail =
            |what: &str, e: &dyn std::fmt::Display| format!("test certificates: {what}: {e}");
        std::fs::create_dir_all(dir).map_err(|e| fail("mkdir", &e))?;
        let ca_key = KeyPair::generate().map_err(|e| fail("CA key", &e))?;
        let mut ca_params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| fail("CA", &e))?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "dbcore test CA");
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(|e| fail("CA certificate", &e))?;
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().map_err(|e| fail("server key", &e))?;
        let mut server_params =
            CertificateParams::new(vec!["localhost".to_owned()]).map_err(|e| fail("server", &e))?;
        server_params.serial_number = Some(SerialNumber::from(SERVER_SERIAL));
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .map_err(|e| fail("server certificate", &e))?;
        let pki = Self {
            dir: dir.to_owned(),
        };
        let write = |path: PathBuf, text: String| {
            std::fs::write(&path, text).map_err(|e| fail(&path.display().to_string(), &e))
        };
        // A client certificate for `cert` authentication: the server maps its common name to
        // the role (pg_hba `cert`), as it does for any client certificate by default.
        let client_key = KeyPair::generate().map_err(|e| fail("client key", &e))?;
        let mut client_params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| fail("client", &e))?;
        client_params
            .distinguished_name
            .push(DnType::CommonName, CERT_USER);
        let client_cert = client_params
            .signed_by(&client_key, &issuer)
            .map_err(|e| fail("client certificate", &e))?;
        write(pki.ca_file(), ca_cert.pem())?;
        write(pki.server_cert_file(), server_cert.pem())?;
        write(pki.server_key_file(), server_key.serialize_pem())?;
        write(pki.client_cert_file(), client_cert.pem())?;
        // Revocation lists from the CA: one that lists the server's certificate, one empty.
        // And an empty one that expired in 2020: it says nothing about today.
        for (path, revoked, next_update) in [
            (
                pki.revoking_crl_file(),
                vec![SERVER_SERIAL],
                date_time_ymd(2099, 1, 1),
            ),
            (pki.empty_crl_file(), Vec::new(), date_time_ymd(2099, 1, 1)),
            (
                pki.expired_crl_file(),
                Vec::new(),
                date_time_ymd(2020, 1, 2),
            ),
        ] {
            let params = CertificateRevocationListParams {
                this_update: date_time_ymd(2020, 1, 1),
                next_update,
                crl_number: SerialNumber::from(1u64),
                issuing_distribution_point: None,
                revoked_certs: revoked
                    .into_iter()
                    .map(|serial| RevokedCertParams {
                        serial_number: SerialNumber::from(serial),
                        revocation_time: date_time_ymd(2020, 1, 1),
                        reason_code: Some(RevocationReason::KeyCompromise),
                        invalidity_date: None,
                    })
                    .collect(),
                key_identifier_method: KeyIdMethod::Sha256,
            };
            let crl = params.signed_by(&issuer).map_err(|e| fail("CRL", &e))?;
            write(path, crl.pem().map_err(|e| fail("CRL PEM", &e))?)?;
        }
        write(pki.client_key_file(), client_key.serialize_pem())?;
        for key in [pki.server_key_file(), pki.client_key_file()] {
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .map_err(|e| fail("chmod key", &e))?;
        }
        Ok(pki)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate (PEM), what a client's `sslrootcert` names.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    pub fn server_cert_file(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    pub fn server_key_file(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// The CA's revocation list that lists the server's certificate.
    pub fn revoking_crl_file(&self) -> PathBuf {
        self.dir.join("revoked.crl")
    }

    /// A revocation list of the CA's that expired in 2020.
    pub fn expired_crl_file(&self) -> PathBuf {
        self.dir.join("expired.crl")
    }

    /// The CA's revocation list that lists nothing.
    pub fn empty_crl_file(&self) -> PathBuf {
        self.dir.join("empty.crl")
    }

    /// A client certificate for the role [`CERT_USER`], signed by the CA.
    pub fn client_cert_file(&self) -> PathBuf {
        self.dir.join("client.crt")
    }

    /// The client certificate's key (0600; owned by whoever made the files).
    pub fn client_key_file(&self) -> PathBuf {
        self.dir.join("client.key")
    }
}
