//! A peer's side of relaying, kept on its connection to the relay: whether it
//! asked to be reachable (registration, retried until answered), the flows it
//! carries, and the application's own datagrams set aside while relay
//! traffic is taken out of the same queue.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::wire;
use crate::p2p::channel::SignalChannel;

/// `REGISTER` is retried this often…
const REGISTER_INTERVAL: Duration = Duration::from_millis(300);
/// …this many times before the relay counts as unavailable.
const REGISTER_ATTEMPTS: u32 = 15;
/// Packets queued for the relay at most before relayed connections wait.
pub const QUEUED_PACKETS_MAX: usize = 256;
/// Application datagrams set aside at most between two polls (the oldest go).
const APP_DATAGRAMS_MAX: usize = 1024;

/// The registration outcome reported to the application (`RELAY_REGISTERED`).
pub mod outcome {
    pub const OK: f64 = 0.0;
    pub const NO_CERTIFICATE: f64 = 1.0;
    pub const NO_ANSWER: f64 = 2.0;
}

/// What this connection is to relaying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We are the relay; the peer may register and open flows.
    Serving,
    /// The peer is a relay; we dial or are reached through it.
    Using,
}

pub struct RelayLink {
    pub role: Role,
    registering: Option<(u32, Instant)>,
    /// The registration outcome, until reported.
    outcome: Option<f64>,
    next_flow: u32,
    /// Relayed connections travelling over this one.
    pub children: Vec<u32>,
    /// Relayed connections that stopped because this one's queue was full.
    pub blocked: Vec<u32>,
    /// Application datagrams taken out of quiche's queue with relay traffic.
    pub app_datagrams: VecDeque<Vec<u8>>,
    /// Received datagrams that were relay traffic.
    pub relay_datagrams: u64,
    /// Rendezvous signalling on this connection (`p2p::channel`).
    pub signals: SignalChannel,
}

impl RelayLink {
    pub fn new(role: Role) -> Self {
        RelayLink {
            role,
            registering: None,
            outcome: None,
            next_flow: 1,
            children: Vec::new(),
            blocked: Vec::new(),
            app_datagrams: VecDeque::new(),
            relay_datagrams: 0,
            signals: SignalChannel::default(),
        }
    }

    /// Keeps an application datagram for the next poll (bounded like
    /// quiche's own receive queue: the oldest is dropped).
    pub fn set_aside(&mut self, datagram: &[u8]) {
        if self.app_datagrams.len() >= APP_DATAGRAMS_MAX {
            self.app_datagrams.pop_front();
        }
        self.app_datagrams.push_back(datagram.to_vec());
    }

    /// A new flow number for a connection we dial through this one (never
    /// with [`wire::TARGET_FLOW`], which the relay's numbers carry).
    pub fn allocate_flow(&mut self) -> u32 {
        let flow = self.next_flow;
        self.next_flow = (self.next_flow.wrapping_add(1) & !wire::TARGET_FLOW).max(1);
        flow
    }

    /// Starts (or restarts) asking the relay to make us reachable; returns
    /// the message to send now.
    pub fn start_registration(&mut self, now: Instant) -> Vec<u8> {
        self.registering = Some((1, now + REGISTER_INTERVAL));
        wire::control(wire::REGISTER, 0, &[])
    }

    /// The relay answered.
    pub fn registered(&mut self, status: u8) {
        if self.registering.take().is_some() {
            self.outcome = Some(match status {
                wire::status::OK => outcome::OK,
                _ => outcome::NO_CERTIFICATE,
            });
        }
    }

    /// The earliest retry due: of the registration or of a signal.
    pub fn deadline(&self) -> Option<Instant> {
        let registering = self.registering.map(|(_, at)| at);
        match (registering, self.signals.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the retry timer; returns a `REGISTER` to send again, if due.
    pub fn on_timeout(&mut self, now: Instant) -> Option<Vec<u8>> {
        let (attempts, at) = self.registering?;
        if now < at {
            return None;
        }
        if attempts >= REGISTER_ATTEMPTS {
            self.registering = None;
            self.outcome = Some(outcome::NO_ANSWER);
            return None;
        }
        self.registering = Some((attempts + 1, now + REGISTER_INTERVAL));
        Some(wire::control(wire::REGISTER, 0, &[]))
    }

    /// The registration outcome, once.
    pub fn take_outcome(&mut self) -> Option<f64> {
        self.outcome.take()
    }

    pub fn has_outcome(&self) -> bool {
        self.outcome.is_some()
    }

    /// Whether signalling messages wait for the application.
    pub fn has_signals(&self) -> bool {
        !self.signals.inbox.is_empty()
    }

    /// Every retry due by `now`: a `REGISTER` and signalling retransmissions.
    pub fn retries(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = self.signals.on_timeout(now);
        out.extend(self.on_timeout(now));
        out
    }
}

/// A relayed connection's path: the connection to the relay and the flow.
#[derive(Debug, Clone, Copy)]
pub struct RelayPath {
    pub via: u32,
    pub flow: u32,
    /// Dialer: the target's fingerprint, sent in `OPEN` headers until the
    /// relay has answered on the flow.
    pub opening: Option<[u8; wire::FINGERPRINT_LEN]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_retries_then_gives_up() {
        let now = Instant::now();
        let mut link = RelayLink::new(Role::Using);
        let first = link.start_registration(now);
        assert_eq!(wire::parse(&first).map(|m| m.kind), Some(wire::REGISTER));
        assert!(link.on_timeout(now).is_none(), "not due yet");
        let mut t = now;
        let mut resent = 0;
        while let Some(at) = link.deadline() {
            t = t.max(at);
            if link.on_timeout(t).is_some() {
                resent += 1;
            }
            assert!(resent < 100);
        }
        assert_eq!(resent, REGISTER_ATTEMPTS - 1);
        assert_eq!(link.take_outcome(), Some(outcome::NO_ANSWER));
        assert_eq!(link.take_outcome(), None);
    }

    #[test]
    fn dial_flow_numbers_wrap_below_the_relays() {
        let mut link = RelayLink::new(Role::Using);
        assert_eq!(link.allocate_flow(), 1);
        link.next_flow = wire::TARGET_FLOW - 1;
        assert_eq!(link.allocate_flow(), wire::TARGET_FLOW - 1);
        assert_eq!(link.allocate_flow(), 1, "wraps, skipping 0");
    }

    #[test]
    fn an_answer_ends_the_retries() {
        let now = Instant::now();
        let mut link = RelayLink::new(Role::Using);
        link.start_registration(now);
        link.registered(wire::status::OK);
        assert_eq!(link.deadline(), None);
        assert_eq!(link.take_outcome(), Some(outcome::OK));
        link.registered(wire::status::OK);
        assert_eq!(
            link.take_outcome(),
            None,
            "a late duplicate answer is ignored"
        );
    }
}
