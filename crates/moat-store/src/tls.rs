//! The TLS client configuration for connections Moat opens itself to services inside
//! the company (the database, a syslog receiver): certificates are always checked,
//! against a CA given as PEM or else the system's roots.

use std::sync::Arc;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types};

/// A client configuration trusting `ca_pem` (PEM, one or more certificates) or, when
/// `None`, the system's roots. An error says what to fix.
pub fn client_config(ca_pem: Option<&[u8]>) -> Result<ClientConfig, String> {
    use pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in pki_types::CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("the CA file is not PEM: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("the CA file holds an unusable certificate: {e}"))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // The system store may hold certificates rustls cannot use; skip them.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(
            "no CA certificate to check the server against; set `ca_file` to its CA (PEM)".into(),
        );
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
