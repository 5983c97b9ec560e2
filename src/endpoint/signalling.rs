//! The endpoint's part in rendezvous signalling (see `p2p/channel.rs`):
//! sending messages reliably on a connection, taking them and their
//! acknowledgements out of its datagrams, and naming a registered peer to
//! the relay on the rendezvous side.

use std::time::{Duration, Instant};

use super::Endpoint;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::p2p::channel::{self, Received, SendError};
use crate::relay::link::{RelayLink, Role};
use crate::relay::wire;

impl Endpoint {
    /// Makes this endpoint's server a rendezvous: connections it accepts
    /// from now on carry signalling (their relay-tagged datagrams are
    /// reserved).
    pub fn enable_rendezvous(&mut self, on: bool) {
        self.rendezvous = on;
    }

    /// Sends one signalling message on connection `id`, reliably. `false`
    /// when too many of its messages are still unacknowledged.
    pub fn signal_send(&mut self, id: u32, payload: &[u8]) -> CoreResult<bool> {
        let conn = self.carrier(id, "signalling")?;
        let rtt = conn
            .quic
            .path_stats()
            .find(|p| p.active)
            .map_or(Duration::ZERO, |p| p.rtt);
        let link = conn
            .relay
            .get_or_insert_with(|| RelayLink::new(Role::Using));
        let datagram = match link.signals.send(payload, Instant::now(), rtt) {
            Ok(d) => d,
            Err(SendError::Backlog) => return Ok(false),
            Err(SendError::TooLarge) => {
                return Err(CoreError::new(
                    ErrorCode::OutOfRange,
                    format!(
                        "a signalling message is at most {} bytes",
                        channel::MAX_MESSAGE
                    ),
                ))
            }
        };
        // A full queue loses it like the network would: it is retried.
        let _ = conn.quic.dgram_send(&datagram);
        Ok(true)
    }

    /// Handles a `SIGNAL` or `SIGNAL_ACK` datagram received on `id`.
    /// Returns `false` when the datagram is of another kind.
    pub(super) fn signal_message(&mut self, id: u32, datagram: &[u8]) -> bool {
        let Some(msg) = wire::parse(datagram) else {
            return false;
        };
        if msg.kind != channel::SIGNAL && msg.kind != channel::SIGNAL_ACK {
            return false;
        }
        let Some(conn) = self.conns.get_mut(&id) else {
            return true;
        };
        let Some(link) = conn.relay.as_mut() else {
            return true;
        };
        if msg.kind == channel::SIGNAL_ACK {
            link.signals.on_ack(msg.flow);
            return true;
        }
        match link.signals.on_message(msg.flow, msg.body) {
            Received::Accepted | Received::Duplicate => {
                let _ = conn.quic.dgram_send(&channel::ack(msg.flow));
                self.touch(id);
            }
            Received::Refused => {}
        }
        true
    }

    /// Rendezvous side: makes the peer at the other end of `id` reachable
    /// through this endpoint's relay too, named by its certificate. Returns
    /// whether it now is (`false` without a relay or a certificate).
    pub fn relay_add_target(&mut self, id: u32) -> CoreResult<bool> {
        let fingerprint = self
            .connection(id)?
            .quic
            .peer_cert()
            .map(crate::relay::fingerprint);
        let Some(service) = self.relay.as_mut() else {
            return Ok(false);
        };
        // Only a connection that carries signalling (and so relay traffic) can be a target.
        let carries_relay = self.conns.get(&id).is_some_and(|c| c.relay.is_some());
        if fingerprint.is_none() || !carries_relay {
            return Ok(false);
        }
        Ok(service.register(id, fingerprint) == wire::status::OK)
    }
}
