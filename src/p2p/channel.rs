//! Reliable signalling messages over a connection's QUIC datagrams.
//!
//! Rendezvous signalling (registrations, dial requests, ready/go) travels
//! between a peer and its rendezvous on their existing connection, unseen by
//! the application: as relay-tagged datagrams (`relay::wire`) of two kinds,
//!
//! | kind | `flow` field | body |
//! |---|---|---|
//! | `SIGNAL` | sequence number | one message (opaque here, at most [`MAX_MESSAGE`] bytes) |
//! | `SIGNAL_ACK` | sequence number acknowledged | – |
//!
//! Datagrams can be lost, so each message is retransmitted until
//! acknowledged, with a timeout that starts at twice the round trip and
//! doubles, for at most [`MAX_ATTEMPTS`] sends. The receiver acknowledges
//! every copy, hands each message to the application once and in order, and
//! buffers at most [`MAX_AHEAD`] messages that overtook a missing one.
//! Everything is bounded: [`MAX_UNACKED`] messages in flight, [`MAX_INBOX`]
//! received but not yet polled (beyond that nothing is acknowledged, so the
//! sender retries later). A pure state machine: the caller sends the
//! datagrams it returns and calls [`on_timeout`](SignalChannel::on_timeout)
//! at [`deadline`](SignalChannel::deadline).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::relay::wire;

pub const SIGNAL: u8 = 6;
pub const SIGNAL_ACK: u8 = 7;
/// Largest message body.
pub const MAX_MESSAGE: usize = 1024;
/// Messages sent but not yet acknowledged, at most.
pub const MAX_UNACKED: usize = 64;
/// Received messages waiting for the application, at most.
pub const MAX_INBOX: usize = 64;
/// Messages kept that arrived ahead of a missing one, at most.
pub const MAX_AHEAD: usize = 32;
/// Sends of one message at most (the first and its retransmissions).
pub const MAX_ATTEMPTS: u32 = 10;
const MIN_RTO: Duration = Duration::from_millis(25);
const MAX_RTO: Duration = Duration::from_secs(1);

struct Pending {
    seq: u32,
    datagram: Vec<u8>,
    attempts: u32,
    rto: Duration,
    due: Instant,
}

/// Why a message could not be sent.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    TooLarge,
    /// [`MAX_UNACKED`] messages are still unacknowledged.
    Backlog,
}

/// What became of a received `SIGNAL`.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// New, kept for the application (possibly after others it unblocked);
    /// acknowledge it.
    Accepted,
    /// Seen before; acknowledge it again (the first ack was lost).
    Duplicate,
    /// No room to keep it: do not acknowledge, the sender will retry.
    Refused,
}

pub struct SignalChannel {
    next_seq: u32,
    unacked: VecDeque<Pending>,
    /// Every sequence number below this was delivered.
    expected: u32,
    ahead: BTreeMap<u32, Vec<u8>>,
    /// Messages in order, for the application.
    pub inbox: VecDeque<Vec<u8>>,
    /// Messages given up after [`MAX_ATTEMPTS`] sends.
    pub lost: u64,
}

impl Default for SignalChannel {
    fn default() -> Self {
        SignalChannel {
            next_seq: 1,
            unacked: VecDeque::new(),
            expected: 1,
            ahead: BTreeMap::new(),
            inbox: VecDeque::new(),
            lost: 0,
        }
    }
}

/// Sequence numbers run from 1 to `u32::MAX` and then start at 1 again.
fn next_seq(seq: u32) -> u32 {
    seq.wrapping_add(1).max(1)
}

/// How far `seq` is ahead of `expected` (negative: behind) in that circular
/// space, whose half either way counts as ahead or behind.
fn ahead_by(seq: u32, expected: u32) -> i64 {
    const SPACE: i64 = u32::MAX as i64;
    let d = (i64::from(seq) - i64::from(expected)).rem_euclid(SPACE);
    if d >= SPACE / 2 {
        d - SPACE
    } else {
        d
    }
}

/// The acknowledgement of message `seq`.
pub fn ack(seq: u32) -> Vec<u8> {
    wire::control(SIGNAL_ACK, seq, &[])
}

