//! Relayed connections: QUIC carried through a willing peer.
//!
//! When two peers cannot reach each other (symmetric NATs), each keeps an
//! ordinary connection to a relay, and their end-to-end connection travels as
//! opaque packets inside QUIC datagrams of those two connections
//! ([`wire`] gives the framing). The relay forwards packets it cannot read:
//! the end-to-end connection has its own keys and TLS handshake, so the relay
//! can drop or delay packets but not read or alter them undetected.
//!
//! Below the endpoint a relayed flow is just another path: its packets carry
//! a synthetic address from the discard-only prefix `100::/64` (RFC 6666)
//! that names the connection to the relay and the flow number on it
//! ([`path_addr`]). quiche and the rest of the endpoint treat it like any
//! peer address; only sending and receiving know better.
//!
//! * [`service`]: the relay's side (registered targets, flows, limits);
//! * [`link`]: a peer's side (registration, flows, packets queued for the relay);
//! * the endpoint glues them to connections (`endpoint/relaying.rs`).

pub mod link;
pub mod service;
pub mod wire;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// Largest end-to-end packet sent through a relay: it must fit, with an
/// `OPEN` header, in one datagram of a connection that itself sends at most
/// 1350-byte packets, and be at least 1200 bytes (QUIC's minimum).
pub const RELAYED_PACKET_MAX: usize = 1252;

const PREFIX: u16 = 0x0100;
const PORT: u16 = 1;

/// The synthetic peer address of flow `flow` through connection `via`.
pub fn path_addr(via: u32, flow: u32) -> SocketAddr {
    let segments = [
        PREFIX,
        0,
        0,
        0,
        (via >> 16) as u16,
        via as u16,
        (flow >> 16) as u16,
        flow as u16,
    ];
    SocketAddr::new(IpAddr::V6(Ipv6Addr::from(segments)), PORT)
}

/// The local address relayed connections are bound to.
pub fn local_addr() -> SocketAddr {
    path_addr(0, 0)
}

/// Whether `ip` belongs to the synthetic relay prefix (never a real source).
pub fn is_synthetic(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.segments()[..4] == [PREFIX, 0, 0, 0],
        IpAddr::V4(_) => false,
    }
}

/// `(via, flow)` of a synthetic address.
pub fn parse_path(addr: &SocketAddr) -> Option<(u32, u32)> {
    let IpAddr::V6(v6) = addr.ip() else {
        return None;
    };
    if !is_synthetic(&addr.ip()) {
        return None;
    }
    let s = v6.segments();
    let via = (u32::from(s[4]) << 16) | u32::from(s[5]);
    let flow = (u32::from(s[6]) << 16) | u32::from(s[7]);
    Some((via, flow))
}

/// SHA-256 of a DER certificate: how peers are named at a relay.
pub fn fingerprint(der: &[u8]) -> [u8; wire::FINGERPRINT_LEN] {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; wire::FINGERPRINT_LEN];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_addresses_round_trip() {
        let a = path_addr(0xdead_beef, 7);
        assert_eq!(parse_path(&a), Some((0xdead_beef, 7)));
        assert!(is_synthetic(&a.ip()));
        let real: SocketAddr = "[2001:db8::1]:443".parse().expect("addr");
        assert_eq!(parse_path(&real), None);
        let v4: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        assert!(!is_synthetic(&v4.ip()));
    }
}
