//! Why a connection ended, classified into a stable `ERR_QUIC_*` code.

use crate::error::tls_alert_name;

/// How a connection ended, as reported to JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The application or transport error code of the CONNECTION_CLOSE frame.
    pub code: u64,
    pub reason: String,
    /// Whether the peer closed the connection.
    pub remote: bool,
    /// Whether `code` is an application code (otherwise a transport code).
    pub application: bool,
    /// `None` for a clean close (application code 0 or transport NO_ERROR).
    pub error: Option<ErrorInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub message: String,
    pub tls_alert: Option<u8>,
    pub transport_code: Option<u64>,
    pub app_code: Option<u64>,
}

/// What ended the connection, before classification.
pub enum Ending<'a> {
    HandshakeTimeout,
    IdleTimeout,
    Local(&'a quiche::ConnectionError),
    Remote(&'a quiche::ConnectionError),
    /// Closed without any CONNECTION_CLOSE (e.g. a stateless reset).
    Lost,
}

const TLS_ALERT_BASE: u64 = 0x100;

fn tls_error(alert: u8, remote: bool) -> (&'static str, String) {
    let name = tls_alert_name(u64::from(alert));
    let code = match (alert, remote) {
        (120, _) => "ERR_QUIC_ALPN_MISMATCH",
        (116, _) => "ERR_QUIC_CERT_REQUIRED",
        (48, false) => "ERR_QUIC_CERT_UNTRUSTED",
        (45, false) => "ERR_QUIC_CERT_EXPIRED",
        (42 | 43 | 44 | 46, false) => "ERR_QUIC_CERT_INVALID",
        (42..=49, true) => "ERR_QUIC_CERT_REJECTED",
        _ => "ERR_QUIC_TLS_HANDSHAKE_FAILED",
    };
    let message = match (code, remote) {
        ("ERR_QUIC_ALPN_MISMATCH", _) => {
            "no application protocol (ALPN) in common with the peer".to_string()
        }
        ("ERR_QUIC_CERT_REQUIRED", _) => "the peer requires a client certificate".to_string(),
        ("ERR_QUIC_CERT_UNTRUSTED", _) => {
            "the peer's certificate is not signed by a trusted CA (unknown_ca)".to_string()
        }
        ("ERR_QUIC_CERT_EXPIRED", _) => "the peer's certificate has expired".to_string(),
        ("ERR_QUIC_CERT_INVALID", _) => {
            format!("the peer's certificate failed verification ({name})")
        }
        ("ERR_QUIC_CERT_REJECTED", _) => format!("the peer rejected our certificate ({name})"),
        (_, true) => format!("the peer aborted the TLS handshake ({name})"),
        (_, false) => format!("the TLS handshake failed ({name})"),
    };
    (code, message)
}

fn classify_frame(e: &quiche::ConnectionError, remote: bool) -> CloseInfo {
    let reason = String::from_utf8_lossy(&e.reason).into_owned();
    let who = if remote { "peer" } else { "local endpoint" };
    let error = if e.is_app {
        (e.error_code != 0).then(|| ErrorInfo {
            code: "ERR_QUIC_APPLICATION_ERROR",
            message: format!(
                "the {who} closed the connection with application code {}",
                e.error_code
            ),
            tls_alert: None,
            transport_code: None,
            app_code: Some(e.error_code),
        })
    } else if (TLS_ALERT_BASE..TLS_ALERT_BASE + 0x100).contains(&e.error_code) {
        let alert = (e.error_code - TLS_ALERT_BASE) as u8;
        let (code, message) = tls_error(alert, remote);
        Some(ErrorInfo {
            code,
            message,
            tls_alert: Some(alert),
            transport_code: Some(e.error_code),
            app_code: None,
        })
    } else if e.error_code == 0 {
        None
    } else {
        let code = match e.error_code {
            0x2 => "ERR_QUIC_CONNECTION_REFUSED",
            0x1 => "ERR_QUIC_INTERNAL_PEER_ERROR",
            _ => "ERR_QUIC_TRANSPORT_ERROR",
        };
        Some(ErrorInfo {
            code,
            message: format!(
                "the {who} closed the connection with transport error 0x{:x}",
                e.error_code
            ),
            tls_alert: None,
            transport_code: Some(e.error_code),
            app_code: None,
        })
    };
    CloseInfo {
        code: e.error_code,
        reason,
        remote,
        application: e.is_app,
        error,
    }
}

/// An ending found locally, with no CONNECTION_CLOSE frame behind it.
pub fn local_error(code: &'static str, message: &str) -> CloseInfo {
    CloseInfo {
        code: 0,
        reason: String::new(),
        remote: false,
        application: false,
        error: Some(ErrorInfo {
            code,
            message: message.to_string(),
            tls_alert: None,
            transport_code: None,
            app_code: None,
        }),
    }
}

pub fn classify(ending: Ending<'_>) -> CloseInfo {
    match ending {
        Ending::HandshakeTimeout => local_error(
            "ERR_QUIC_HANDSHAKE_TIMEOUT",
            "the handshake did not complete in time",
        ),
        Ending::IdleTimeout => local_error(
            "ERR_QUIC_IDLE_TIMEOUT",
            "the connection was idle for longer than its idle timeout",
        ),
        Ending::Local(e) => classify_frame(e, false),
        Ending::Remote(e) => classify_frame(e, true),
        Ending::Lost => local_error(
            "ERR_QUIC_CONNECTION_LOST",
            "the connection ended without a close from either side",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(is_app: bool, error_code: u64) -> quiche::ConnectionError {
        quiche::ConnectionError {
            is_app,
            error_code,
            reason: b"why".to_vec(),
        }
    }

    #[test]
    fn clean_application_close_has_no_error() {
        let info = classify(Ending::Remote(&frame(true, 0)));
        assert!(info.error.is_none());
        assert!(info.remote && info.application);
        assert_eq!(info.reason, "why");
    }

    #[test]
    fn tls_alerts_map_to_stable_codes() {
        let untrusted = classify(Ending::Local(&frame(false, 0x100 + 48)));
        assert_eq!(
            untrusted.error.as_ref().map(|e| e.code),
            Some("ERR_QUIC_CERT_UNTRUSTED")
        );
        let alpn = classify(Ending::Remote(&frame(false, 0x100 + 120)));
        assert_eq!(
            alpn.error.as_ref().map(|e| e.code),
            Some("ERR_QUIC_ALPN_MISMATCH")
        );
        assert_eq!(alpn.error.and_then(|e| e.tls_alert), Some(120));
        let rejected = classify(Ending::Remote(&frame(false, 0x100 + 42)));
        assert_eq!(
            rejected.error.map(|e| e.code),
            Some("ERR_QUIC_CERT_REJECTED")
        );
    }

    /// The README's Errors table, for the codes no end-to-end test can
    /// provoke through the public API.
    #[test]
    fn transport_errors_and_endings_map_to_the_documented_codes() {
        let code = |info: CloseInfo| info.error.map(|e| e.code);
        assert_eq!(
            code(classify(Ending::Remote(&frame(false, 0x1)))),
            Some("ERR_QUIC_INTERNAL_PEER_ERROR")
        );
        assert_eq!(
            code(classify(Ending::Remote(&frame(false, 0x2)))),
            Some("ERR_QUIC_CONNECTION_REFUSED")
        );
        assert_eq!(
            code(classify(Ending::Remote(&frame(false, 0xa)))),
            Some("ERR_QUIC_TRANSPORT_ERROR")
        );
        assert_eq!(
            code(classify(Ending::Remote(&frame(false, 0x100 + 40)))),
            Some("ERR_QUIC_TLS_HANDSHAKE_FAILED")
        );
        assert_eq!(
            code(classify(Ending::Local(&frame(false, 0x100 + 45)))),
            Some("ERR_QUIC_CERT_EXPIRED")
        );
        assert_eq!(
            code(classify(Ending::Remote(&frame(false, 0x100 + 116)))),
            Some("ERR_QUIC_CERT_REQUIRED")
        );
        assert_eq!(
            code(classify(Ending::Lost)),
            Some("ERR_QUIC_CONNECTION_LOST")
        );
        assert_eq!(
            code(classify(Ending::IdleTimeout)),
            Some("ERR_QUIC_IDLE_TIMEOUT")
        );
        assert_eq!(
            code(classify(Ending::HandshakeTimeout)),
            Some("ERR_QUIC_HANDSHAKE_TIMEOUT")
        );
        assert_eq!(code(classify(Ending::Remote(&frame(false, 0)))), None);
    }

    #[test]
    fn application_error_carries_its_code() {
        let info = classify(Ending::Local(&frame(true, 7)));
        let err = info.error.expect("error");
        assert_eq!(err.code, "ERR_QUIC_APPLICATION_ERROR");
        assert_eq!(err.app_code, Some(7));
    }
}
