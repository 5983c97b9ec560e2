//! Self-signed (or CA-signed) certificates for tests, demos and
//! peer-to-peer identities.

use std::net::IpAddr;

use boring::asn1::{Asn1Integer, Asn1Time};
use boring::bn::{BigNum, MsbOption};
use boring::ec::{EcGroup, EcKey};
use boring::hash::MessageDigest;
use boring::nid::Nid;
use boring::pkey::{Id, PKey, Private};
use boring::rsa::Rsa;
use boring::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use boring::x509::{X509NameBuilder, X509};

use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::tls;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ed25519,
    EcdsaP256,
    Rsa2048,
}

impl KeyType {
    pub fn parse(name: &str) -> CoreResult<KeyType> {
        match name {
            "ed25519" => Ok(KeyType::Ed25519),
            "ecdsa-p256" => Ok(KeyType::EcdsaP256),
            "rsa-2048" => Ok(KeyType::Rsa2048),
            other => Err(CoreError::new(
                ErrorCode::InvalidArgValue,
                format!("options.keyType '{other}' is not one of ed25519, ecdsa-p256, rsa-2048"),
            )),
        }
    }
}

pub struct CertRequest<'a> {
    pub subject_alt_names: &'a [String],
    pub key_type: KeyType,
    pub days: u32,
    /// Issuer key and certificate (PEM or DER); self-signed when `None`.
    pub ca: Option<(&'a [u8], &'a [u8])>,
    /// Whether the new certificate may itself sign others.
    pub is_ca: bool,
}

pub struct GeneratedCert {
    pub key_pem: String,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
}

fn fail(e: boring::error::ErrorStack) -> CoreError {
    CoreError::new(
        ErrorCode::Internal,
        format!("certificate generation failed: {e}"),
    )
}

fn generate_key(key_type: KeyType) -> CoreResult<PKey<Private>> {
    match key_type {
        KeyType::Ed25519 => PKey::generate(Id::ED25519).map_err(fail),
        KeyType::EcdsaP256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(fail)?;
            PKey::from_ec_key(EcKey::generate(&group).map_err(fail)?).map_err(fail)
        }
        KeyType::Rsa2048 => PKey::from_rsa(Rsa::generate(2048).map_err(fail)?).map_err(fail),
    }
}

/// Ed25519 signs the message itself; every other key type signs a SHA-256 digest.
fn digest_for(key: &PKey<Private>) -> MessageDigest {
    if key.id() == Id::ED25519 {
        // SAFETY: BoringSSL's X509_sign takes a NULL digest for Ed25519 keys
        // (and only for them); the pointer is never dereferenced.
        unsafe { MessageDigest::from_ptr(std::ptr::null()) }
    } else {
        MessageDigest::sha256()
    }
}

pub fn generate(req: &CertRequest<'_>) -> CoreResult<GeneratedCert> {
    if req.days == 0 || req.days > 36500 {
        return Err(CoreError::new(
            ErrorCode::OutOfRange,
            "options.days must be between 1 and 36500",
        ));
    }
    let key = generate_key(req.key_type)?;
    let common_name = req
        .subject_alt_names
        .first()
        .map(String::as_str)
        .unwrap_or("nquic");

    let mut name = X509NameBuilder::new().map_err(fail)?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)
        .map_err(fail)?;
    let name = name.build();

    let mut builder = X509::builder().map_err(fail)?;
    builder.set_version(2).map_err(fail)?;
    let mut serial = BigNum::new().map_err(fail)?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(fail)?;
    let serial: Asn1Integer = serial.to_asn1_integer().map_err(fail)?;
    builder.set_serial_number(&serial).map_err(fail)?;
    builder.set_subject_name(&name).map_err(fail)?;
    builder.set_pubkey(&key).map_err(fail)?;
    // Back-date a little so clocks that are slightly off still accept it.
    // The validity period is exactly `days` long: browsers refuse
    // certificates pinned by `serverCertificateHashes` that are valid for
    // more than 14 days, back-dating included.
    let start = unix_now() - 3600;
    let not_before = Asn1Time::from_unix(start as _).map_err(fail)?;
    builder.set_not_before(&not_before).map_err(fail)?;
    let not_after =
        Asn1Time::from_unix((start + i64::from(req.days) * 86_400) as _).map_err(fail)?;
    builder.set_not_after(&not_after).map_err(fail)?;

    let mut constraints = BasicConstraints::new();
    constraints.critical();
    if req.is_ca {
        constraints.ca();
    }
    let constraints = constraints.build().map_err(fail)?;
    builder.append_extension(&constraints).map_err(fail)?;
    let mut usage = KeyUsage::new();
    usage.critical().digital_signature();
    // A self-signed certificate signs itself: verifiers that check key usage
    // on the issuer need keyCertSign even on a leaf.
    if req.is_ca || req.ca.is_none() {
        usage.key_cert_sign();
    }
    if req.is_ca {
        usage.crl_sign();
    }
    let usage = usage.build().map_err(fail)?;
    builder.append_extension(&usage).map_err(fail)?;

    if !req.subject_alt_names.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for entry in req.subject_alt_names {
            match entry.parse::<IpAddr>() {
                Ok(_) => san.ip(entry),
                Err(_) => san.dns(entry),
            };
        }
        let ext = san
            .build(&builder.x509v3_context(None, None))
            .map_err(fail)?;
        builder.append_extension(&ext).map_err(fail)?;
    }

    // Key identifiers let verifiers tell apart anchors with the same name
    // (generated certificates often share CN=localhost).
    let issuer = match req.ca {
        Some((ca_key, ca_cert)) => {
            let ca_key = tls::parse_private_key(ca_key)?;
            let ca_cert = tls::parse_certificates(ca_cert)?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    CoreError::new(ErrorCode::InvalidCertificate, "options.ca.cert is empty")
                })?;
            Some((ca_key, ca_cert))
        }
        None => None,
    };
    let ski = SubjectKeyIdentifier::new()
        .build(&builder.x509v3_context(None, None))
        .map_err(fail)?;
    builder.append_extension(&ski).map_err(fail)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&builder.x509v3_context(issuer.as_ref().map(|(_, c)| c.as_ref()), None))
        .map_err(fail)?;
    builder.append_extension(&aki).map_err(fail)?;

    match &issuer {
        Some((ca_key, ca_cert)) => {
            builder
                .set_issuer_name(ca_cert.subject_name())
                .map_err(fail)?;
            builder.sign(ca_key, digest_for(ca_key)).map_err(fail)?;
        }
        None => {
            builder.set_issuer_name(&name).map_err(fail)?;
            builder.sign(&key, digest_for(&key)).map_err(fail)?;
        }
    }
    let cert = builder.build();
    let pem = |bytes: Vec<u8>| {
        String::from_utf8(bytes)
            .map_err(|_| CoreError::new(ErrorCode::Internal, "PEM is not UTF-8"))
    };
    Ok(GeneratedCert {
        key_pem: pem(key.private_key_to_pem_pkcs8().map_err(fail)?)?,
        cert_pem: pem(cert.to_pem().map_err(fail)?)?,
        cert_der: cert.to_der().map_err(fail)?,
    })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// SHA-256 of a DER certificate, lowercase hex.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