impl SignalChannel {
    /// Queues `payload` for reliable delivery; returns the datagram to send
    /// now. `rtt` is the connection's current round-trip estimate.
    pub fn send(
        &mut self,
        payload: &[u8],
        now: Instant,
        rtt: Duration,
    ) -> Result<Vec<u8>, SendError> {
        if payload.len() > MAX_MESSAGE {
            return Err(SendError::TooLarge);
        }
        if self.unacked.len() >= MAX_UNACKED {
            return Err(SendError::Backlog);
        }
        let seq = self.next_seq;
        self.next_seq = next_seq(seq);
        let datagram = wire::control(SIGNAL, seq, payload);
        let rto = (rtt * 2 + Duration::from_millis(5)).clamp(MIN_RTO, MAX_RTO);
        self.unacked.push_back(Pending {
            seq,
            datagram: datagram.clone(),
            attempts: 1,
            rto,
            due: now + rto,
        });
        Ok(datagram)
    }

    /// The peer acknowledged `seq`.
    pub fn on_ack(&mut self, seq: u32) {
        self.unacked.retain(|p| p.seq != seq);
    }

    /// A `SIGNAL` with sequence number `seq` arrived.
    pub fn on_message(&mut self, seq: u32, payload: &[u8]) -> Received {
        if payload.len() > MAX_MESSAGE || seq == 0 {
            return Received::Refused;
        }
        let ahead = ahead_by(seq, self.expected);
        if ahead < 0 || self.ahead.contains_key(&seq) {
            return Received::Duplicate;
        }
        if ahead > 0 {
            if self.ahead.len() >= MAX_AHEAD {
                return Received::Refused;
            }
            self.ahead.insert(seq, payload.to_vec());
            return Received::Accepted;
        }
        if self.inbox.len() >= MAX_INBOX {
            return Received::Refused;
        }
        self.inbox.push_back(payload.to_vec());
        self.expected = next_seq(self.expected);
        while self.inbox.len() < MAX_INBOX {
            let Some(next) = self.ahead.remove(&self.expected) else {
                break;
            };
            self.inbox.push_back(next);
            self.expected = next_seq(self.expected);
        }
        Received::Accepted
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.unacked.iter().map(|p| p.due).min()
    }

    /// Retransmissions due by `now` (each message at most [`MAX_ATTEMPTS`]
    /// times in all; then it is given up and counted in `lost`).
    pub fn on_timeout(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let before = self.unacked.len();
        self.unacked
            .retain(|p| p.due > now || p.attempts < MAX_ATTEMPTS);
        self.lost += (before - self.unacked.len()) as u64;
        for p in self.unacked.iter_mut().filter(|p| p.due <= now) {
            p.attempts += 1;
            p.rto = (p.rto * 2).min(MAX_RTO);
            p.due = now + p.rto;
            out.push(p.datagram.clone());
        }
        out
    }

    /// Messages still unacknowledged.
    pub fn in_flight(&self) -> usize {
        self.unacked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(10);

    fn seq_of(datagram: &[u8]) -> u32 {
        wire::parse(datagram).expect("relay framing").flow
    }

    /// Moves `datagram` from `from` to `to` as the endpoint would; returns
    /// the acknowledgement `to` sends back, if any.
    fn deliver(to: &mut SignalChannel, datagram: &[u8]) -> Option<Vec<u8>> {
        let m = wire::parse(datagram).expect("relay framing");
        assert_eq!(m.kind, SIGNAL);
        match to.on_message(m.flow, m.body) {
            Received::Accepted | Received::Duplicate => Some(ack(m.flow)),
            Received::Refused => None,
        }
    }

    #[test]
    fn a_message_arrives_once_and_its_ack_ends_the_retries() {
        let now = Instant::now();
        let (mut a, mut b) = (SignalChannel::default(), SignalChannel::default());
        let d = a.send(b"hello", now, RTT).expect("send");
        let ack_datagram = deliver(&mut b, &d).expect("ack");
        assert_eq!(
            deliver(&mut b, &d),
            Some(ack(seq_of(&d))),
            "a copy is acked again"
        );
        assert_eq!(
            b.inbox.drain(..).collect::<Vec<_>>(),
            vec![b"hello".to_vec()]
        );
        let m = wire::parse(&ack_datagram).expect("ack framing");
        assert_eq!(m.kind, SIGNAL_ACK);
        a.on_ack(m.flow);
        assert_eq!(a.deadline(), None);
        assert!(a.on_timeout(now + Duration::from_secs(10)).is_empty());
    }

    #[test]
    fn a_lost_message_is_retransmitted_with_backoff_then_given_up() {
        let now = Instant::now();
        let mut a = SignalChannel::default();
        let first = a.send(b"x", now, RTT).expect("send");
        let mut sends = vec![now];
        for _ in 0..100 {
            let Some(t) = a.deadline() else { break };
            for d in a.on_timeout(t) {
                assert_eq!(d, first);
                sends.push(t);
            }
        }
        assert_eq!(sends.len() as u32, MAX_ATTEMPTS);
        let gaps: Vec<Duration> = sends.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps[0], Duration::from_millis(25));
        assert!(
            gaps.windows(2).all(|g| g[1] >= g[0]),
            "backoff never shrinks: {gaps:?}"
        );
        assert!(gaps.iter().all(|g| *g <= MAX_RTO));
        assert_eq!((a.lost, a.in_flight()), (1, 0));
    }

