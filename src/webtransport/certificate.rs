//! The rules a certificate pinned by `serverCertificateHashes` must meet
//! (W3C WebTransport, "custom certificate requirements"): an X.509v3
//! certificate valid for at most 14 days, valid now; and, as Chromium
//! insists, not an RSA key.

use boring::asn1::Asn1Time;
use boring::pkey::Id;
use boring::x509::X509;

/// Longest validity period allowed, in seconds (two weeks).
pub const MAX_VALIDITY_SECS: i64 = 14 * 24 * 3600;

/// Reads a DER length at the start of `bytes`: (length, bytes used).
fn der_length(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = *bytes.first()?;
    if first < 0x80 {
        return Some((usize::from(first), 1));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let len = bytes
        .get(1..=n)?
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Some((len, 1 + n))
}

/// The certificate's version field (0 = v1 … 2 = v3): the optional `[0]`
/// field at the start of the TBSCertificate (RFC 5280 §4.1).
fn version(der: &[u8]) -> Option<u8> {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] EXPLICIT INTEGER ...
    let mut at = 0;
    for _ in 0..2 {
        if der.get(at) != Some(&0x30) {
            return None;
        }
        let (_, used) = der_length(der.get(at + 1..)?)?;
        at += 1 + used;
    }
    match der.get(at..at + 5)? {
        [0xa0, 0x03, 0x02, 0x01, v] => Some(*v),
        [0xa0, ..] => None,
        _ => Some(0), // absent: v1
    }
}

/// Why `der` may not be pinned by hash at `now` (Unix seconds), or `None`
/// when it may.
pub fn hash_pinning_problem(der: &[u8], now: i64) -> Option<String> {
    let Ok(cert) = X509::from_der(der) else {
        return Some("the certificate cannot be parsed".into());
    };
    if version(der) != Some(2) {
        return Some("the certificate is not an X.509v3 certificate".into());
    }
    let validity = cert
        .not_before()
        .diff(cert.not_after())
        .map(|d| i64::from(d.days) * 86_400 + i64::from(d.secs));
    match validity {
        Ok(secs) if secs <= MAX_VALIDITY_SECS => {}
        Ok(_) => {
            return Some("the certificate is valid for more than 14 days".into());
        }
        Err(_) => return Some("the certificate's validity period cannot be read".into()),
    }
    let Ok(now) = Asn1Time::from_unix(now as _) else {
        return Some("the current time cannot be represented".into());
    };
    let started = cert.not_before().compare(&now).ok() != Some(std::cmp::Ordering::Greater);
    let ended = cert.not_after().compare(&now).ok() != Some(std::cmp::Ordering::Greater);
    if !started || ended {
        return Some("the certificate is not valid at this time".into());
    }
    match cert.public_key().map(|k| k.id()) {
        Ok(Id::RSA) | Ok(Id::RSA_PSS) => {
            Some("RSA keys are not accepted with serverCertificateHashes".into())
        }
        Ok(_) => None,
        Err(_) => Some("the certificate's public key cannot be read".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::certgen::{self, CertRequest, KeyType};

    fn cert(key_type: KeyType, days: u32) -> Vec<u8> {
        certgen::generate(&CertRequest {
            subject_alt_names: &["localhost".to_string()],
            key_type,
            days,
            ca: None,
            is_ca: false,
        })
        .expect("cert")
        .cert_der
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    #[test]
    fn generated_short_lived_ecdsa_and_ed25519_certificates_qualify() {
        assert_eq!(version(&cert(KeyType::EcdsaP256, 14)), Some(2));
        assert_eq!(
            hash_pinning_problem(&cert(KeyType::EcdsaP256, 14), now()),
            None
        );
        assert_eq!(
            hash_pinning_problem(&cert(KeyType::Ed25519, 1), now()),
            None
        );
    }

    #[test]
    fn long_validity_rsa_expired_and_future_certificates_do_not() {
        let long = hash_pinning_problem(&cert(KeyType::EcdsaP256, 15), now());
        assert!(long.is_some_and(|p| p.contains("14 days")));
        let rsa = hash_pinning_problem(&cert(KeyType::Rsa2048, 10), now());
        assert!(rsa.is_some_and(|p| p.contains("RSA")));
        let der = cert(KeyType::EcdsaP256, 10);
        let later = now() + 11 * 86_400;
        assert!(hash_pinning_problem(&der, later).is_some_and(|p| p.contains("not valid")));
        let earlier = now() - 2 * 3600;
        assert!(hash_pinning_problem(&der, earlier).is_some_and(|p| p.contains("not valid")));
        assert!(hash_pinning_problem(b"junk", now()).is_some());
    }
}
