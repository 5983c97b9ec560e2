//! Path changes (RFC 9000 §9): which path a connection uses, how often that
//! changed, and giving up the paths it left.
//!
//! A change counts once the new active path has proved itself: on the
//! server when it is validated (a NAT rebinding or migration of the client
//! followed), on the client (which moves with `migrate`) once a packet from
//! the peer arrived on it. The paths left then give up their connection IDs
//! (`retire_left_paths`, a patched-in quiche method), so that the next
//! rebinding or migration finds a free path slot and a fresh ID. A path
//! whose validation failed is given up as soon as quiche reports it
//! (`retire_failed_paths`), and a server back on a path that proved itself
//! before gives up the paths it tried since: under rebindings faster than a
//! validation, those held every slot otherwise.
//!
//! quiche reports path events in a queue that only grows unless read;
//! [`PathWatch::observe`] reads it after every batch of packets or timers
//! and looks at the paths only while a change may be under way.

use std::net::SocketAddr;

/// The active path's (local, peer) addresses.
type Tuple = (SocketAddr, SocketAddr);

#[derive(Default)]
pub struct PathWatch {
    /// The active path when it last proved itself.
    active: Option<Tuple>,
    /// A change may be under way: look at the paths on every observation.
    pending: bool,
    /// Validated changes of the active path.
    changes: u64,
    /// Datagrams declared lost on paths that quiche has since replaced
    /// (their counts leave its path statistics with them).
    replaced_dgram_lost: u64,
    /// Each path's lost-datagram count when last observed; kept once the
    /// connection has changed path, so that a replaced path's count stays.
    dgram_lost_seen: Vec<(Tuple, usize)>,
    /// The previous observation's list, reused for the next one (this runs
    /// after every batch of a connection that changed path: no allocation).
    dgram_lost_spare: Vec<(Tuple, usize)>,
}

impl PathWatch {
    /// Validated changes of the active path so far.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// DATAGRAM frames declared lost (RFC 9221 §5.2) on every path the
    /// connection has used: quiche's per-path counts plus those of the
    /// paths it replaced. Never decreases.
    pub fn datagrams_lost(&self, quic: &quiche::Connection) -> u64 {
        let current: usize = quic.path_stats().map(|p| p.dgram_lost).sum();
        self.replaced_dgram_lost + current as u64
    }

    /// Keeps the lost-datagram count of each path, adding a path's last
    /// count to `replaced_dgram_lost` once quiche no longer has it (or has
    /// a new path with its addresses, whose count started again). A path
    /// is only replaced once nothing of it is in flight, so the count seen
    /// after the batch that settled its last packet is final; only a
    /// replacement in that same batch could miss a loss.
    fn tally_dgram_lost(&mut self, quic: &quiche::Connection) {
        let mut now = std::mem::take(&mut self.dgram_lost_spare);
        now.clear();
        now.extend(
            quic.path_stats()
                .map(|p| ((p.local_addr, p.peer_addr), p.dgram_lost)),
        );
        for (tuple, lost) in &self.dgram_lost_seen {
            let kept = now.iter().any(|(t, l)| t == tuple && l >= lost);
            if !kept {
                self.replaced_dgram_lost += *lost as u64;
            }
        }
        self.dgram_lost_spare = std::mem::replace(&mut self.dgram_lost_seen, now);
    }

    /// The connection itself moved to another path (`migrate`).
    pub fn moved(&mut self) {
        self.pending = true;
    }

    /// Reads quiche's path events; counts a change, and gives up the paths
    /// left, once a new active path has proved itself. Call after packets
    /// were handled, timers ran or the connection migrated.
    pub fn observe(&mut self, quic: &mut quiche::Connection) {
        if self.changes > 0 {
            self.tally_dgram_lost(quic);
        }
        let mut look = self.pending || (self.active.is_none() && quic.is_established());
        let mut failed = false;
        while let Some(event) = quic.path_event_next() {
            failed |= matches!(event, quiche::PathEvent::FailedValidation(..));
            look |= matches!(
                event,
                quiche::PathEvent::New(..)
                    | quiche::PathEvent::Validated(..)
                    | quiche::PathEvent::PeerMigrated(..)
            );
        }
        if failed {
            quic.retire_failed_paths();
        }
        if !look {
            return;
        }
        let Some(path) = quic.path_stats().find(|p| p.active) else {
            return;
        };
        let tuple = (path.local_addr, path.peer_addr);
        if self.active == Some(tuple) {
            self.pending = false;
            // Back on a path that proved itself before (quiche fell back to
            // it when a newer one failed validation): the paths tried since
            // are given up too, or they hold every path slot.
            if quic.is_server() {
                quic.retire_left_paths();
            }
            return;
        }
        let proved = self.active.is_none()
            || quic.is_path_validated(tuple.0, tuple.1) == Ok(true)
            || (!quic.is_server() && path.recv > 0);
        self.pending = !proved;
        if !proved {
            return;
        }
        if self.active.is_some() {
            self.changes += 1;
            self.tally_dgram_lost(quic);
            quic.retire_left_paths();
        }
        self.active = Some(tuple);
    }
}
