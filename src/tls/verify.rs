//! Peer certificate verification inside the handshake.
//!
//! Every TLS context nquic builds verifies peers through one custom verify
//! callback. It runs the built-in chain and name check itself, and when the
//! application gave a `verify` hook it pauses the handshake
//! (`SslVerifyError::Retry`) until JavaScript has decided: the endpoint turns
//! the pause into a `VERIFY` event, JavaScript answers with
//! `Endpoint::set_verdict`, and quiche re-runs the callback on its next
//! `send()`, which now returns the verdict. A refusal is a real TLS alert, and
//! the refused peer never reaches the application.
//!
//! The callback cannot see which nquic connection it serves, so the endpoint
//! names the connection it is driving in [`Registry::current`] around every
//! call into quiche; the registry is thread-local because a JavaScript thread
//! (main or worker) owns all of its endpoints.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;

use boring::ssl::{SslAlert, SslRef, SslVerifyError, SslVerifyMode};
use boring::stack::Stack;
use boring::x509::store::{X509Store, X509StoreRef};
use boring::x509::{X509StoreContext, X509VerifyError, X509};

/// What the built-in check found, handed to the application's hook.
#[derive(Debug, Clone, Default)]
pub struct PeerCheck {
    /// DER certificates, leaf first.
    pub certificates: Vec<Vec<u8>>,
    pub chain_valid: bool,
    /// Stable code and message when the chain or name check failed.
    pub chain_error: Option<(&'static str, String)>,
    pub server_name: Option<String>,
}

/// The name a client expects in the server's certificate.
#[derive(Debug, Clone)]
pub enum Expected {
    Name(String),
    Ip(IpAddr),
    /// The SHA-256 of the leaf certificate (a relayed peer's identity): it
    /// replaces the chain and name check.
    Fingerprint([u8; 32]),
}

/// Why verification refused a peer: a stable code and a message.
pub type Refusal = (&'static str, String);

#[derive(Default)]
pub struct Registry {
    /// The connection whose quiche call is running.
    pub current: Option<u32>,
    expected: HashMap<u32, Expected>,
    /// Checks waiting for the application's verdict.
    requests: HashMap<u32, PeerCheck>,
    /// Connections with a check filed but not yet announced.
    fresh: std::collections::HashSet<u32>,
    /// Connections whose hook was asked and has not answered yet.
    asked: std::collections::HashSet<u32>,
    /// Verdicts given by the application: `None` accepts.
    verdicts: HashMap<u32, Option<Refusal>>,
    /// Refusals that ended a handshake, for the close report.
    refusals: HashMap<u32, Refusal>,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

fn with<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    REGISTRY.with(|r| f(&mut r.borrow_mut()))
}

/// Runs `f` with `conn` as the connection the callback serves.
pub fn serving<T>(conn: u32, f: impl FnOnce() -> T) -> T {
    let previous = with(|r| r.current.replace(conn));
    let result = f();
    with(|r| r.current = previous);
    result
}

pub fn set_expected(conn: u32, expected: Option<Expected>) {
    with(|r| match expected {
        Some(e) => r.expected.insert(conn, e),
        None => r.expected.remove(&conn),
    });
}

/// A check waiting for the application's verdict, taken once.
pub fn take_request(conn: u32) -> Option<PeerCheck> {
    with(|r| r.requests.remove(&conn))
}

/// Whether a new check was filed for `conn` since the last call (true once
/// per check, so the application is asked once).
pub fn new_request(conn: u32) -> bool {
    with(|r| r.fresh.remove(&conn))
}

pub fn set_verdict(conn: u32, refusal: Option<Refusal>) {
    with(|r| r.verdicts.insert(conn, refusal));
}

pub fn take_refusal(conn: u32) -> Option<Refusal> {
    with(|r| r.refusals.remove(&conn))
}

/// Forgets everything about a connection.
pub fn forget(conn: u32) {
    with(|r| {
        r.expected.remove(&conn);
        r.requests.remove(&conn);
        r.verdicts.remove(&conn);
        r.refusals.remove(&conn);
        r.asked.remove(&conn);
        r.fresh.remove(&conn);
    });
}

/// How a context verifies its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The built-in check must pass (unless a hook decides).
    pub require_valid: bool,
    /// The application's hook decides.
    pub hook: bool,
}

fn map_error(err: X509VerifyError) -> (&'static str, SslAlert, String) {
    let text = err.error_string().to_string();
    match err {
        X509VerifyError::CERT_HAS_EXPIRED => {
            ("ERR_QUIC_CERT_EXPIRED", SslAlert::CERTIFICATE_EXPIRED, text)
        }
        X509VerifyError::CERT_NOT_YET_VALID => (
            "ERR_QUIC_CERT_NOT_YET_VALID",
            SslAlert::BAD_CERTIFICATE,
            text,
        ),
        X509VerifyError::HOSTNAME_MISMATCH | X509VerifyError::IP_ADDRESS_MISMATCH => (
            "ERR_QUIC_CERT_NAME_MISMATCH",
            SslAlert::BAD_CERTIFICATE,
            text,
        ),
        X509VerifyError::UNABLE_TO_GET_ISSUER_CERT
        | X509VerifyError::UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | X509VerifyError::UNABLE_TO_VERIFY_LEAF_SIGNATURE
        | X509VerifyError::DEPTH_ZERO_SELF_SIGNED_CERT
        | X509VerifyError::SELF_SIGNED_CERT_IN_CHAIN
        | X509VerifyError::CERT_UNTRUSTED => {
            ("ERR_QUIC_CERT_UNTRUSTED", SslAlert::UNKNOWN_CA, text)
        }
        _ => ("ERR_QUIC_CERT_INVALID", SslAlert::BAD_CERTIFICATE, text),
    }
}

/// The peer's chain, leaf first (a server's view of the client chain leaves
/// the leaf out, so it is added back).
fn peer_chain(ssl: &SslRef) -> Vec<X509> {
    let mut chain: Vec<X509> = ssl
        .peer_cert_chain()
        .map(|s| s.iter().map(|c| c.to_owned()).collect())
        .unwrap_or_default();
    if let Some(leaf) = ssl.peer_certificate() {
        let leaf_der = leaf.to_der().ok();
        let first_der = chain.first().and_then(|c| c.to_der().ok());
        if leaf_der.is_some() && leaf_der != first_der {
            chain.insert(0, leaf);
        }
    }
    chain
}

/// Verifies the chain against the context's trust store and, for a client,
/// the expected name. Returns the check and the alert to send on failure.
fn check(ssl: &SslRef, expected: Option<&Expected>) -> (PeerCheck, SslAlert) {
    let server_name = ssl
        .servername(boring::ssl::NameType::HOST_NAME)
        .map(str::to_string);
    check_chain(
        &peer_chain(ssl),
        ssl.ssl_context().cert_store(),
        expected,
        server_name,
    )
}

/// The built-in check of `chain` (leaf first) against `store` and what the
/// peer must be (`expected`).
fn check_chain(
    chain: &[X509],
    store: &X509StoreRef,
    expected: Option<&Expected>,
    server_name: Option<String>,
) -> (PeerCheck, SslAlert) {
    let mut result = PeerCheck {
        certificates: chain.iter().filter_map(|c| c.to_der().ok()).collect(),
        server_name,
        ..Default::default()
    };
    let Some(leaf) = chain.first() else {
        result.chain_error = Some((
            "ERR_QUIC_CERT_REQUIRED",
            "the peer sent no certificate".into(),
        ));
        return (result, SslAlert::CERTIFICATE_REQUIRED);
    };
    if let Some(Expected::Fingerprint(pinned)) = expected {
        let matches = result
            .certificates
            .first()
            .is_some_and(|der| crate::relay::fingerprint(der) == *pinned);
        if matches {
            result.chain_valid = true;
        } else {
            result.chain_error = Some((
                "ERR_QUIC_CERT_FINGERPRINT_MISMATCH",
                "the peer's certificate is not the one with the expected fingerprint".into(),
            ));
        }
        return (result, SslAlert::BAD_CERTIFICATE);
    }
    let outcome = (|| -> Result<Result<(), X509VerifyError>, boring::error::ErrorStack> {
        let mut intermediates = Stack::new()?;
        for cert in chain.iter().skip(1) {
            intermediates.push(cert.clone())?;
        }
        let mut ctx = X509StoreContext::new()?;
        ctx.init(store, leaf, &intermediates, |c| {
            match expected {
                Some(Expected::Name(name)) => c.verify_param_mut().set_host(name)?,
                Some(Expected::Ip(ip)) => c.verify_param_mut().set_ip(*ip)?,
                Some(Expected::Fingerprint(_)) | None => {}
            }
            c.verify_cert()?;
            Ok(c.verify_result())
        })
    })();
    match outcome {
        Ok(Ok(())) => {
            result.chain_valid = true;
            (result, SslAlert::BAD_CERTIFICATE)
        }
        Ok(Err(err)) => {
            let (code, alert, text) = map_error(err);
            result.chain_error = Some((code, text));
            (result, alert)
        }
        Err(e) => {
            result.chain_error = Some(("ERR_QUIC_CERT_INVALID", e.to_string()));
            (result, SslAlert::BAD_CERTIFICATE)
        }
    }
}

/// How a context verifies its peers, kept with the config so that a resumed
/// session, which skips the certificate exchange and with it the verify
/// callback, can be checked the same way afterwards.
#[derive(Clone)]
pub struct Verifier {
    pub store: X509Store,
    pub policy: Policy,
}

/// What [`check_session`] decided about the peer of a resumed session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionVerdict {
    Accept,
    /// The application's hook was asked (a `VERIFY` event is due).
    Asked,
    /// Refused with this TLS alert; the refusal is filed for the close report.
    Refuse(u8),
}

