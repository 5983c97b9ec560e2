//! The relay's side: which peers can be reached through it and which flows it
//! forwards. A pure state machine: the endpoint feeds it what arrived and
//! carries out the answer (forward a packet, send a close, ask the policy).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::wire::{reason, status, FINGERPRINT_LEN, TARGET_FLOW};

pub type Fingerprint = [u8; FINGERPRINT_LEN];
/// One end of a flow: a connection to the relay and the flow number used on it.
pub type End = (u32, u32);

/// A flow without traffic for this long is dropped.
pub const FLOW_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// A flow waiting for the `allow` policy is dropped after this long.
const PENDING_TIMEOUT: Duration = Duration::from_secs(10);
/// How often idle flows are looked for (only while there are flows).
pub const REAP_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub struct RelayLimits {
    pub max_flows: usize,
    /// Bytes per second a flow may carry (both directions together); 0 = no limit.
    pub flow_rate: u64,
    /// New flows wait for the application's `allow` policy.
    pub policy: bool,
}

/// What to do with an `OPEN` or `DATA` packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Send it on as `DATA` on this end.
    Forward(End),
    /// Tell the sender the flow cannot be served (`CLOSE` with this reason).
    Refuse(u8),
    /// The flow awaits the policy; the packet is kept (first) or dropped.
    AskPolicy { key: u64, target_conn: u32 },
    /// Drop silently (over its rate, or waiting for the policy).
    Drop,
}

struct Flow {
    dialer: End,
    target: End,
    /// The first packet, kept while the policy decides.
    pending: Option<(Vec<u8>, Instant)>,
    tokens: f64,
    last_refill: Instant,
    last_active: Instant,
}

pub struct RelayService {
    limits: RelayLimits,
    targets: HashMap<Fingerprint, u32>,
    target_of: HashMap<u32, Fingerprint>,
    ends: HashMap<End, u64>,
    flows: HashMap<u64, Flow>,
    next_key: u64,
    next_flow: u32,
}

impl RelayService {
    pub fn new(limits: RelayLimits) -> Self {
        RelayService {
            limits,
            targets: HashMap::new(),
            target_of: HashMap::new(),
            ends: HashMap::new(),
            flows: HashMap::new(),
            next_key: 1,
            next_flow: 1,
        }
    }

    pub fn set_limits(&mut self, limits: RelayLimits) {
        self.limits = limits;
    }

    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    pub fn target_count(&self) -> usize {
        self.targets.len()
    }

    /// A peer asks to be reachable; its identity is its leaf certificate's
    /// fingerprint. A newer registration of the same identity wins.
    pub fn register(&mut self, conn: u32, fingerprint: Option<Fingerprint>) -> u8 {
        let Some(fp) = fingerprint else {
            return status::NO_CERTIFICATE;
        };
        if let Some(previous) = self.target_of.remove(&conn) {
            self.targets.remove(&previous);
        }
        if let Some(old_conn) = self.targets.insert(fp, conn) {
            if old_conn != conn {
                self.target_of.remove(&old_conn);
            }
        }
        self.target_of.insert(conn, fp);
        status::OK
    }

    /// A flow number for a target end on `conn`: with [`TARGET_FLOW`] set,
    /// so it never equals a number the peer dials with on that connection.
    fn allocate_flow(&mut self, conn: u32) -> u32 {
        loop {
            let flow = self.next_flow | TARGET_FLOW;
            self.next_flow = self.next_flow.wrapping_add(1);
            if !self.ends.contains_key(&(conn, flow)) {
                return flow;
            }
        }
    }

    /// An `OPEN` from a dialer: the first packet of a flow to `fingerprint`.
    pub fn open(
        &mut self,
        dialer: End,
        fingerprint: &Fingerprint,
        packet: &[u8],
        now: Instant,
    ) -> Route {
        if self.ends.contains_key(&dialer) {
            return self.data(dialer, packet.len(), now);
        }
        let Some(&target_conn) = self.targets.get(fingerprint) else {
            return Route::Refuse(reason::UNKNOWN_PEER);
        };
        if self.flows.len() >= self.limits.max_flows {
            return Route::Refuse(reason::LIMIT);
        }
        let target = (target_conn, self.allocate_flow(target_conn));
        let key = self.next_key;
        self.next_key += 1;
        let pending = self.limits.policy.then(|| (packet.to_vec(), now));
        let ask = pending.is_some();
        self.flows.insert(
            key,
            Flow {
                dialer,
                target,
                pending,
                tokens: self.burst(),
                last_refill: now,
                last_active: now,
            },
        );
        self.ends.insert(dialer, key);
        self.ends.insert(target, key);
        if ask {
            return Route::AskPolicy { key, target_conn };
        }
        self.data(dialer, packet.len(), now)
    }

