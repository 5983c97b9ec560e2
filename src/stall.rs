//! A client's probe for a path that went quiet while it waits for data.
//!
//! When a NAT gives the client a new outside port, the server learns of it
//! only from the client's next packet. A client that only receives (a
//! download) sends nothing but acknowledgements, and once everything the
//! server sent went to the old port there is nothing left to acknowledge:
//! both sides would wait until the idle timeout. So a client with live
//! streams that has heard nothing for a few probe timeouts sends a PING;
//! through the NAT's new mapping it shows the server the new address (RFC
//! 9000 §9.3), and the server carries on there.
//!
//! The probes back off (3, 6, 12, 24 PTO) and stop after [`MAX_PROBES`]
//! until data arrives again, so a connection whose peer simply has nothing
//! to say costs a handful of PINGs and still ends by its idle timeout.

use std::time::{Duration, Instant};

/// PINGs per quiet period at most.
pub const MAX_PROBES: u32 = 4;
/// Probe timeouts of silence before the first PING.
const PTO_MULTIPLE: u32 = 3;
/// The shortest wait before a PING, whatever the round-trip time.
const MIN_WAIT: Duration = Duration::from_millis(100);
/// RFC 9000's default max_ack_delay, part of a probe timeout (RFC 9002 §6.2.1).
const MAX_ACK_DELAY: Duration = Duration::from_millis(25);

pub struct StallProbe {
    /// When the peer was last heard from, or the last PING went out.
    since: Instant,
    /// PINGs sent since data last arrived.
    probes: u32,
}

impl StallProbe {
    pub fn new(now: Instant) -> Self {
        StallProbe {
            since: now,
            probes: 0,
        }
    }

    /// A packet arrived from the peer.
    pub fn heard(&mut self, now: Instant) {
        self.since = now;
    }

    /// Data reached the application: the peer is not just answering PINGs.
    pub fn data_arrived(&mut self) {
        self.probes = 0;
    }

    /// When the next PING is due, given the path's round-trip estimate;
    /// `None` once the probes for this quiet period are spent.
    pub fn deadline(&self, rtt: Duration, rttvar: Duration) -> Option<Instant> {
        if self.probes >= MAX_PROBES {
            return None;
        }
        let pto = rtt + (rttvar * 4).max(Duration::from_millis(1)) + MAX_ACK_DELAY;
        let wait = (pto * PTO_MULTIPLE).max(MIN_WAIT) * (1 << self.probes);
        Some(self.since + wait)
    }

    /// Records a PING sent at `now`.
    pub fn probed(&mut self, now: Instant) {
        self.probes += 1;
        self.since = now;
    }
}
