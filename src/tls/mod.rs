//! Certificates, keys and trust: PEM or DER input turned into a BoringSSL
//! context builder that quiche then takes over.
//!
//! [`verify`] checks a peer's chain, name or fingerprint inside the handshake
//! (pausing it for a JavaScript `verify` hook); [`certgen`] makes certificates.

use std::sync::OnceLock;

use boring::pkey::{PKey, Private};
use boring::ssl::{SslContextBuilder, SslMethod, SslSignatureAlgorithm, SslVerifyMode};
use boring::x509::store::X509StoreBuilder;
use boring::x509::verify::X509VerifyFlags;
use boring::x509::X509;

use crate::error::{CoreError, CoreResult, ErrorCode};

pub mod certgen;
pub mod resumption;
pub mod verify;

/// Trust anchors used when a client verifies its peer and gives no `ca`.
/// The JavaScript layer installs Node's bundled roots once, so every platform
/// trusts the same set (BoringSSL alone finds none on macOS or Windows).
static DEFAULT_ROOTS: OnceLock<Vec<X509>> = OnceLock::new();

/// Installs the default trust anchors; later calls are ignored.
pub fn set_default_roots(pems: &[Vec<u8>]) -> CoreResult<usize> {
    let mut roots = Vec::with_capacity(pems.len());
    for pem in pems {
        roots.extend(parse_certificates(pem)?);
    }
    let count = roots.len();
    let _ = DEFAULT_ROOTS.set(roots);
    Ok(count)
}

fn is_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Parses one PEM blob (which may hold a chain) or one DER certificate.
pub fn parse_certificates(data: &[u8]) -> CoreResult<Vec<X509>> {
    let invalid = |e: boring::error::ErrorStack| {
        CoreError::new(
            ErrorCode::InvalidCertificate,
            format!("cannot parse certificate: {e}"),
        )
    };
    if is_pem(data) {
        let certs = X509::stack_from_pem(data).map_err(invalid)?;
        if certs.is_empty() {
            return Err(CoreError::new(
                ErrorCode::InvalidCertificate,
                "no certificate found in PEM input",
            ));
        }
        Ok(certs)
    } else {
        Ok(vec![X509::from_der(data).map_err(invalid)?])
    }
}

/// Parses a private key: PEM (PKCS#8, SEC1 or PKCS#1) or DER.
pub fn parse_private_key(data: &[u8]) -> CoreResult<PKey<Private>> {
    let parsed = if is_pem(data) {
        PKey::private_key_from_pem(data)
    } else {
        PKey::private_key_from_der(data)
    };
    parsed.map_err(|e| {
        CoreError::new(
            ErrorCode::InvalidKey,
            format!("cannot parse private key: {e}"),
        )
    })
}

/// Signature algorithms accepted from peers, most preferred first.
const VERIFY_ALGORITHMS: &[SslSignatureAlgorithm] = &[
    SslSignatureAlgorithm::ED25519,
    SslSignatureAlgorithm::ECDSA_SECP256R1_SHA256,
    SslSignatureAlgorithm::ECDSA_SECP384R1_SHA384,
    SslSignatureAlgorithm::ECDSA_SECP521R1_SHA512,
    SslSignatureAlgorithm::RSA_PSS_RSAE_SHA256,
    SslSignatureAlgorithm::RSA_PSS_RSAE_SHA384,
    SslSignatureAlgorithm::RSA_PSS_RSAE_SHA512,
    SslSignatureAlgorithm::RSA_PKCS1_SHA256,
    SslSignatureAlgorithm::RSA_PKCS1_SHA384,
    SslSignatureAlgorithm::RSA_PKCS1_SHA512,
];

/// What the TLS side of a config needs.
#[derive(Default, Clone)]
pub struct TlsParams {
    pub is_server: bool,
    pub key: Option<Vec<u8>>,
    /// Each entry: PEM (possibly a chain) or one DER certificate; leaf first.
    pub certs: Vec<Vec<u8>>,
    pub ca: Vec<Vec<u8>>,
    pub verify_peer: bool,
    /// The application decides about each peer (a `verify` hook).
    pub verify_hook: bool,
    /// Server: ask for a client certificate even when none is required.
    pub request_cert: bool,
}

