//! TLS for the proxy: a certificate authority generated for the run (rcgen), a server
//! certificate it signs for `127.0.0.1` and `localhost`, and the rustls 0.23 server
//! configuration (the aws-lc-rs provider, the one the AWS SDK's rustls already uses).
//!
//! The CA certificate is written to a PEM file. Processes trust it the way their HTTPS client
//! trusts any root: the AWS SDK for Rust's default client (aws-smithy-http-client: hyper 1 and
//! rustls 0.23) loads its roots with rustls-native-certs, which reads `SSL_CERT_FILE` when it is
//! set, so a process started with `SSL_CERT_FILE=<ca file>` trusts the proxy. That variable
//! *replaces* the system's roots for that process (rustls-native-certs then reads only the
//! file): such a process trusts the proxy and nothing else. The SDK reads the roots once per
//! process, when it builds its first HTTPS client.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// Why the certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen refused the parameters or could not make a key.
    #[error("cannot generate the certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or its key.
    #[error("cannot configure TLS: {0}")]
    Configure(#[from] rustls::Error),
    /// The CA file could not be written.
    #[error("cannot write the CA certificate to {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// A certificate authority of this run and the server certificate it signed; cheap to clone.
#[derive(Clone)]
pub struct Ca {
    cert_file: PathBuf,
    cert_pem: String,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("cert_file", &self.cert_file)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// Generates a CA and a server certificate for `127.0.0.1` and `localhost`, and writes the
    /// CA certificate (PEM) to `cert_file` (its directory must exist).
    pub fn generate(cert_file: impl Into<PathBuf>) -> Result<Ca, TlsError> {
        let cert_file = cert_file.into();
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name
            .push(DnType::CommonName, "telemetry-localenv test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, "telemetry-localenv proxy");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &issuer)?;

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let chain = vec![
            CertificateDer::from(server_cert.der().to_vec()),
            CertificateDer::from(ca_cert.der().to_vec()),
        ];
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        // The proxy speaks HTTP/1.1 only, like its plain listener.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];

        let cert_pem = ca_cert.pem();
        std::fs::write(&cert_file, &cert_pem).map_err(|e| TlsError::Write(cert_file.clone(), e))?;
        Ok(Ca {
            cert_file,
            cert_pem,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The PEM file of the CA certificate: what `SSL_CERT_FILE` points at.
    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }
}
