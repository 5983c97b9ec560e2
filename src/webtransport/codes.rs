//! Error codes of HTTP/3 (RFC 9114 §8.1) and WebTransport over HTTP/3
//! (draft-ietf-webtrans-http3 §9.5), and the mapping between WebTransport
//! application codes (32 bits) and the HTTP/3 code space they travel in.

use web_transport_proto::{error_from_http3, error_to_http3};

pub const H3_NO_ERROR: u64 = 0x100;
pub const H3_GENERAL_PROTOCOL_ERROR: u64 = 0x101;
pub const H3_STREAM_CREATION_ERROR: u64 = 0x103;
pub const H3_CLOSED_CRITICAL_STREAM: u64 = 0x104;
pub const H3_FRAME_UNEXPECTED: u64 = 0x105;
pub const H3_FRAME_ERROR: u64 = 0x106;
pub const H3_EXCESSIVE_LOAD: u64 = 0x107;
pub const H3_ID_ERROR: u64 = 0x108;
pub const H3_SETTINGS_ERROR: u64 = 0x109;
pub const H3_MISSING_SETTINGS: u64 = 0x10a;
pub const H3_REQUEST_REJECTED: u64 = 0x10b;
pub const H3_REQUEST_CANCELLED: u64 = 0x10c;
pub const H3_MESSAGE_ERROR: u64 = 0x10e;
/// A stream of a WebTransport session that has ended.
pub const WEBTRANSPORT_SESSION_GONE: u64 = 0x170d_7b68;
/// A stream refused because its session is not (yet) established and too
/// many streams already wait for theirs.
pub const WEBTRANSPORT_BUFFERED_STREAM_REJECTED: u64 = 0x3994_bd84;

/// The wire code (RESET_STREAM, STOP_SENDING) for a WebTransport stream
/// error `code`. Codes above 32 bits are not WebTransport codes and go out
/// unchanged.
pub fn to_wire(code: u64) -> u64 {
    match u32::try_from(code) {
        Ok(c) => error_to_http3(c),
        Err(_) => code,
    }
}

/// The WebTransport stream error code a wire code carries; codes outside the
/// WebTransport range (HTTP/3 codes such as [`WEBTRANSPORT_SESSION_GONE`])
/// are reported unchanged.
pub fn from_wire(code: u64) -> u64 {
    error_from_http3(code).map_or(code, u64::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_codes_round_trip_and_skip_reserved_values() {
        for code in [0u64, 1, 0x1d, 0x1e, 0x1f, 255, 0xffff_ffff] {
            let wire = to_wire(code);
            assert_eq!(from_wire(wire), code);
            // RFC 9114 §8.1: 0x1f * N + 0x21 is reserved (GREASE).
            assert_ne!((wire - 0x21) % 0x1f, 0);
        }
        assert_eq!(to_wire(0), 0x52e4_a40f_a8db);
        assert_eq!(
            from_wire(WEBTRANSPORT_SESSION_GONE),
            WEBTRANSPORT_SESSION_GONE
        );
        assert_eq!(to_wire(1 << 40), 1 << 40);
    }
}
