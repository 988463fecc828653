use std::os::unix::fs::PermissionsExt as _;

use super::*;

fn file(path: &Path) -> TlsFiles {
    TlsFiles {
        root_cert: Some(RootCert::File(path.to_owned())),
        ..TlsFiles::default()
    }
}

#[test]
fn sslmode_and_root_certificate_combine_as_libpq_says() {
    let none = TlsFiles::default();
    let ca = file(Path::new("/ca.crt"));
    let system = TlsFiles {
        root_cert: Some(RootCert::System),
        ..TlsFiles::default()
    };
    let mode = |mode, files: &TlsFiles| effective_mode(mode, files);
    assert_eq!(mode(None, &none).unwrap(), SslMode::Prefer);
    assert_eq!(mode(None, &ca).unwrap(), SslMode::Prefer);
    assert_eq!(mode(None, &system).unwrap(), SslMode::VerifyFull);
    assert_eq!(
        mode(Some(SslMode::Require), &ca).unwrap(),
        SslMode::VerifyCa,
        "require with a CA file checks the chain"
    );
    assert_eq!(
        mode(Some(SslMode::Require), &none).unwrap(),
        SslMode::Require
    );
    assert_eq!(
        mode(Some(SslMode::VerifyFull), &ca).unwrap(),
        SslMode::VerifyFull
    );
    for weak in [
        SslMode::Disable,
        SslMode::Allow,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
    ] {
        let refused = mode(Some(weak), &system).unwrap_err();
        assert_eq!(
            refused.to_string(),
            format!(
                "sslrootcert = \"system\" needs sslmode verify-full (a publicly trusted certificate is easy to get for a name one controls), not {weak}"
            )
        );
    }
    for strict in [SslMode::VerifyCa, SslMode::VerifyFull] {
        assert!(matches!(
            mode(Some(strict), &none),
            Err(TlsSetupError::NoRootCert(m)) if m == strict
        ));
        assert!(client_config(strict, &none).is_err());
    }
}

#[test]
fn root_certificate_files_that_cannot_be_used_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.crt");
    let message = client_config(SslMode::VerifyFull, &file(&missing))
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        format!("sslrootcert {}: does not exist", missing.display())
    );
    let garbage = dir.path().join("garbage.crt");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let message = client_config(SslMode::VerifyCa, &file(&garbage))
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        format!(
            "sslrootcert {}: holds no PEM certificate",
            garbage.display()
        )
    );
    let message = client_config(SslMode::VerifyCa, &file(Path::new("/dev/zero")))
        .unwrap_err()
        .to_string();
    assert!(message.starts_with("sslrootcert /dev/zero: "), "{message}");
    assert!(
        client_config(SslMode::VerifyFull, &file(dir.path()))
            .unwrap_err()
            .to_string()
            .starts_with(&format!("sslrootcert {}: ", dir.path().display()))
    );
}

/// A self-signed client certificate and its key (mode `key_mode`), as PEM files in `dir`.
fn client_files(dir: &Path, key_mode: u32) -> TlsFiles {
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["client".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert = dir.join("client.crt");
    let key_path = dir.join("client.key");
    std::fs::write(&cert, certificate.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(key_mode)).unwrap();
    TlsFiles {
        cert: Some(cert),
        key: Some(key_path),
        ..TlsFiles::default()
    }
}

#[test]
fn a_client_key_others_can_read_is_refused_and_its_text_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let loose = client_files(dir.path(), 0o644);
    let message = client_identity(&loose).unwrap_err().to_string();
    let key = loose.key.clone().unwrap();
    let owned_by_root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&key).unwrap()) == 0;
    assert_eq!(
        message,
        format!(
            "sslkey {}: has mode 0644; a private key must be readable by its owner only (chmod 0600{})",
            key.display(),
            if owned_by_root {
                ", or 0640 when owned by root"
            } else {
                ""
            }
        )
    );
    // Group read: libpq allows it for a key root owns (a system package's), never otherwise.
    let group = client_identity(&client_files(dir.path(), 0o640));
    assert_eq!(group.is_ok(), owned_by_root);
    assert!(matches!(
        client_identity(&client_files(dir.path(), 0o604)),
        Err(TlsSetupError::Key { .. })
    ));
    let tight = client_files(dir.path(), 0o600);
    let (chain, _) = client_identity(&tight).unwrap().unwrap();
    assert_eq!(chain.len(), 1);
    assert!(client_config(SslMode::Require, &tight).is_ok());

    // A key file that is not a key: the message must not quote what it holds.
    std::fs::write(&key, "secret-looking-text\n").unwrap();
    let message = client_identity(&tight).unwrap_err().to_string();
    assert!(message.contains("holds no PEM private key"), "{message}");
    assert!(!message.contains("secret-looking-text"), "{message}");

    let half = TlsFiles {
        key: None,
        ..tight.clone()
    };
    assert_eq!(
        client_identity(&half).unwrap_err().to_string(),
        "sslcert and sslkey go together: sslcert is set without the other"
    );
    assert!(client_identity(&TlsFiles::default()).unwrap().is_none());
}
