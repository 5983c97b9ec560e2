//! Packets of QUIC versions quiche does not speak (RFC 9000 §5.2.2, §6).
//!
//! Only the version-independent invariants (RFC 8999 §5.1) can be read from
//! such a packet: the long-header bit, the version and the two connection
//! IDs, each up to 255 bytes long. Its packet type bits, token and length
//! fields mean something else in each version, so the packet is judged on
//! those invariants alone, before anything parses it as QUIC version 1.

use std::net::SocketAddr;

use super::{Endpoint, RecvOutcome, MIN_INITIAL_SIZE};

/// The version and connection IDs of a long-header packet (RFC 8999 §5.1).
fn invariants(data: &[u8]) -> Option<(u32, &[u8], &[u8])> {
    let (&first, rest) = data.split_first()?;
    if first & 0x80 == 0 {
        return None;
    }
    let version = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    let dcid_len = usize::from(*rest.get(4)?);
    let dcid = rest.get(5..5 + dcid_len)?;
    let scid_len = usize::from(*rest.get(5 + dcid_len)?);
    let scid = rest.get(6 + dcid_len..6 + dcid_len + scid_len)?;
    Some((version, dcid, scid))
}

impl Endpoint {
    /// Handles a long-header packet of an unsupported version: a server
    /// answers it with Version Negotiation when it came in a datagram large
    /// enough to open a connection (smaller ones, and every such packet to
    /// a client, are dropped). `None` for every other packet.
    pub(super) fn unsupported_version(
        &mut self,
        data: &[u8],
        from: SocketAddr,
    ) -> Option<RecvOutcome> {
        let (version, dcid, scid) = invariants(data)?;
        if version == 0 || quiche::version_is_supported(version) {
            return None;
        }
        if self.server.is_none() || data.len() < MIN_INITIAL_SIZE {
            return Some(RecvOutcome::Dropped);
        }
        // Type, version, two lengths, both IDs echoed, the versions offered.
        let mut out = vec![0u8; 7 + dcid.len() + scid.len() + 64];
        let answer = quiche::negotiate_version(
            &quiche::ConnectionId::from_ref(scid),
            &quiche::ConnectionId::from_ref(dcid),
            &mut out,
        );
        Some(match answer {
            Ok(len) => {
                out.truncate(len);
                self.queue_stateless(out, from);
                RecvOutcome::VersionNegotiation
            }
            Err(_) => RecvOutcome::Dropped,
        })
    }
}