/// Checks the peer of a resumed session, whose certificates (`chain`, DER,
/// leaf first) come from the session ticket: the same built-in check and
/// hook as a full handshake, against today's trust store and expectations.
pub fn check_session(
    conn: u32,
    verifier: &Verifier,
    chain: &[&[u8]],
    server_name: Option<String>,
) -> SessionVerdict {
    let policy = verifier.policy;
    if !policy.hook && !policy.require_valid {
        return SessionVerdict::Accept;
    }
    let parsed: Option<Vec<X509>> = chain.iter().map(|der| X509::from_der(der).ok()).collect();
    let chain = parsed.unwrap_or_default();
    if chain.is_empty() && !policy.require_valid {
        // As in a full handshake: a hook without `verifyPeer` only runs
        // when the peer sent a certificate.
        return SessionVerdict::Accept;
    }
    let expected = with(|r| r.expected.get(&conn).cloned());
    let (result, alert) = check_chain(&chain, &verifier.store, expected.as_ref(), server_name);
    if policy.hook {
        with(|r| r.requests.insert(conn, result));
        return SessionVerdict::Asked;
    }
    match result.chain_error {
        Some((code, text)) => {
            with(|r| r.refusals.insert(conn, (code, text)));
            SessionVerdict::Refuse(alert_code(alert))
        }
        None => SessionVerdict::Accept,
    }
}

