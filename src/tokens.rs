//! Stateless secrets of an endpoint (RFC 9000 §8.1 and §10.3), derived with
//! HMAC-SHA256 so that no per-client state is kept:
//!
//! * **address-validation tokens** carried by Retry packets, bound to the
//!   client's address, the connection IDs of the exchange and a time;
//! * **stateless reset tokens**, derived from the connection ID they belong
//!   to, so a reset can be sent for a connection whose state is gone.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// How long a Retry token stays valid.
pub const RETRY_TOKEN_LIFETIME: Duration = Duration::from_secs(10);
const TOKEN_VERSION: u8 = 1;
const TAG_LEN: usize = 32;

pub struct Secrets {
    retry_key: hmac::Key,
    reset_key: hmac::Key,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn address_bytes(addr: &SocketAddr) -> Vec<u8> {
    let mut out = match addr.ip() {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    out.extend_from_slice(&addr.port().to_be_bytes());
    out
}

impl Secrets {
    /// Fresh random keys; `None` when the system has no randomness.
    pub fn generate(rng: &SystemRandom) -> Option<Secrets> {
        let mut retry = [0u8; 32];
        let mut reset = [0u8; 32];
        rng.fill(&mut retry).ok()?;
        rng.fill(&mut reset).ok()?;
        Some(Secrets {
            retry_key: hmac::Key::new(hmac::HMAC_SHA256, &retry),
            reset_key: hmac::Key::new(hmac::HMAC_SHA256, &reset),
        })
    }

    /// What a Retry token's tag covers.
    fn retry_message(issued: u64, from: &SocketAddr, odcid: &[u8], retry_scid: &[u8]) -> Vec<u8> {
        let mut message = vec![TOKEN_VERSION];
        message.extend_from_slice(&issued.to_be_bytes());
        message.extend_from_slice(&address_bytes(from));
        message.push(odcid.len() as u8);
        message.extend_from_slice(odcid);
        message.extend_from_slice(retry_scid);
        message
    }

    /// A Retry token: `version | issued (u64) | odcid len | odcid | tag`.
    pub fn mint_retry_token(&self, from: &SocketAddr, odcid: &[u8], retry_scid: &[u8]) -> Vec<u8> {
        let issued = now_secs();
        let tag = hmac::sign(
            &self.retry_key,
            &Self::retry_message(issued, from, odcid, retry_scid),
        );
        let mut token = vec![TOKEN_VERSION];
        token.extend_from_slice(&issued.to_be_bytes());
        token.push(odcid.len() as u8);
        token.extend_from_slice(odcid);
        token.extend_from_slice(tag.as_ref());
        token
    }

    /// The original destination CID of a valid, fresh token sent from `from`
    /// to `retry_scid` (the CID the Retry told the client to use).
    pub fn validate_retry_token(
        &self,
        token: &[u8],
        from: &SocketAddr,
        retry_scid: &[u8],
    ) -> Option<Vec<u8>> {
        self.validate_retry_token_at(token, from, retry_scid, now_secs())
    }

    /// [`validate_retry_token`](Self::validate_retry_token) at time `now`
    /// (seconds since the Unix epoch).
    fn validate_retry_token_at(
        &self,
        token: &[u8],
        from: &SocketAddr,
        retry_scid: &[u8],
        now: u64,
    ) -> Option<Vec<u8>> {
        let (&version, rest) = token.split_first()?;
        if version != TOKEN_VERSION || rest.len() < 9 {
            return None;
        }
        let issued = u64::from_be_bytes(rest[..8].try_into().ok()?);
        let odcid_len = usize::from(rest[8]);
        let odcid = rest.get(9..9 + odcid_len)?;
        let tag = rest.get(9 + odcid_len..)?;
        if tag.len() != TAG_LEN || odcid_len > quiche::MAX_CONN_ID_LEN {
            return None;
        }
        let message = Self::retry_message(issued, from, odcid, retry_scid);
        hmac::verify(&self.retry_key, &message, tag).ok()?;
        let age = now.saturating_sub(issued);
        (issued <= now + 1 && age <= RETRY_TOKEN_LIFETIME.as_secs()).then(|| odcid.to_vec())
    }

    /// The stateless reset token of a connection ID.
    pub fn reset_token(&self, cid: &[u8]) -> u128 {
        let tag = hmac::sign(&self.reset_key, cid);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&tag.as_ref()[..16]);
        u128::from_be_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_tokens_bind_address_and_cids() {
        let s = Secrets::generate(&SystemRandom::new()).expect("keys");
        let from: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let token = s.mint_retry_token(&from, b"original", b"retry-cid");
        assert_eq!(
            s.validate_retry_token(&token, &from, b"retry-cid"),
            Some(b"original".to_vec())
        );
        let other: SocketAddr = "127.0.0.1:4001".parse().expect("addr");
        assert_eq!(s.validate_retry_token(&token, &other, b"retry-cid"), None);
        assert_eq!(s.validate_retry_token(&token, &from, b"other-cid"), None);
        let mut tampered = token.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(s.validate_retry_token(&tampered, &from, b"retry-cid"), None);
        assert_eq!(s.validate_retry_token(&[], &from, b"retry-cid"), None);
    }

    #[test]
    fn retry_tokens_expire() {
        let s = Secrets::generate(&SystemRandom::new()).expect("keys");
        let from: SocketAddr = "[::1]:4000".parse().expect("addr");
        let token = s.mint_retry_token(&from, b"odcid", b"scid");
        let now = now_secs();
        let lifetime = RETRY_TOKEN_LIFETIME.as_secs();
        assert!(s
            .validate_retry_token_at(&token, &from, b"scid", now + lifetime)
            .is_some());
        assert!(s
            .validate_retry_token_at(&token, &from, b"scid", now + lifetime + 2)
            .is_none());
        // A token from the future (a forged timestamp) is refused too.
        assert!(s
            .validate_retry_token_at(&token, &from, b"scid", now.saturating_sub(5))
            .is_none());
    }

    #[test]
    fn reset_tokens_are_stable_per_cid() {
        let s = Secrets::generate(&SystemRandom::new()).expect("keys");
        assert_eq!(s.reset_token(b"a"), s.reset_token(b"a"));
        assert_ne!(s.reset_token(b"a"), s.reset_token(b"b"));
    }
}
