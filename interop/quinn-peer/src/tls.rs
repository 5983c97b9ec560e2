//! rustls configuration (ring provider, TLS 1.3 only) for both modes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::crypto::ring::cipher_suite;
use rustls::NamedGroup;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::Error;

/// The ring provider; with `chacha_only` its TLS 1.3 cipher suites are cut down to
/// TLS13_CHACHA20_POLY1305_SHA256 (Initial packets still use AES-128-GCM, as RFC 9001 requires).
fn provider(chacha_only: bool) -> Arc<rustls::crypto::CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    if chacha_only {
        p.cipher_suites = vec![cipher_suite::TLS13_CHACHA20_POLY1305_SHA256];
    }
    Arc::new(p)
}

/// The QUIC Initial suite (AES-128-GCM-SHA256), independent of the negotiable suites.
fn initial_suite() -> Result<rustls::quic::Suite, Error> {
    cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .and_then(|s| s.quic_suite())
        .ok_or_else(|| "ring provider lacks the QUIC initial suite".into())
}

fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{path}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{path}: no CERTIFICATE in PEM").into());
    }
    Ok(certs)
}

pub fn server_config(cert: &str, key: &str, alpn: &str, chacha_only: bool) -> Result<quinn::ServerConfig, Error> {
    let certs = load_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider(chacha_only))
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    tls.alpn_protocols = vec![alpn.as_bytes().to_vec()];
    tls.max_early_data_size = 0;
    // Session resumption: the default stateful session cache (one per process, so every
    // connection to this server shares it) plus NewSessionTicket messages after each handshake.
    tls.send_tls13_tickets = 2;
    let crypto = QuicServerConfig::with_initial(Arc::new(tls), initial_suite()?)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(crate::transport_config());
    Ok(config)
}

pub fn client_config(
    ca: &str,
    alpn: &str,
    chacha_only: bool,
    store: Arc<CountingSessionStore>,
) -> Result<quinn::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_certs(ca)? {
        roots.add(cert)?;
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(provider(chacha_only))
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.as_bytes().to_vec()];
    tls.resumption = rustls::client::Resumption::store(store);
    let crypto = QuicClientConfig::with_initial(Arc::new(tls), initial_suite()?)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(crate::transport_config());
    Ok(config)
}

/// rustls' in-memory session cache, counting TLS 1.3 tickets stored and offered
/// (quinn 0.11 does not expose whether a handshake resumed; this shows whether one was tried).
#[derive(Debug)]
pub struct CountingSessionStore {
    inner: ClientSessionMemoryCache,
    pub tickets_received: AtomicUsize,
    pub tickets_offered: AtomicUsize,
}

impl CountingSessionStore {
    pub fn new() -> Self {
        Self {
            inner: ClientSessionMemoryCache::new(32),
            tickets_received: AtomicUsize::new(0),
            tickets_offered: AtomicUsize::new(0),
        }
    }

    pub fn received(&self) -> usize {
        self.tickets_received.load(Ordering::SeqCst)
    }

    pub fn offered(&self) -> usize {
        self.tickets_offered.load(Ordering::SeqCst)
    }
}

impl ClientSessionStore for CountingSessionStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(server_name, group)
    }
    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.inner.kx_hint(server_name)
    }
    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.inner.set_tls12_session(server_name, value)
    }
    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }
    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name)
    }
    fn insert_tls13_ticket(&self, server_name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.tickets_received.fetch_add(1, Ordering::SeqCst);
        self.inner.insert_tls13_ticket(server_name, value)
    }
    fn take_tls13_ticket(&self, server_name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        let t = self.inner.take_tls13_ticket(server_name);
        if t.is_some() {
            self.tickets_offered.fetch_add(1, Ordering::SeqCst);
        }
        t
    }
}

/// The ALPN protocol negotiated on `conn`, as text ("" when none).
pub fn negotiated_alpn(conn: &quinn::Connection) -> String {
    conn.handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.protocol)
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .unwrap_or_default()
}
