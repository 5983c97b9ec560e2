//! Per-source-address limit on new handshakes: a token bucket per IP, so one
//! address cannot make a server spend its CPU on handshakes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// Buckets kept at most; beyond that the table is cleared (an attacker with
/// that many addresses is not slowed by a per-address limit anyway).
const MAX_TRACKED: usize = 65_536;

pub struct HandshakeLimiter {
    per_second: f64,
    burst: f64,
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl HandshakeLimiter {
    /// `per_second` new handshakes per address, with bursts of twice that;
    /// 0 disables the limit.
    pub fn new(per_second: u32) -> Self {
        HandshakeLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(per_second) * 2.0,
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `ip`; `false` when its bucket is empty.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.per_second <= 0.0 {
            return true;
        }
        if self.buckets.len() >= MAX_TRACKED && !self.buckets.contains_key(&ip) {
            self.buckets.clear();
        }
        let (per_second, burst) = (self.per_second, self.burst);
        let (tokens, last) = self.buckets.entry(ip).or_insert((burst, now));
        let refill = now.saturating_duration_since(*last).as_secs_f64() * per_second;
        *tokens = (*tokens + refill).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn limits_bursts_and_refills() {
        let mut l = HandshakeLimiter::new(5);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let now = Instant::now();
        let allowed = (0..20).filter(|_| l.allow(ip, now)).count();
        assert_eq!(allowed, 10);
        assert!(l.allow(ip, now + Duration::from_millis(250)));
        assert!(l.allow("192.0.2.2".parse().expect("ip"), now));
        assert!(HandshakeLimiter::new(0).allow(ip, now));
    }
}
