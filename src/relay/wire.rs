//! The relay's messages, carried in QUIC datagrams of a peer's connection to
//! the relay: `TAG (4) | kind (1) | flow (u32, big endian) | body`.
//!
//! | kind | direction | body |
//! |---|---|---|
//! | `REGISTER` | target → relay | – |
//! | `REGISTERED` | relay → target | status (1 byte, [`status`]) |
//! | `OPEN` | dialer → relay | target fingerprint (32) + inner packet |
//! | `DATA` | either way | inner packet |
//! | `CLOSE` | either way | reason (1 byte, [`reason`]) |
//!
//! `flow` names a relayed flow on *this* connection; the relay maps the
//! dialer's flow number to one of its own on the target's connection. The
//! two kinds never share a number: a dialer picks numbers without
//! [`TARGET_FLOW`], the relay numbers target ends with it, so a peer that is
//! registered at a relay and also dials through the same connection cannot
//! have its `OPEN` taken for data of a flow the relay opened toward it.

/// Marks a datagram as relay traffic. Datagrams that begin with these bytes
/// are reserved on connections that take part in relaying.
pub const TAG: [u8; 4] = [0xff, 0x00, b'N', b'R'];
pub const HEADER_LEN: usize = 9;
pub const FINGERPRINT_LEN: usize = 32;
/// The longest header (`OPEN`): inner packets are written this far into a
/// buffer so that either header fits in front of them without a copy.
pub const MAX_HEADER_LEN: usize = HEADER_LEN + FINGERPRINT_LEN;

/// Set in the flow numbers the relay gives target ends; never in a
/// dialer's.
pub const TARGET_FLOW: u32 = 0x8000_0000;

pub const REGISTER: u8 = 1;
pub const REGISTERED: u8 = 2;
pub const OPEN: u8 = 3;
pub const DATA: u8 = 4;
pub const CLOSE: u8 = 5;

/// `REGISTERED` status byte.
pub mod status {
    pub const OK: u8 = 0;
    /// The target presented no certificate, so it has no identity.
    pub const NO_CERTIFICATE: u8 = 1;
}

/// `CLOSE` reason byte.
pub mod reason {
    /// The flow ended normally (a side closed its connection).
    pub const GONE: u8 = 0;
    /// No peer with that fingerprint is registered at the relay.
    pub const UNKNOWN_PEER: u8 = 1;
    /// The relay serves its maximum number of flows.
    pub const LIMIT: u8 = 2;
    /// The relay's `allow` policy refused the flow.
    pub const DENIED: u8 = 3;
    /// The flow was idle too long and was dropped by the relay.
    pub const IDLE: u8 = 4;
}

/// One parsed relay message; `body` borrows from the datagram.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u8,
    pub flow: u32,
    pub body: &'a [u8],
}

/// Whether a datagram is relay traffic.
pub fn is_relay(datagram: &[u8]) -> bool {
    datagram.len() >= HEADER_LEN && datagram[..4] == TAG
}

/// Parses a relay datagram; `None` when it is not one (or is malformed).
pub fn parse(datagram: &[u8]) -> Option<Message<'_>> {
    if !is_relay(datagram) {
        return None;
    }
    let flow = u32::from_be_bytes([datagram[5], datagram[6], datagram[7], datagram[8]]);
    Some(Message {
        kind: datagram[4],
        flow,
        body: &datagram[HEADER_LEN..],
    })
}

/// Writes a header into `out[..HEADER_LEN]`.
pub fn write_header(out: &mut [u8], kind: u8, flow: u32) {
    out[..4].copy_from_slice(&TAG);
    out[4] = kind;
    out[5..HEADER_LEN].copy_from_slice(&flow.to_be_bytes());
}

/// A complete message with a small body (control messages).
pub fn control(kind: u8, flow: u32, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN + body.len()];
    write_header(&mut out, kind, flow);
    out[HEADER_LEN..].copy_from_slice(body);
    out
}

/// Splits an `OPEN` body into the target fingerprint and the inner packet.
pub fn split_open(body: &[u8]) -> Option<([u8; FINGERPRINT_LEN], &[u8])> {
    if body.len() < FINGERPRINT_LEN {
        return None;
    }
    let (fp, packet) = body.split_at(FINGERPRINT_LEN);
    let mut fingerprint = [0u8; FINGERPRINT_LEN];
    fingerprint.copy_from_slice(fp);
    Some((fingerprint, packet))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_control_message() {
        let m = control(CLOSE, 0x0102_0304, &[reason::LIMIT]);
        let parsed = parse(&m).expect("relay message");
        assert_eq!(parsed.kind, CLOSE);
        assert_eq!(parsed.flow, 0x0102_0304);
        assert_eq!(parsed.body, &[reason::LIMIT]);
    }

    #[test]
    fn ignores_other_datagrams() {
        assert!(parse(b"hello world").is_none());
        assert!(parse(&TAG).is_none(), "too short for a header");
        let mut almost = control(DATA, 1, b"x");
        almost[0] = 0;
        assert!(parse(&almost).is_none());
    }

    #[test]
    fn splits_open_bodies() {
        let mut body = vec![7u8; FINGERPRINT_LEN];
        body.extend_from_slice(b"packet");
        let (fp, packet) = split_open(&body).expect("open");
        assert_eq!(fp, [7u8; FINGERPRINT_LEN]);
        assert_eq!(packet, b"packet");
        assert!(split_open(&body[..10]).is_none());
    }
}
