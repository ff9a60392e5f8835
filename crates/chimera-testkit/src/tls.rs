//! Certificates made at test time (rcgen): a private CA and a server certificate for
//! `127.0.0.1` / `localhost` signed by it, for HTTPS tests on loopback with no network.

use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A test CA and the server certificate it signed.
pub struct TestCa {
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

impl TestCa {
    /// A fresh CA ("Chimera Test CA") and a server certificate for `127.0.0.1` and `localhost`.
    pub fn generate() -> TestCa {
        let ca_key = KeyPair::generate().expect("generate the CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.distinguished_name.push(DnType::CommonName, "Chimera Test CA");
        let ca = ca_params.self_signed(&ca_key).expect("self-sign the CA");

        let key = KeyPair::generate().expect("generate the server key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("names");
        params.distinguished_name.push(DnType::CommonName, "chimera test server");
        let cert = params.signed_by(&key, &ca, &ca_key).expect("sign the server certificate");
        TestCa { ca_pem: ca.pem(), server_chain: vec![cert.der().clone()], server_key: key.serialize_der() }
    }

    /// The CA certificate, PEM (what `--ca-cert` takes).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Write the CA certificate (PEM) to `path`.
    pub fn write_ca_pem(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, &self.ca_pem)
    }

    /// A rustls server configuration presenting the server certificate (HTTP/1.1 only).
    pub(crate) fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        // The process's crypto provider: ring, the only one built (as for reqwest).
        let mut cfg = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), key)
            .expect("server certificate and key");
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(cfg)
    }
}