    fn burst(&self) -> f64 {
        // A quarter second of traffic, and never less than a few packets.
        (self.limits.flow_rate as f64 / 4.0).max(64.0 * 1024.0)
    }

    /// A `DATA` packet of `len` bytes from `from`.
    pub fn data(&mut self, from: End, len: usize, now: Instant) -> Route {
        let Some(&key) = self.ends.get(&from) else {
            return Route::Refuse(reason::GONE);
        };
        let rate = self.limits.flow_rate as f64;
        let burst = self.burst();
        let Some(flow) = self.flows.get_mut(&key) else {
            return Route::Refuse(reason::GONE);
        };
        if flow.pending.is_some() {
            return Route::Drop;
        }
        if rate > 0.0 {
            let elapsed = now
                .saturating_duration_since(flow.last_refill)
                .as_secs_f64();
            flow.tokens = (flow.tokens + elapsed * rate).min(burst);
            flow.last_refill = now;
            if flow.tokens < len as f64 {
                return Route::Drop;
            }
            flow.tokens -= len as f64;
        }
        flow.last_active = now;
        Route::Forward(if from == flow.dialer {
            flow.target
        } else {
            flow.dialer
        })
    }

    /// The policy's answer. Allowed: the kept first packet and where it goes.
    /// Refused: the dialer end, to be told.
    pub fn verdict(&mut self, key: u64, allow: bool) -> Option<Verdict> {
        let flow = self.flows.get_mut(&key)?;
        let (packet, _) = flow.pending.take()?;
        if allow {
            return Some(Verdict::Allowed {
                to: flow.target,
                packet,
            });
        }
        let dialer = flow.dialer;
        self.remove(key);
        Some(Verdict::Denied { dialer })
    }

    /// The other end of a flow one side closed, to be told.
    pub fn close(&mut self, from: End) -> Option<End> {
        let key = *self.ends.get(&from)?;
        let flow = self.remove(key)?;
        Some(if from == flow.dialer {
            flow.target
        } else {
            flow.dialer
        })
    }

    fn remove(&mut self, key: u64) -> Option<Flow> {
        let flow = self.flows.remove(&key)?;
        self.ends.remove(&flow.dialer);
        self.ends.remove(&flow.target);
        Some(flow)
    }

    /// A connection to the relay ended: its registration and flows go. Returns
    /// the surviving ends of those flows, to be told.
    pub fn drop_connection(&mut self, conn: u32) -> Vec<End> {
        if let Some(fp) = self.target_of.remove(&conn) {
            if self.targets.get(&fp) == Some(&conn) {
                self.targets.remove(&fp);
            }
        }
        let keys: Vec<u64> = self
            .flows
            .iter()
            .filter(|(_, f)| f.dialer.0 == conn || f.target.0 == conn)
            .map(|(k, _)| *k)
            .collect();
        let mut survivors = Vec::new();
        for key in keys {
            if let Some(flow) = self.remove(key) {
                let other = if flow.dialer.0 == conn {
                    flow.target
                } else {
                    flow.dialer
                };
                if other.0 != conn {
                    survivors.push(other);
                }
            }
        }
        survivors
    }