/// Files the application's refusal of a resumed session's peer for the
/// close report; returns the alert to close with.
pub fn refuse_session(conn: u32, refusal: Refusal) -> u8 {
    with(|r| r.refusals.insert(conn, refusal));
    alert_code(SslAlert::BAD_CERTIFICATE)
}

/// The TLS alert number (RFC 8446 §6) of the alerts a check can send.
fn alert_code(alert: SslAlert) -> u8 {
    match alert {
        SslAlert::CERTIFICATE_EXPIRED => 45,
        SslAlert::UNKNOWN_CA => 48,
        SslAlert::CERTIFICATE_REQUIRED => 116,
        _ => 42,
    }
}

/// Installs the verify callback on a context.
pub fn install(builder: &mut boring::ssl::SslContextBuilder, mode: SslVerifyMode, policy: Policy) {
    builder.set_custom_verify_callback(mode, move |ssl| verify_callback(ssl, policy));
}

fn verify_callback(ssl: &mut SslRef, policy: Policy) -> Result<(), SslVerifyError> {
    let Some(conn) = with(|r| r.current) else {
        return Err(SslVerifyError::Invalid(SslAlert::INTERNAL_ERROR));
    };
    if let Some(verdict) = with(|r| {
        let verdict = r.verdicts.remove(&conn);
        if verdict.is_some() {
            r.asked.remove(&conn);
        }
        verdict
    }) {
        return match verdict {
            None => Ok(()),
            Some(refusal) => {
                with(|r| r.refusals.insert(conn, refusal));
                Err(SslVerifyError::Invalid(SslAlert::BAD_CERTIFICATE))
            }
        };
    }
    // The handshake is re-driven by every packet while the hook decides:
    // ask it once.
    if policy.hook && with(|r| r.asked.contains(&conn)) {
        return Err(SslVerifyError::Retry);
    }
    let expected = with(|r| r.expected.get(&conn).cloned());
    let (result, alert) = check(ssl, expected.as_ref());
    if policy.hook {
        with(|r| {
            r.requests.insert(conn, result);
            r.asked.insert(conn);
            r.fresh.insert(conn);
        });
        return Err(SslVerifyError::Retry);
    }
    match (&result.chain_error, policy.require_valid) {
        (Some((code, text)), true) => {
            with(|r| r.refusals.insert(conn, (code, text.clone())));
            Err(SslVerifyError::Invalid(alert))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's certificate error codes, for the verification results
    /// no end-to-end test can provoke with the certificates nquic makes.
    #[test]
    fn verification_errors_map_to_the_documented_codes() {
        let expected = [
            (
                X509VerifyError::CERT_NOT_YET_VALID,
                "ERR_QUIC_CERT_NOT_YET_VALID",
            ),
            (X509VerifyError::CERT_HAS_EXPIRED, "ERR_QUIC_CERT_EXPIRED"),
            (
                X509VerifyError::HOSTNAME_MISMATCH,
                "ERR_QUIC_CERT_NAME_MISMATCH",
            ),
            (
                X509VerifyError::IP_ADDRESS_MISMATCH,
                "ERR_QUIC_CERT_NAME_MISMATCH",
            ),
            (
                X509VerifyError::DEPTH_ZERO_SELF_SIGNED_CERT,
                "ERR_QUIC_CERT_UNTRUSTED",
            ),
            (
                X509VerifyError::CERT_SIGNATURE_FAILURE,
                "ERR_QUIC_CERT_INVALID",
            ),
        ];
        for (error, code) in expected {
            assert_eq!(map_error(error).0, code);
        }
    }
}