fn tls_error(what: &str) -> impl Fn(boring::error::ErrorStack) -> CoreError + '_ {
    move |e| CoreError::new(ErrorCode::Tls, format!("{what}: {e}"))
}

/// The anchors peers are checked against: `ca`, else the default roots.
fn trust_store(params: &TlsParams) -> CoreResult<boring::x509::store::X509Store> {
    let mut store = X509StoreBuilder::new().map_err(tls_error("trust store"))?;
    if params.ca.is_empty() {
        match DEFAULT_ROOTS.get() {
            Some(roots) => {
                for root in roots {
                    store
                        .add_cert(root.clone())
                        .map_err(tls_error("trust store"))?;
                }
            }
            None => store
                .set_default_paths()
                .map_err(tls_error("system trust store"))?,
        }
    } else {
        for blob in &params.ca {
            for cert in parse_certificates(blob)? {
                // A duplicate anchor is harmless; ignore that error only.
                let _ = store.add_cert(cert);
            }
        }
    }
    // A certificate given in `ca` is trusted as is, even when it is a leaf
    // rather than a CA (pinning a self-signed peer).
    store.set_flags(X509VerifyFlags::PARTIAL_CHAIN);
    Ok(store.build())
}

/// Builds the BoringSSL context: identity, trust and verification mode; and
/// the [`verify::Verifier`] that checks peers the way the context does (for
/// resumed sessions), when the context verifies peers at all.
pub fn build_context(
    params: &TlsParams,
) -> CoreResult<(SslContextBuilder, Option<verify::Verifier>)> {
    let mut builder = SslContextBuilder::new(SslMethod::tls()).map_err(tls_error("TLS context"))?;
    // BoringSSL leaves Ed25519 out of the signatures it accepts by default.
    builder
        .set_verify_algorithm_prefs(VERIFY_ALGORITHMS)
        .map_err(tls_error("signature algorithms"))?;

    let mut chain = Vec::new();
    for blob in &params.certs {
        chain.extend(parse_certificates(blob)?);
    }
    match (&params.key, chain.is_empty()) {
        (Some(key), false) => {
            let key = parse_private_key(key)?;
            let mut certs = chain.into_iter();
            if let Some(leaf) = certs.next() {
                builder
                    .set_certificate(&leaf)
                    .map_err(tls_error("certificate"))?;
            }
            for extra in certs {
                builder
                    .add_extra_chain_cert(extra)
                    .map_err(tls_error("certificate chain"))?;
            }
            // BoringSSL refuses a key that does not match the certificate here.
            builder.set_private_key(&key).map_err(|e| {
                CoreError::new(
                    ErrorCode::InvalidKey,
                    format!("the private key does not match the certificate: {e}"),
                )
            })?;
            builder.check_private_key().map_err(|_| {
                CoreError::new(
                    ErrorCode::InvalidKey,
                    "the private key does not match the certificate",
                )
            })?;
        }
        (None, false) => {
            return Err(CoreError::new(
                ErrorCode::InvalidKey,
                "a certificate was given without its private key",
            ))
        }
        (Some(_), true) => {
            return Err(CoreError::new(
                ErrorCode::InvalidCertificate,
                "a private key was given without a certificate",
            ))
        }
        (None, true) if params.is_server => {
            return Err(CoreError::new(
                ErrorCode::InvalidCertificate,
                "a server needs a key and a certificate",
            ))
        }
        (None, true) => {}
    }

    if params.verify_peer || params.verify_hook || params.request_cert {
        let store = trust_store(params)?;
        builder.set_cert_store(store.clone());
        let mode = match (params.is_server, params.verify_peer) {
            (true, true) => SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            _ => SslVerifyMode::PEER,
        };
        let policy = verify::Policy {
            require_valid: params.verify_peer,
            hook: params.verify_hook,
        };
        verify::install(&mut builder, mode, policy);
        Ok((builder, Some(verify::Verifier { store, policy })))
    } else {
        builder.set_verify(SslVerifyMode::NONE);
        Ok((builder, None))
    }
}