    #[test]
    fn reordered_messages_are_delivered_in_order() {
        let now = Instant::now();
        let (mut a, mut b) = (SignalChannel::default(), SignalChannel::default());
        let d: Vec<Vec<u8>> = (0..4u8)
            .map(|i| a.send(&[i], now, RTT).expect("send"))
            .collect();
        for i in [2, 0, 3] {
            deliver(&mut b, &d[i]).expect("ack");
        }
        assert_eq!(b.inbox.drain(..).collect::<Vec<_>>(), vec![vec![0u8]]);
        deliver(&mut b, &d[1]).expect("ack");
        assert_eq!(
            b.inbox.drain(..).collect::<Vec<_>>(),
            vec![vec![1u8], vec![2], vec![3]]
        );
    }

    /// Regression: the receiver counted `expected += 1` while the sender
    /// wrapped from `u32::MAX` to 1, so after 2^32 - 1 messages on one
    /// connection the receiver expected 0, which is never sent, and the
    /// channel stopped delivering (a debug build panicked on the overflow,
    /// in the middle of taking a connection's datagrams). Both sides now
    /// wrap the same way and compare sequence numbers circularly.
    #[test]
    fn sequence_numbers_wrap_on_both_sides() {
        let now = Instant::now();
        let (mut a, mut b) = (SignalChannel::default(), SignalChannel::default());
        a.next_seq = u32::MAX - 1;
        b.expected = u32::MAX - 1;
        let d: Vec<Vec<u8>> = (0..4u8)
            .map(|i| a.send(&[i], now, RTT).expect("send"))
            .collect();
        assert_eq!(
            d.iter().map(|d| seq_of(d)).collect::<Vec<_>>(),
            vec![u32::MAX - 1, u32::MAX, 1, 2]
        );
        for i in [2, 0, 3, 1] {
            deliver(&mut b, &d[i]).expect("ack");
        }
        assert_eq!(
            b.inbox.drain(..).collect::<Vec<_>>(),
            vec![vec![0u8], vec![1], vec![2], vec![3]]
        );
        assert_eq!(b.on_message(u32::MAX, b"old"), Received::Duplicate);
        assert_eq!(b.on_message(3, b"next"), Received::Accepted);
        assert_eq!(
            b.inbox.drain(..).collect::<Vec<_>>(),
            vec![b"next".to_vec()]
        );
    }

    #[test]
    fn bounds_hold_on_both_sides() {
        let now = Instant::now();
        let mut a = SignalChannel::default();
        assert_eq!(
            a.send(&[0; MAX_MESSAGE + 1], now, RTT),
            Err(SendError::TooLarge)
        );
        for _ in 0..MAX_UNACKED {
            a.send(b"m", now, RTT).expect("send");
        }
        assert_eq!(a.send(b"m", now, RTT), Err(SendError::Backlog));

        // A receiver whose application does not poll stops acknowledging.
        let mut b = SignalChannel::default();
        for seq in 1..=MAX_INBOX as u32 {
            assert_eq!(b.on_message(seq, b"m"), Received::Accepted);
        }
        assert_eq!(b.on_message(MAX_INBOX as u32 + 1, b"m"), Received::Refused);
        // Messages far ahead of a gap are kept only up to MAX_AHEAD.
        let mut c = SignalChannel::default();
        for seq in 2..2 + MAX_AHEAD as u32 {
            assert_eq!(c.on_message(seq, b"m"), Received::Accepted);
        }
        assert_eq!(c.on_message(1000, b"m"), Received::Refused);
        assert_eq!(c.on_message(0, b"m"), Received::Refused);
        assert_eq!(c.on_message(3, &[0; MAX_MESSAGE + 1]), Received::Refused);
    }
}
