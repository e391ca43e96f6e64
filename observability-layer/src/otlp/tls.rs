//! TLS for `https://` collectors: rustls with the ring provider, trusting
//! the Mozilla roots (`webpki-roots`, the same on every machine, no system
//! store to read) plus any extra roots the host names
//! (`OTEL_EXPORTER_OTLP_CERTIFICATE`, or the builder's
//! `otlp_root_certificates`): a private CA, or a collector's self-signed
//! certificate.

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::error::OtlpSettingError;

/// The client configuration: the Mozilla roots and every certificate in
/// `extra` (each a PEM text; `(name, text)`, `name` saying where it came
/// from for the error).
pub(crate) fn client_config(
    extra: &[(&'static str, Vec<u8>)],
) -> Result<Arc<ClientConfig>, OtlpSettingError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (name, pem) in extra {
        let name = *name;
        let bad = |reason: String| OtlpSettingError { name, reason };
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| bad(format!("not a PEM certificate: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| bad(format!("not a usable root certificate: {e}")))?;
            found += 1;
        }
        if found == 0 {
            return Err(bad("holds no PEM certificate".into()));
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OtlpSettingError {
            name: "OTEL_EXPORTER_OTLP_ENDPOINT",
            reason: format!("no TLS version available: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // The exporter speaks HTTP/1.1 only; said, so a proxy offering h2 does not pick it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
