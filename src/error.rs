//! Stable error codes. Every error that crosses into JavaScript carries one of
//! these as its `code`; JavaScript never parses message text.

use std::fmt;

/// The `ERR_QUIC_*` (and Node-style argument) codes raised by the native layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidArgType,
    InvalidArgValue,
    OutOfRange,
    InvalidKey,
    InvalidCertificate,
    Tls,
    ConnectionClosed,
    StreamLimit,
    InvalidStreamState,
    DatagramTooLarge,
    DatagramsDisabled,
    Internal,
    WebTransportSessionClosed,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgType => "ERR_INVALID_ARG_TYPE",
            ErrorCode::InvalidArgValue => "ERR_INVALID_ARG_VALUE",
            ErrorCode::OutOfRange => "ERR_OUT_OF_RANGE",
            ErrorCode::InvalidKey => "ERR_QUIC_INVALID_KEY",
            ErrorCode::InvalidCertificate => "ERR_QUIC_INVALID_CERTIFICATE",
            ErrorCode::Tls => "ERR_QUIC_TLS",
            ErrorCode::ConnectionClosed => "ERR_QUIC_CONNECTION_CLOSED",
            ErrorCode::StreamLimit => "ERR_QUIC_STREAM_LIMIT",
            ErrorCode::InvalidStreamState => "ERR_QUIC_INVALID_STREAM_STATE",
            ErrorCode::DatagramTooLarge => "ERR_QUIC_DATAGRAM_TOO_LARGE",
            ErrorCode::DatagramsDisabled => "ERR_QUIC_DATAGRAMS_DISABLED",
            ErrorCode::Internal => "ERR_QUIC_INTERNAL",
            ErrorCode::WebTransportSessionClosed => "ERR_QUIC_WEBTRANSPORT_SESSION_CLOSED",
        }
    }
}

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// An error of the native core: a stable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreError {
    pub code: ErrorCode,
    pub message: String,
}

impl CoreError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CoreError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl CoreError {
    /// The `ERR_QUIC_INTERNAL` error for a caught panic, with its message.
    pub fn from_panic(panic: &(dyn std::any::Any + Send)) -> Self {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Self::internal(what)
    }

    /// An `ERR_QUIC_INTERNAL` error: a bug in nquic, never the peer's or
    /// the user's doing.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        CoreError::new(
            ErrorCode::Internal,
            format!("internal error in nquic's native core: {what}"),
        )
    }
}

impl From<CoreError> for napi::Error<ErrorCode> {
    fn from(e: CoreError) -> Self {
        napi::Error::new(e.code, e.message)
    }
}

pub type CoreResult<T> = Result<T, CoreError>;

/// Maps a TLS alert number (RFC 8446 §6) to a name for messages.
pub fn tls_alert_name(alert: u64) -> &'static str {
    match alert {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown_alert",
    }
}
