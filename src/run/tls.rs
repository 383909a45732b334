//! TLS for `mqtts://` brokers: a rustls client configuration (ring provider)
//! that trusts the scenario's CA (or the system's), presents a client
//! certificate when given one, and checks the certificate against the
//! broker's own host name even when the bytes go through a link proxy.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::plan::TlsConfig;

/// Checks the broker's certificate against `name`, whatever address the
/// connection was opened to (a link listens on 127.0.0.1 for a remote broker).
#[derive(Debug)]
struct BrokerName {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for BrokerName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _connected_to: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client configuration for a broker at `host`; every error names the file.
/// TLS settings that cannot be used: a missing or unreadable certificate or
/// key, or a host name that cannot be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

pub fn client_config(tls: &TlsConfig, host: &str) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match &tls.ca {
        Some(ca) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| TlsError(format!("broker.tls.ca {}: {e}", ca.display())))?;
            if certs.is_empty() {
                return Err(TlsError(format!("broker.tls.ca {}: no certificate in it", ca.display())));
            }
            for c in certs {
                roots.add(c).map_err(|e| TlsError(format!("broker.tls.ca {}: {e}", ca.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(TlsError("no system CA certificates found; set broker.tls.ca".into()));
            }
        }
    }
    let name = ServerName::try_from(host.to_string()).map_err(|e| TlsError(format!("broker host {host:?}: {e}")))?;
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError(format!("TLS verifier: {e}")))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(BrokerName { inner, name }));
    let config = match &tls.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| TlsError(format!("broker.tls.cert {}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| TlsError(format!("broker.tls.key {}: {e}", key.display())))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| TlsError(format!("broker.tls.cert/key: {e}")))?
        }
    };
    Ok(Arc::new(config))
}
