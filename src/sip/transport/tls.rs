//! TLS for SIP trunks (RFC 3261 26.2.1, RFC 5922): the client side only.
//! The server certificate is verified against the system's roots plus an
//! optional per-trunk CA file (private carriers, tests), for the host named
//! in the trunk's URI, which is also sent as SNI.
//!
//! rustls runs on the aws-lc-rs provider, the one the webhook client
//! (reqwest) already links: one crypto stack in the binary, passed
//! explicitly so no process-wide default is needed.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// Why a trunk's TLS client cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("{host:?} is not a valid TLS server name")]
    ServerName { host: String },
    #[error("cannot read CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// What a TLS connection to one trunk host needs: the verifying client
/// configuration and the name the certificate must carry.
pub struct TlsClient {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// A client for `host` (a DNS name, or an IP address that the
    /// certificate must list), trusting the system roots and the
    /// certificates in `ca_file` (PEM).
    pub fn new(host: &str, ca_file: Option<&Path>) -> Result<TlsClient, TlsSetupError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|_| TlsSetupError::ServerName { host: host.into() })?;
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(system_roots().iter().cloned());
        if let Some(path) = ca_file {
            for cert in read_ca_file(path)? {
                roots.add(cert).map_err(|e| TlsSetupError::CaFile {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClient {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// The TLS handshake over an open TCP connection.
    pub async fn handshake(&self, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        self.connector.connect(self.server_name.clone(), tcp).await
    }
}

/// The certificates of a PEM file; at least one.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let err = |reason: String| TlsSetupError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The system's trusted roots, loaded once. Unreadable entries are
/// skipped (and logged): a trunk with its own CA file still works.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "cannot load a system root certificate");
        }
        found.certs
    })
}
