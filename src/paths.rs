//! Path changes (RFC 9000 §9): which validated path a connection uses, and
//! how often that changed — a NAT rebinding or a migration on the client,
//! the peer following it on the server.
//!
//! quiche reports path events in a queue that only grows unless read;
//! [`PathWatch::observe`] reads it after every batch of packets or timers
//! and looks at the active path only when an event says it may have changed.

use std::net::SocketAddr;

/// The active path's (local, peer) addresses.
type Tuple = (SocketAddr, SocketAddr);

/// Paths remembered as validated at most (quiche keeps at most
/// `ACTIVE_CONNECTION_ID_LIMIT` paths).
const REMEMBERED: usize = 8;

#[derive(Default)]
pub struct PathWatch {
    /// The active path when it was last seen validated.
    active: Option<Tuple>,
    /// Paths quiche reported validated (the first one needs no report: the
    /// handshake validated it).
    validated: Vec<Tuple>,
    /// Validated changes of the active path.
    changes: u64,
}

impl PathWatch {
    /// Validated changes of the active path so far.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Takes quiche's path events and counts a change once a new active path
    /// is validated. Call after packets were handled, timers ran or the
    /// connection migrated.
    pub fn observe(&mut self, quic: &mut quiche::Connection) {
        let mut look = self.active.is_none() && quic.is_established();
        while let Some(event) = quic.path_event_next() {
            match event {
                quiche::PathEvent::Validated(local, peer)
                | quiche::PathEvent::PeerMigrated(local, peer) => {
                    self.remember((local, peer));
                    look = true;
                }
                quiche::PathEvent::FailedValidation(local, peer)
                | quiche::PathEvent::Closed(local, peer) => {
                    self.validated.retain(|t| *t != (local, peer));
                }
                _ => {}
            }
        }
        if !look {
            return;
        }
        let Some(path) = quic.path_stats().find(|p| p.active) else {
            return;
        };
        let tuple = (path.local_addr, path.peer_addr);
        match self.active {
            None => {
                self.active = Some(tuple);
                self.remember(tuple);
            }
            Some(seen) if seen != tuple && self.validated.contains(&tuple) => {
                self.changes += 1;
                self.active = Some(tuple);
            }
            Some(_) => {}
        }
    }

    fn remember(&mut self, tuple: Tuple) {
        if self.validated.contains(&tuple) {
            return;
        }
        if self.validated.len() == REMEMBERED {
            self.validated.remove(0);
        }
        self.validated.push(tuple);
    }
}