    /// Drops flows idle too long (or still waiting for the policy); returns
    /// every end of them, to be told.
    pub fn reap(&mut self, now: Instant) -> Vec<End> {
        let stale: Vec<u64> = self
            .flows
            .iter()
            .filter(|(_, f)| match &f.pending {
                Some((_, since)) => now.saturating_duration_since(*since) >= PENDING_TIMEOUT,
                None => now.saturating_duration_since(f.last_active) >= FLOW_IDLE_TIMEOUT,
            })
            .map(|(k, _)| *k)
            .collect();
        let mut ends = Vec::new();
        for key in stale {
            if let Some(flow) = self.remove(key) {
                ends.push(flow.dialer);
                ends.push(flow.target);
            }
        }
        ends
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed { to: End, packet: Vec<u8> },
    Denied { dialer: End },
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: Fingerprint = [9u8; FINGERPRINT_LEN];

    fn service(policy: bool, max_flows: usize, flow_rate: u64) -> RelayService {
        RelayService::new(RelayLimits {
            max_flows,
            flow_rate,
            policy,
        })
    }

    #[test]
    fn forwards_both_ways_once_the_target_registered() {
        let now = Instant::now();
        let mut s = service(false, 8, 0);
        assert_eq!(
            s.open((1, 7), &FP, b"hi", now),
            Route::Refuse(reason::UNKNOWN_PEER)
        );
        assert_eq!(s.register(2, Some(FP)), status::OK);
        let Route::Forward(target) = s.open((1, 7), &FP, b"hi", now) else {
            panic!("not forwarded");
        };
        assert_eq!(target.0, 2);
        assert_ne!(target.1 & TARGET_FLOW, 0, "a target end's number");
        assert_eq!(s.data(target, 10, now), Route::Forward((1, 7)));
        assert_eq!(s.data((1, 7), 10, now), Route::Forward(target));
        assert_eq!(s.data((1, 8), 10, now), Route::Refuse(reason::GONE));
    }

    #[test]
    fn refuses_beyond_max_flows_and_frees_on_close() {
        let now = Instant::now();
        let mut s = service(false, 1, 0);
        s.register(2, Some(FP));
        assert!(matches!(s.open((1, 1), &FP, b"a", now), Route::Forward(_)));
        assert_eq!(s.open((1, 2), &FP, b"a", now), Route::Refuse(reason::LIMIT));
        assert_eq!(s.close((1, 1)).map(|e| e.0), Some(2));
        assert_eq!(s.flow_count(), 0);
        assert!(matches!(s.open((1, 2), &FP, b"a", now), Route::Forward(_)));
    }

    #[test]
    fn a_lost_connection_ends_its_flows_and_registration() {
        let now = Instant::now();
        let mut s = service(false, 8, 0);
        s.register(2, Some(FP));
        assert!(matches!(s.open((1, 1), &FP, b"a", now), Route::Forward(_)));
        assert!(matches!(s.open((3, 1), &FP, b"a", now), Route::Forward(_)));
        let survivors = s.drop_connection(2);
        assert_eq!(survivors.len(), 2);
        assert_eq!(s.flow_count(), 0);
        assert_eq!(s.target_count(), 0);
        assert_eq!(
            s.open((1, 5), &FP, b"a", now),
            Route::Refuse(reason::UNKNOWN_PEER)
        );
    }

    #[test]
    fn the_policy_holds_the_first_packet() {
        let now = Instant::now();
        let mut s = service(true, 8, 0);
        s.register(2, Some(FP));
        let Route::AskPolicy { key, target_conn } = s.open((1, 1), &FP, b"first", now) else {
            panic!("policy not asked");
        };
        assert_eq!(target_conn, 2);
        assert_eq!(
            s.data((1, 1), 5, now),
            Route::Drop,
            "held until the verdict"
        );
        let Some(Verdict::Allowed { to, packet }) = s.verdict(key, true) else {
            panic!("not allowed");
        };
        assert_eq!((to.0, packet.as_slice()), (2, &b"first"[..]));
        assert!(matches!(s.data((1, 1), 5, now), Route::Forward(_)));

        let Route::AskPolicy { key, .. } = s.open((1, 2), &FP, b"x", now) else {
            panic!("policy not asked");
        };
        assert_eq!(
            s.verdict(key, false),
            Some(Verdict::Denied { dialer: (1, 2) })
        );
        assert_eq!(s.flow_count(), 1);
    }

    #[test]
    fn rate_limit_drops_beyond_the_burst() {
        let now = Instant::now();
        let mut s = service(false, 8, 1_000_000);
        s.register(2, Some(FP));
        assert!(matches!(s.open((1, 1), &FP, b"", now), Route::Forward(_)));
        let mut forwarded = 0usize;
        for _ in 0..1000 {
            if matches!(s.data((1, 1), 1000, now), Route::Forward(_)) {
                forwarded += 1000;
            }
        }
        assert_eq!(forwarded, 250_000, "a quarter second at 1 MB/s");
        let later = now + Duration::from_millis(100);
        assert!(matches!(s.data((1, 1), 1000, later), Route::Forward(_)));
    }

    #[test]
    fn idle_flows_are_reaped() {
        let now = Instant::now();
        let mut s = service(false, 8, 0);
        s.register(2, Some(FP));
        assert!(matches!(s.open((1, 1), &FP, b"", now), Route::Forward(_)));
        assert!(s.reap(now + Duration::from_secs(1)).is_empty());
        assert_eq!(s.reap(now + FLOW_IDLE_TIMEOUT).len(), 2);
        assert_eq!(s.flow_count(), 0);
    }

    #[test]
    fn registration_needs_a_certificate() {
        let mut s = service(false, 8, 0);
        assert_eq!(s.register(1, None), status::NO_CERTIFICATE);
        assert_eq!(s.target_count(), 0);
    }
}
