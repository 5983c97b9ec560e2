//! Seeded mutation fuzzing of everything a peer can send into nquic's own
//! parsers, through the entry points a peer reaches.
//!
//! Every test starts from valid messages made by nquic's own encoders or
//! captured from an in-memory pair, mutates them (bit flips, truncation,
//! length fields set to 0, the maximum or off by one, splicing, duplication,
//! reordering) with a fixed-seed xorshift generator, and feeds them in. Each
//! input runs under `catch_unwind`: a panic fails the test with the seed, the
//! iteration and the input in hex. Afterwards the endpoint must still work
//! (a legitimate connection, message or session succeeds) and every queue a
//! peer can grow must be within its bound.
//!
//! The iteration counts keep the whole file within a few seconds in
//! `cargo test --release`; `NQUIC_FUZZ_SCALE=N` multiplies them for a longer
//! local run and `NQUIC_FUZZ_SEED=N` draws other inputs
//! (`NQUIC_FUZZ_SCALE=50 NQUIC_FUZZ_SEED=7 cargo test --release fuzz::`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::pair::{Pair, Side, CLIENT_ADDR, SERVER_ADDR};
use crate::coalesce;
use crate::endpoint::RecvOutcome;
use crate::events;
use crate::p2p::channel::{self, Received, SignalChannel};
use crate::relay::service::RelayLimits;
use crate::relay::wire;
use crate::tls::certgen::{self, CertRequest, KeyType};
use crate::tls::verify::{self, Expected, Policy, SessionVerdict, Verifier};
use crate::tokens::Secrets;
use crate::webtransport::frames::FrameReader;

// ---------------------------------------------------------------- machinery

/// xorshift64*: small, fast, and the same sequence everywhere (also the
/// chaos harness's, `path_chaos.rs`).
pub(super) struct Rng(u64);

impl Rng {
    /// The generator of a test's `seed` (see [`seeded`]).
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Byte values that sit on the edges of QUIC varints, DER lengths and flags.
const INTERESTING: [u8; 12] = [
    0x00, 0x01, 0x3f, 0x40, 0x41, 0x7f, 0x80, 0x81, 0xbf, 0xc0, 0xfe, 0xff,
];

/// One to four mutations of `seed`; `corpus` gives splicing material.
fn mutate(rng: &mut Rng, seed: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(11) {
            // A bit flip.
            0 if len > 0 => {
                let at = rng.below(len);
                out[at] ^= 1 << rng.below(8);
            }
            // A byte set to an edge value (a length of 0, the maximum…).
            1 if len > 0 => {
                let at = rng.below(len);
                out[at] = *rng.pick(&INTERESTING);
            }
            // A length off by one.
            2 if len > 0 => {
                let at = rng.below(len);
                out[at] = if rng.chance(2) {
                    out[at].wrapping_add(1)
                } else {
                    out[at].wrapping_sub(1)
                };
            }
            // Truncation.
            3 => out.truncate(rng.below(len + 1)),
            // A range deleted.
            4 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(64));
                out.drain(at..at + n);
            }
            // A range duplicated in place.
            5 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(64));
                let copy = out[at..at + n].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
            }
            // Spliced: our head, another message's tail.
            6 if !corpus.is_empty() => {
                let other = rng.pick(corpus);
                out.truncate(rng.below(len + 1));
                let from = rng.below(other.len() + 1);
                out.extend_from_slice(&other[from..]);
            }
            // Random bytes inserted.
            7 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let junk = rng.bytes(n);
                out.splice(at..at, junk);
            }
            // Two ranges swapped (reordering).
            8 if len > 1 => {
                let a = rng.below(len / 2);
                let b = len / 2 + rng.below(len - len / 2);
                let n = 1 + rng.below((len / 2 - a).min(len - b).max(1));
                for i in 0..n.min(len - b).min(b - a) {
                    out.swap(a + i, b + i);
                }
            }
            // A field of 1, 2, 4 or 8 bytes set to all zeros or all ones
            // (an 8-byte varint 0xff… is 2^62 - 1).
            9 if len > 0 => {
                let at = rng.below(len);
                let n = (1usize << rng.below(4)).min(len - at);
                let v = if rng.chance(2) { 0x00 } else { 0xff };
                out[at..at + n].fill(v);
            }
            // Appended garbage (trailing bytes).
            _ => {
                let n = 1 + rng.below(32);
                let junk = rng.bytes(n);
                out.extend_from_slice(&junk);
            }
        }
    }
    out
}

/// A mutation of one of `seeds`.
fn pick_and_mutate(rng: &mut Rng, seeds: &[Vec<u8>], corpus: &[Vec<u8>]) -> Vec<u8> {
    let seed = &seeds[rng.below(seeds.len())];
    mutate(rng, seed, corpus)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `f` on one input; a panic fails the test with everything needed to
/// replay it.
fn guarded<T>(test: &str, seed: u64, iteration: usize, input: &[u8], f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(e) => {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "{test}: seed {seed:#x}, iteration {iteration}: panic ({why}) on input {}",
                hex(input)
            );
        }
    }
}

/// A test's seed, mixed with `NQUIC_FUZZ_SEED` when that is set.
fn seeded(seed: u64) -> u64 {
    let extra = std::env::var("NQUIC_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    seed ^ extra.wrapping_mul(0xd6e8_feb8_6659_fd93)
}

/// Iterations for a test: `base`, times `NQUIC_FUZZ_SCALE` when set.
fn iterations(base: usize) -> usize {
    let scale = std::env::var("NQUIC_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1);
    base * scale.max(1)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// A source address for a fuzzed datagram: the real peer's, another IPv4
/// or IPv6 one, an IPv4-mapped one, or one from the synthetic relay prefix
/// (which never comes from the network).
fn source(rng: &mut Rng, real: SocketAddr) -> SocketAddr {
    let port = 1 + rng.below(65535) as u16;
    match rng.below(6) {
        0 | 1 => real,
        2 => SocketAddr::new(IpAddr::V4(Ipv4Addr::from(rng.next() as u32)), port),
        3 => SocketAddr::new(IpAddr::V6(Ipv6Addr::from(u128::from(rng.next()))), port),
        4 => SocketAddr::new(
            IpAddr::V6(Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped()),
            port,
        ),
        _ => crate::relay::path_addr(rng.next() as u32, rng.next() as u32),
    }
}

// ------------------------------------------------------- raw UDP datagrams

/// Every datagram of a handshake, a stream and a datagram exchanged by a
/// pair (client → server, server → client), the pair still connected.
fn transcript(retry: bool) -> (Pair, u32, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut pair = Pair::new(|s| s.retry = retry, |_| {});
    let client = pair.connect();
    let (mut up, mut down) = (Vec::new(), Vec::new());
    let mut wrote = false;
    for _ in 0..200 {
        let to_server = pair.client.drain();
        let to_client = pair.server.drain();
        if to_server.is_empty() && to_client.is_empty() {
            if wrote {
                break;
            }
            wrote = true;
            let conn = pair.client.endpoint.connection_mut(client).expect("conn");
            let stream = conn.stream_open(true).expect("open").expect("credit");
            conn.stream_write(stream, b"hello", true).expect("write");
            conn.datagram_send(b"a datagram").expect("datagram");
            continue;
        }
        for (mut p, _) in to_server {
            up.push(p.clone());
            pair.server.endpoint.recv(&mut p, addr(CLIENT_ADDR));
        }
        for (mut p, _) in to_client {
            down.push(p.clone());
            pair.client.endpoint.recv(&mut p, addr(SERVER_ADDR));
        }
        pair.client.poll();
        pair.server.poll();
    }
    assert!(up.len() >= 3 && down.len() >= 2, "a whole exchange");
    (pair, client, up, down)
}

/// Moves packets between the pair; the server's answers to other addresses
/// (fuzzed sources) are counted and dropped.
fn exchange(pair: &mut Pair) -> usize {
    let mut elsewhere = 0;
    for _ in 0..50 {
        let to_server = pair.client.drain_any();
        let to_client = pair.server.drain_any();
        if to_server.is_empty() && to_client.is_empty() {
            break;
        }
        for (mut p, to) in to_server {
            if to == Some(addr(SERVER_ADDR)) {
                pair.server.endpoint.recv(&mut p, addr(CLIENT_ADDR));
            } else {
                elsewhere += 1;
            }
        }
        for (mut p, to) in to_client {
            if to == Some(addr(CLIENT_ADDR)) {
                pair.client.endpoint.recv(&mut p, addr(SERVER_ADDR));
            } else {
                elsewhere += 1;
            }
        }
        pair.client.poll();
        pair.server.poll();
    }
    elsewhere
}

/// A stream written by the client reaches the server on connection `client`.
fn still_carries_a_stream(pair: &mut Pair, client: u32, what: &[u8]) -> bool {
    pair.client.events.clear();
    pair.server.events.clear();
    let conn = pair.client.endpoint.connection_mut(client).expect("conn");
    let stream = conn.stream_open(true).expect("open").expect("credit");
    conn.stream_write(stream, what, true).expect("write");
    pair.run_until(Duration::from_secs(10), |p| {
        p.server
            .events
            .iter()
            .any(|e| e.kind == events::STREAM_DATA && e.payload == what)
    })
}

/// A new connection of the pair's client completes its handshake.
fn connects(pair: &mut Pair) -> u32 {
    let fresh = pair.connect();
    assert!(
        pair.run_until(Duration::from_secs(10), |p| p
            .client
            .endpoint
            .connection(fresh)
            .is_ok_and(|c| c.is_established())),
        "a new connection completes its handshake"
    );
    fresh
}

fn raw_datagrams(retry: bool, seed: u64, rounds: usize) {
    let test = "raw datagrams into the endpoint";
    let (mut pair, client, up, down) = transcript(retry);
    let corpus: Vec<Vec<u8>> = up.iter().chain(&down).cloned().collect();
    let mut rng = Rng::new(seed);
    let mut accepted = 0;
    let before = pair.server.endpoint.connection_count();
    for i in 0..rounds {
        let (into_server, seed_packet) = if rng.chance(3) {
            (false, rng.pick(&down).clone())
        } else {
            (true, rng.pick(&up).clone())
        };
        let input = mutate(&mut rng, &seed_packet, &corpus);
        let from = source(
            &mut rng,
            addr(if into_server {
                CLIENT_ADDR
            } else {
                SERVER_ADDR
            }),
        );
        let outcome = guarded(test, seed, i, &input, || {
            let mut data = input.clone();
            let side = if into_server {
                &mut pair.server
            } else {
                &mut pair.client
            };
            let outcome = side.endpoint.recv(&mut data, from);
            if i % 16 == 0 {
                exchange(&mut pair);
                pair.client.endpoint.on_timeout();
                pair.server.endpoint.on_timeout();
            }
            outcome
        });
        // RFC 9000 §5.2.2 and §14.1: a datagram below 1200 bytes never gets
        // a Version Negotiation answer (nor a connection).
        if input.len() < 1200 {
            assert!(
                !matches!(
                    outcome,
                    RecvOutcome::VersionNegotiation | RecvOutcome::Accepted | RecvOutcome::Retry
                ),
                "{test}: seed {seed:#x}, iteration {i}: {outcome:?} for a {}-byte datagram {}",
                input.len(),
                hex(&input)
            );
        }
        if crate::relay::is_synthetic(&from.ip()) {
            assert_eq!(outcome, RecvOutcome::Dropped, "synthetic source");
        }
        if outcome == RecvOutcome::Accepted {
            accepted += 1;
        }
        pair.client.events.clear();
        pair.server.events.clear();
    }
    exchange(&mut pair);
    // A mutated Initial never decrypts: whatever it made the server accept
    // is gone again (quiche fails the first packet, nothing is left open).
    assert!(
        retry || accepted > 0,
        "some mutated Initials reached accept"
    );
    assert_eq!(
        pair.server.endpoint.connection_count(),
        before,
        "only the real connection is left"
    );
    // The connection that was there all along still works…
    assert!(
        still_carries_a_stream(&mut pair, client, b"after the storm"),
        "the established connection still carries data"
    );
    // …and a new one can still be made.
    let fresh = connects(&mut pair);
    assert!(still_carries_a_stream(&mut pair, fresh, b"new"));
}

#[test]
fn fuzz_raw_datagrams_into_a_server_and_a_client() {
    raw_datagrams(false, seeded(0x5eed_0001), iterations(180_000));
}

#[test]
fn fuzz_raw_datagrams_into_a_retry_server() {
    raw_datagrams(true, seeded(0x5eed_0002), iterations(120_000));
}

/// A client in its handshake fed mutations of the real answers to its first
/// flight: a Retry, a Version Negotiation packet, the server's Initial and
/// Handshake flight. Whatever fails must end the connection (reported
/// once), and the client must still connect afterwards.
#[test]
fn fuzz_answers_into_a_connecting_client() {
    let test = "answers into a connecting client";
    let seed = seeded(0x5eed_000a);
    let mut rng = Rng::new(seed);
    let mut plain = Pair::new(|_| {}, |_| {});
    let mut retrying = Pair::new(|s| s.retry = true, |_| {});
    let mut client = Side::new("127.0.0.1:40100");
    let server_addr = addr(SERVER_ADDR);
    let mut opened = 0;
    let mut ended = 0;
    for batch in 0..iterations(300) {
        let id = client
            .endpoint
            .connect(
                &plain.client_config,
                Some("localhost"),
                Some(Expected::Name("localhost".into())),
                None,
                server_addr,
            )
            .expect("connect");
        opened += 1;
        let first = client.drain_any();
        let initial = first.first().expect("a first flight").0.clone();
        // The real answers to it.
        let mut answers = Vec::new();
        for pair in [&mut plain, &mut retrying] {
            pair.server
                .endpoint
                .recv(&mut initial.clone(), addr("127.0.0.1:40100"));
            answers.extend(pair.server.drain_any().into_iter().map(|(p, _)| p));
        }
        let hdr = quiche::Header::from_slice(&mut initial.clone(), crate::endpoint::CID_LEN)
            .expect("header");
        let mut vn = vec![0u8; 256];
        let n = quiche::negotiate_version(&hdr.scid, &hdr.dcid, &mut vn).expect("vn");
        vn.truncate(n);
        answers.push(vn);
        for k in 0..20 {
            let input = pick_and_mutate(&mut rng, &answers, &answers);
            let iteration = batch * 20 + k;
            guarded(test, seed, iteration, &input, || {
                client.endpoint.recv(&mut input.clone(), server_addr);
                client.poll();
                client.drain_any();
                client.endpoint.on_timeout();
            });
        }
        ended += client
            .take_events(events::CLOSED)
            .iter()
            .filter(|e| e.conn == id)
            .count();
        client.events.clear();
        // Ended ones go; the rest are closed here (as an application would).
        if let Ok(c) = client.endpoint.connection_mut(id) {
            c.close(true, 0, b"");
        }
        client.poll();
        client.drain_any();
    }
    assert!(ended > 0, "some answers ended a connection");
    assert!(ended <= opened, "each connection ended at most once");
    // The same client endpoint still connects for real.
    plain.client = client;
    connects(&mut plain);
}

/// Regression: a long-header packet of an unknown version in a datagram
/// smaller than 1200 bytes got a Version Negotiation packet back. RFC 9000
/// §5.2.2: "Servers MUST drop smaller packets that specify unsupported
/// versions"; answering them let anyone bounce packets larger than the ones
/// they spoofed off a server.
#[test]
fn regression_no_version_negotiation_for_a_small_datagram() {
    let mut pair = Pair::new(|_| {}, |_| {});
    // Long header, Initial bits, version 0x1a2a3a4a, DCID of 20 and SCID of
    // 20 bytes: the answer would echo both plus the supported versions.
    let mut packet = vec![0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 20];
    packet.extend_from_slice(&[7; 20]);
    packet.push(20);
    packet.extend_from_slice(&[9; 20]);
    let from = addr("192.0.2.1:4433");
    let outcome = pair.server.endpoint.recv(&mut packet.clone(), from);
    assert_eq!(outcome, RecvOutcome::Dropped);
    assert!(pair.server.drain_any().is_empty(), "nothing sent back");
    // A full-size datagram of an unknown version is still answered.
    packet.resize(1200, 0);
    let outcome = pair.server.endpoint.recv(&mut packet, from);
    assert_eq!(outcome, RecvOutcome::VersionNegotiation);
    assert_eq!(pair.server.drain_any().len(), 1);
}

/// Regression: a packet of an unsupported version got Version Negotiation
/// only if quiche could parse it as a version 1 Initial (type bits 00, a
/// token length, connection IDs of at most 20 bytes). Those fields mean
/// something else in other versions (RFC 8999): a client of a newer version
/// whose first packet looked otherwise was met with silence instead of the
/// list of versions it could fall back to (RFC 9000 §6.1).
#[test]
fn regression_version_negotiation_for_any_long_header_of_an_unknown_version() {
    let mut pair = Pair::new(|_| {}, |_| {});
    let from = addr("192.0.2.1:4433");
    for (first, dcid_len) in [
        (0xc0u8, 8usize),
        (0xd0, 8),
        (0xe0, 8),
        (0xf0, 8),
        (0xc0, 40),
    ] {
        let dcid: Vec<u8> = (0..dcid_len as u8).collect();
        let scid = [0xee; 5];
        let mut packet = vec![first, 0x1a, 0x2a, 0x3a, 0x4a, dcid_len as u8];
        packet.extend_from_slice(&dcid);
        packet.push(scid.len() as u8);
        packet.extend_from_slice(&scid);
        packet.resize(1200, 0xff);
        let outcome = pair.server.endpoint.recv(&mut packet, from);
        assert_eq!(
            outcome,
            RecvOutcome::VersionNegotiation,
            "first byte {first:#x}, DCID of {dcid_len} bytes"
        );
        let answers = pair.server.drain_any();
        assert_eq!(answers.len(), 1);
        let vn = &answers[0].0;
        assert_eq!(vn[0] & 0x80, 0x80, "a long header");
        assert_eq!(vn[1..5], [0, 0, 0, 0], "version 0: Version Negotiation");
        // Our SCID is its DCID, our DCID its SCID.
        assert_eq!(usize::from(vn[5]), scid.len());
        assert_eq!(vn[6..6 + scid.len()], scid);
        let at = 6 + scid.len();
        assert_eq!(vn[at + 1..at + 1 + dcid_len], dcid[..]);
    }
    // Not for a client, and never for a datagram below 1200 bytes.
    let mut client = Side::new("127.0.0.1:40999");
    let mut packet = vec![0xe0, 0x1a, 0x2a, 0x3a, 0x4a, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0];
    packet.resize(1200, 0);
    assert_eq!(
        client.endpoint.recv(&mut packet, from),
        RecvOutcome::Dropped
    );
    assert!(client.drain_any().is_empty());
}

#[test]
fn fuzz_coalesced_packet_ends() {
    let test = "coalesce::packet_ends";
    let (_, _, up, down) = transcript(false);
    let corpus: Vec<Vec<u8>> = up.into_iter().chain(down).collect();
    let seed = seeded(0x5eed_0003);
    let mut rng = Rng::new(seed);
    let mut ends = Vec::new();
    for i in 0..iterations(600_000) {
        let input = pick_and_mutate(&mut rng, &corpus, &corpus);
        guarded(test, seed, i, &input, || {
            coalesce::packet_ends(&input, &mut ends)
        });
        assert_eq!(
            ends.last(),
            Some(&input.len()),
            "the last packet ends the datagram"
        );
        assert!(
            ends.windows(2).all(|w| w[0] < w[1]),
            "{test}: iteration {i}: ends {ends:?} not increasing for {}",
            hex(&input)
        );
    }
}

// ---------------------------------------------------------- Retry tokens

#[test]
fn fuzz_retry_tokens() {
    let test = "retry token validation";
    let secrets = Secrets::generate(&ring::rand::SystemRandom::new()).expect("keys");
    let from = addr("198.51.100.7:5000");
    let seed = seeded(0x5eed_0004);
    let mut rng = Rng::new(seed);
    let tokens: Vec<Vec<u8>> = [0usize, 1, 8, 16, 20]
        .iter()
        .map(|&n| secrets.mint_retry_token(&from, &vec![0xab; n], b"retry-scid-16byt"))
        .collect();
    for i in 0..iterations(300_000) {
        let input = pick_and_mutate(&mut rng, &tokens, &tokens);
        let valid = guarded(test, seed, i, &input, || {
            secrets.validate_retry_token(&input, &from, b"retry-scid-16byt")
        });
        // An HMAC-tagged token is valid only unchanged.
        if valid.is_some() {
            assert!(
                tokens.contains(&input),
                "{test}: a mutated token was accepted: {}",
                hex(&input)
            );
        }
    }
}

// ------------------------------------------------------------ certificates

#[test]
fn fuzz_peer_certificates() {
    let test = "peer certificate checks";
    let make = |name: &str, key_type| {
        certgen::generate(&CertRequest {
            subject_alt_names: &[name.to_string()],
            key_type,
            days: 30,
            ca: None,
            is_ca: false,
        })
        .expect("cert")
    };
    let certs = [
        make("localhost", KeyType::EcdsaP256),
        make("peer.test", KeyType::Ed25519),
    ];
    let corpus: Vec<Vec<u8>> = certs.iter().map(|c| c.cert_der.clone()).collect();
    let mut store = boring::x509::store::X509StoreBuilder::new().expect("store");
    let trusted = boring::x509::X509::from_der(&corpus[0]).expect("der");
    store.add_cert(trusted).expect("trust");
    let verifier = Verifier {
        store: store.build(),
        policy: Policy {
            require_valid: true,
            hook: false,
        },
    };
    let conn = 0xfff0_0001;
    let seed = seeded(0x5eed_0005);
    let mut rng = Rng::new(seed);
    for i in 0..iterations(90_000) {
        let expected = match rng.below(4) {
            0 => None,
            1 => Some(Expected::Name("localhost".into())),
            2 => Some(Expected::Ip("127.0.0.1".parse().expect("ip"))),
            _ => Some(Expected::Fingerprint(crate::relay::fingerprint(&corpus[0]))),
        };
        let leaf = pick_and_mutate(&mut rng, &corpus, &corpus);
        let mut chain = vec![leaf.clone()];
        if rng.chance(3) {
            chain.push(pick_and_mutate(&mut rng, &corpus, &corpus));
        }
        let refs: Vec<&[u8]> = chain.iter().map(|c| c.as_slice()).collect();
        let verdict = guarded(test, seed, i, &leaf, || {
            verify::set_expected(conn, expected);
            let verdict = verify::check_session(conn, &verifier, &refs, None);
            verify::take_refusal(conn);
            verdict
        });
        // A mutated certificate passes only if it still is one of ours
        // (DER parsing stops at the end of the certificate, so trailing
        // bytes are ignored; the fingerprint is of the certificate itself).
        if verdict == SessionVerdict::Accept {
            let parsed = boring::x509::X509::from_der(&leaf).and_then(|c| c.to_der());
            assert!(
                parsed.is_ok_and(|der| corpus.contains(&der)),
                "{test}: iteration {i}: a mutated leaf was accepted: {}",
                hex(&leaf)
            );
        }
    }
    verify::forget(conn);
}

// -------------------------------------------------- relay and signalling

/// Valid relay and signalling messages, as nquic's encoders make them.
fn relay_seeds(fingerprint: [u8; 32], inner: &[u8]) -> Vec<Vec<u8>> {
    let mut open = wire::control(wire::OPEN, 1, &fingerprint);
    open.extend_from_slice(inner);
    let mut data = wire::control(wire::DATA, 1, &[]);
    data.extend_from_slice(inner);
    let mut open_unknown = wire::control(wire::OPEN, 9, &[0x55; 32]);
    open_unknown.extend_from_slice(&inner[..inner.len().min(64)]);
    let mut signals = SignalChannel::default();
    let signal = signals
        .send(
            b"\x01\x03signalling payload",
            Instant::now(),
            Duration::ZERO,
        )
        .expect("signal");
    vec![
        wire::control(wire::REGISTER, 0, &[]),
        wire::control(wire::REGISTERED, 0, &[wire::status::OK]),
        open,
        open_unknown,
        data,
        wire::control(wire::CLOSE, 1, &[wire::reason::GONE]),
        wire::control(wire::CLOSE, 2, &[wire::reason::LIMIT]),
        signal,
        channel::ack(1),
        wire::control(99, 0xffff_ffff, b"unknown kind"),
        b"an application datagram".to_vec(),
    ]
}

/// Steps the world, running timers whenever it is quiet, until `done`
/// (bounded: ten seconds).
fn run_world_until(
    w: &mut super::relay::World,
    mut done: impl FnMut(&super::relay::World) -> bool,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if done(w) {
            return true;
        }
        if w.step() > 0 {
            continue;
        }
        super::pair::sleep_until_a_deadline(&[&w.relay, &w.target, &w.dialer], 50.0);
        for side in [&mut w.relay, &mut w.target, &mut w.dialer] {
            side.endpoint.on_timeout();
        }
    }
    done(w)
}

#[test]
fn fuzz_relay_and_signalling_datagrams() {
    use super::relay::{transfer, World};
    let test = "relay and signalling datagrams";
    // Every relayed handshake counts against the relay's address at the
    // target (`handshakeRateLimit`), so the junk Initials fuzzed through the
    // relay would use up the budget of the legitimate dial at the end: that
    // limit is a deliberate bound (src/limits.rs), not what is tested here.
    let mut w = World::with_target(|t| t.handshake_rate_limit = 0);
    let (inner, target_side) = w.connect_relayed();
    let d_via = w.dialer_via(inner);
    // The relay's connections with the target and the dialer, in the order
    // it accepted them.
    let accepted = w.relay.take_established();
    let [r_target, r_dialer] = accepted[..] else {
        panic!("the relay accepted {accepted:?}");
    };
    // A real first packet of a relayed connection, to carry in OPEN/DATA.
    let fingerprint = crate::relay::fingerprint(&w.target_id.cert_der);
    let mut probe = Side::new("127.0.0.1:41998");
    probe
        .endpoint
        .connect(
            &w.client_config(None),
            Some("x"),
            None,
            None,
            addr(SERVER_ADDR),
        )
        .expect("probe");
    let inner_packet = probe.drain().remove(0).0;
    let seeds = relay_seeds(fingerprint, &inner_packet);
    let seed = seeded(0x5eed_0006);
    let mut rng = Rng::new(seed);
    for i in 0..iterations(60_000) {
        if i == iterations(60_000) / 2 {
            // Second half: new flows wait for the relay's `allow` policy.
            w.relay.endpoint.enable_relay(Some(RelayLimits {
                max_flows: 8,
                flow_rate: 0,
                policy: true,
            }));
        }
        let input = pick_and_mutate(&mut rng, &seeds, &seeds);
        let toward_relay = !rng.chance(3);
        guarded(test, seed, i, &input, || {
            if toward_relay {
                // The dialer (a peer of the relay) sends it.
                if let Ok(c) = w.dialer.endpoint.connection_mut(d_via) {
                    let _ = c.datagram_send(&input);
                }
            } else if let Ok(c) = w.relay.endpoint.connection_mut(r_target) {
                // The relay sends it to the target (a peer using it).
                let _ = c.quic.dgram_send(&input);
            }
            if i % 4 == 0 {
                w.step();
                for request in w.relay.take_events(events::RELAY_REQUEST) {
                    w.relay
                        .endpoint
                        .relay_verdict(request.a as u64, rng.chance(2));
                }
                for side in [&mut w.relay, &mut w.target, &mut w.dialer] {
                    side.events.clear();
                    side.endpoint.on_timeout();
                }
            }
        });
        let (flows, targets) = w.relay.endpoint.relay_counts();
        assert!(flows <= 8, "{test}: {flows} flows beyond maxFlows");
        assert!(targets <= 2, "{test}: {targets} registered targets");
    }
    w.settle();
    for side in [&mut w.relay, &mut w.target, &mut w.dialer] {
        side.events.clear();
    }
    // Room for a new flow (the fuzzed OPENs may hold all eight).
    w.relay.endpoint.enable_relay(Some(RelayLimits {
        max_flows: 64,
        flow_rate: 0,
        policy: false,
    }));
    // A new relayed connection to the target still works end to end.
    let config = w.client_config(None);
    let fresh = w
        .dialer
        .endpoint
        .connect_relayed(&config, d_via, fingerprint, None, None)
        .expect("relayed connect");
    let established = run_world_until(&mut w, |w| {
        w.dialer
            .events
            .iter()
            .any(|e| e.kind == events::ESTABLISHED && e.conn == fresh)
            && w.target
                .events
                .iter()
                .any(|e| e.kind == events::ESTABLISHED)
    });
    assert!(
        established,
        "a new relayed connection is established: {:?}",
        w.dialer.endpoint.take_close_info(fresh)
    );
    let accepted = w.target.take_established();
    let target_fresh = *accepted.last().expect("target side");
    assert_eq!(
        transfer(&mut w, fresh, target_fresh, 20_000, 500).len(),
        20_000
    );
    let _ = target_side;
    // The relay still signals to the dialer, whose channel the fuzzing
    // did not touch in that direction. (The dialer's own forged sequence
    // numbers can only confuse its own channel to the relay.)
    assert!(w
        .relay
        .endpoint
        .signal_send(r_dialer, b"still here")
        .expect("signal"));
    w.settle();
    let got = w.dialer.take_events(events::SIGNAL);
    assert!(
        got.iter().any(|e| e.payload == b"still here"),
        "a signal after the fuzzing arrives"
    );
}

/// The signalling channel's state machine under arbitrary sequence numbers,
/// bodies and acknowledgements: bounded, in order, nothing invented.
#[test]
fn fuzz_signal_channel_state_machine() {
    let test = "signal channel";
    let seed = seeded(0x5eed_0007);
    let mut rng = Rng::new(seed);
    let now = Instant::now();
    let mut rx = SignalChannel::default();
    let mut tx = SignalChannel::default();
    let mut delivered = 0usize;
    for i in 0..iterations(600_000) {
        let seq = match rng.below(5) {
            0 => 0,
            1 => u32::MAX - rng.below(3) as u32,
            _ => 1 + rng.below(200) as u32,
        };
        let n = rng.below(channel::MAX_MESSAGE + 3);
        let body = rng.bytes(n);
        guarded(test, seed, i, &body, || {
            match rng.below(4) {
                0 => {
                    let _ = rx.on_message(seq, &body);
                }
                1 => tx.on_ack(seq),
                2 => {
                    let _ = tx.send(&body, now, Duration::from_millis(rng.below(5000) as u64));
                }
                _ => {
                    let _ = tx.on_timeout(now + Duration::from_millis(rng.below(20_000) as u64));
                }
            }
            if rng.chance(50) {
                delivered += rx.inbox.drain(..).count();
            }
        });
        assert!(rx.inbox.len() <= channel::MAX_INBOX, "inbox bounded");
        assert!(tx.in_flight() <= channel::MAX_UNACKED, "in flight bounded");
        assert!(
            rx.on_message(0, b"") == Received::Refused,
            "sequence 0 is never a message"
        );
    }
    assert!(delivered > 0, "some messages got through");
}

// ------------------------------------------------- WebTransport over HTTP/3

/// Valid HTTP/3 and WebTransport bytes, as web-transport-proto encodes them
/// (what each kind of stream and a datagram start with).
/// Valid bytes for each place a WebTransport peer writes.
struct WtSeeds {
    /// A new bidirectional stream (requests, WebTransport streams).
    bidi: Vec<Vec<u8>>,
    /// A new unidirectional stream (control, QPACK, WebTransport, push).
    uni: Vec<Vec<u8>>,
    datagrams: Vec<Vec<u8>>,
    /// Frames after SETTINGS on a control stream.
    control: Vec<Vec<u8>>,
    /// Frames on an open session's CONNECT stream (capsules in DATA…).
    connect: Vec<Vec<u8>>,
    /// A server's answer to a CONNECT request.
    responses: Vec<Vec<u8>>,
}

impl WtSeeds {
    fn all(&self) -> Vec<Vec<u8>> {
        [
            &self.bidi,
            &self.uni,
            &self.datagrams,
            &self.control,
            &self.connect,
            &self.responses,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }
}

fn webtransport_seeds() -> WtSeeds {
    use web_transport_proto::http::StatusCode;
    use web_transport_proto::{
        Capsule, ConnectRequest, ConnectResponse, Frame, Settings, StreamUni, VarInt,
    };
    let varint = |v: u64| {
        let mut out = Vec::new();
        VarInt::from_u64(v).expect("varint").encode(&mut out);
        out
    };
    let frame = |typ: u64, payload: &[u8]| {
        let mut out = varint(typ);
        out.extend(varint(payload.len() as u64));
        out.extend_from_slice(payload);
        out
    };
    let mut request = Vec::new();
    ConnectRequest::new(url::Url::parse("https://localhost:4433/fuzz").expect("url"))
        .encode(&mut request)
        .expect("request");
    let mut response = Vec::new();
    ConnectResponse::new(StatusCode::OK)
        .encode(&mut response)
        .expect("response");
    let mut close = Vec::new();
    Capsule::CloseWebTransportSession {
        code: 7,
        reason: "bye".into(),
    }
    .encode(&mut close);
    let drain = frame(0x78ae, &[]); // a DRAIN capsule has the frame shape
    let mut wt_bidi = Vec::new();
    Frame::WEBTRANSPORT.encode(&mut wt_bidi);
    wt_bidi.extend(varint(0));
    wt_bidi.extend_from_slice(b"stream data");
    let mut not_found = Vec::new();
    ConnectResponse::new(StatusCode::NOT_FOUND)
        .encode(&mut not_found)
        .expect("response");
    let mut early_hints = Vec::new();
    ConnectResponse::new(StatusCode::from_u16(103).expect("103"))
        .encode(&mut early_hints)
        .expect("response");
    let responses = vec![
        response.clone(),
        not_found,
        [early_hints, response.clone()].concat(),
        [response.clone(), frame(0x00, &close)].concat(),
    ];
    let mut grease = Vec::new();
    Capsule::Grease { num: 3 }.encode(&mut grease);
    let connect = vec![
        frame(0x00, &close),
        frame(0x00, &drain),
        frame(
            0x00,
            &[grease.clone(), grease, frame(0x4242, b"unknown")].concat(),
        ),
        frame(0x01, &response),
        frame(0x21, b"reserved"),
        frame(0x00, &close[..close.len() - 1]),
    ];
    let control = vec![
        frame(0x07, &varint(4)),
        frame(0x03, &varint(0)),
        frame(0x0d, &varint(8)),
        frame(0xf0700, &[0, 0x75, 0x3d, 0x31]),
        frame(0x04, &[]),
        frame(0x00, b"data"),
        frame(0x06, &[]),
        frame(0x21, &[1, 2, 3]),
    ];
    let bidi = vec![
        [request.clone(), frame(0x00, &close)].concat(),
        [request.clone(), frame(0x00, &drain)].concat(),
        request,
        response,
        wt_bidi,
        frame(0x21, &[0; 40]),
        frame(0x00, b"DATA before HEADERS"),
    ];
    let mut settings = Settings::default();
    settings.enable_webtransport(4);
    let mut control_stream = Vec::new();
    settings.encode(&mut control_stream);
    let mut wt_uni = Vec::new();
    StreamUni::WEBTRANSPORT.encode(&mut wt_uni);
    wt_uni.extend(varint(0));
    wt_uni.extend_from_slice(b"uni data");
    let uni = vec![
        [control_stream.clone(), frame(0x07, &varint(0))].concat(),
        control_stream,
        wt_uni,
        varint(0x02),
        varint(0x03),
        varint(0x01),
        varint(0x21),
    ];
    let datagrams = vec![
        [varint(0), b"datagram".to_vec()].concat(),
        [varint(1), b"other session".to_vec()].concat(),
        varint(1 << 61),
    ];
    WtSeeds {
        bidi,
        uni,
        datagrams,
        control,
        connect,
        responses,
    }
}

#[test]
fn fuzz_webtransport_streams_and_datagrams() {
    use super::webtransport::{data_of, established, open_session, open_stream, write_all, Who};
    let test = "WebTransport streams and datagrams";
    let seeds = webtransport_seeds();
    let all = seeds.all();
    let max_sessions = 4;
    // Every reconnection is a handshake from the same address: without the
    // per-address handshake limit (a deliberate bound, src/limits.rs), a
    // long run (NQUIC_FUZZ_SCALE) would run into it.
    let mut pair = Pair::new(
        |s| {
            s.alpn = vec!["h3".into()];
            s.web_transport = Some(max_sessions);
            s.handshake_rate_limit = 0;
        },
        |c| {
            c.alpn = vec!["h3".into()];
            c.web_transport = Some(100);
        },
    );
    let (mut client, mut server) = established(&mut pair);
    let mut session = open_session(&mut pair, client, server, "/");
    let seed = seeded(0x5eed_0008);
    let mut rng = Rng::new(seed);
    let mut reconnects = 0;
    for i in 0..iterations(15_000) {
        let by_client = !rng.chance(3);
        // 0: a new bidi stream, 1: a new uni stream, 2: a datagram, 3: more
        // frames on our control stream, 4: more on the session's CONNECT
        // stream, 5: the server answers a new request with these bytes.
        let channel = rng.below(6);
        let pool = match channel {
            0 => &seeds.bidi,
            1 => &seeds.uni,
            2 => &seeds.datagrams,
            3 => &seeds.control,
            4 => &seeds.connect,
            _ => &seeds.responses,
        };
        let input = pick_and_mutate(&mut rng, pool, &all);
        let fin = rng.chance(2);
        guarded(test, seed, i, &input, || {
            if channel == 5 {
                // The client asks; the server's reply is raw bytes.
                let asked = pair
                    .client
                    .endpoint
                    .connection_mut(client)
                    .and_then(|c| c.wt_connect("localhost:4433", "/raw", &[]));
                pair.step();
                if let (Ok(stream), Ok(c)) = (asked, pair.server.endpoint.connection_mut(server)) {
                    let _ = c.quic.stream_send(stream, &input, fin);
                }
            } else {
                let (side, id) = if by_client {
                    (&mut pair.client, client)
                } else {
                    (&mut pair.server, server)
                };
                if let Ok(c) = side.endpoint.connection_mut(id) {
                    match channel {
                        0 | 1 => {
                            if let Ok(Some(stream)) = c.stream_open(channel == 0) {
                                let _ = c.stream_write(stream, &input, fin);
                            }
                        }
                        2 => {
                            let _ = c.datagram_send(&input);
                        }
                        // Our control stream: the first uni stream each side opened.
                        3 => {
                            let control = if by_client { 2 } else { 3 };
                            let _ = c.quic.stream_send(control, &input, false);
                        }
                        _ => {
                            let _ = c.quic.stream_send(session, &input, fin);
                        }
                    }
                }
            }
            pair.step();
            pair.step();
        });
        let sessions = pair
            .server
            .endpoint
            .connection(server)
            .map_or(0, |c| c.wt_announced_session_count());
        assert!(
            sessions as u64 <= max_sessions,
            "{test}: {sessions} sessions beyond the limit"
        );
        pair.client.events.clear();
        pair.server.events.clear();
        // An HTTP/3 error closes the connection: start a new one.
        let ended = |side: &Side, id| side.endpoint.connection(id).map_or(true, |c| c.is_ended());
        if ended(&pair.client, client) || ended(&pair.server, server) {
            reconnects += 1;
            pair.settle();
            pair.client.events.clear();
            pair.server.events.clear();
            (client, server) = established(&mut pair);
            session = open_session(&mut pair, client, server, "/");
        }
    }
    assert!(reconnects > 0, "some inputs broke the protocol");
    // A new connection and session carry a stream as usual.
    pair.settle();
    pair.client.events.clear();
    pair.server.events.clear();
    let (client, server) = established(&mut pair);
    let session = open_session(&mut pair, client, server, "/after");
    let (stream, header) = open_stream(&mut pair, &Who::Client, client, session, true);
    write_all(
        &mut pair,
        &Who::Client,
        client,
        stream,
        &[header, b"after the fuzzing".to_vec()].concat(),
    );
    assert_eq!(
        data_of(&pair.server.take_events(events::STREAM_DATA), stream),
        (b"after the fuzzing".to_vec(), true)
    );
}

/// The HTTP/3 frame reader, SETTINGS, capsule and CONNECT codecs on
/// mutated input, chunked arbitrarily.
#[test]
fn fuzz_http3_frame_codecs() {
    use web_transport_proto::{Capsule, ConnectRequest, ConnectResponse};
    let test = "HTTP/3 frame codecs";
    let all = webtransport_seeds().all();
    let seed = seeded(0x5eed_0009);
    let mut rng = Rng::new(seed);
    for i in 0..iterations(600_000) {
        let input = pick_and_mutate(&mut rng, &all, &all);
        let cuts: Vec<usize> = (0..rng.below(4))
            .map(|_| rng.below(input.len() + 1))
            .collect();
        guarded(test, seed, i, &input, || {
            let mut reader = FrameReader::new(1024);
            let mut at = 0;
            let mut sorted = cuts.clone();
            sorted.sort_unstable();
            sorted.push(input.len());
            for cut in sorted {
                reader.push(&input[at..cut.max(at)]);
                at = cut.max(at);
                while let Ok(Some(frame)) = reader.next() {
                    let _ = frame.payload();
                    let _ = ConnectRequest::decode(&mut &frame.raw[..]);
                    let _ = ConnectResponse::decode(&mut &frame.raw[..]);
                    let mut rest = frame.payload();
                    while let Ok(_capsule) = Capsule::decode(&mut rest) {}
                }
            }
        });
    }
}

/// Regression: the frame reader took each frame off the front of its
/// buffer, moving everything behind it, so a peer that sent a window's
/// worth of tiny frames (2-byte unknown frames on its control stream, or
/// capsules) in one flight made the reader move O(n²) bytes: a megabyte
/// of them held the event loop for about five seconds (measured on the
/// development machine), and stream windows grow to 16 MB. Frames now come out
/// of a read position, and the buffer moves at most once per push.
#[test]
fn regression_tiny_frames_are_read_in_linear_time() {
    let mut reader = FrameReader::new(1024);
    let frames = 200_000;
    let wire: Vec<u8> = std::iter::repeat_n([0x21u8, 0x00], frames)
        .flatten()
        .collect();
    reader.push(&wire);
    let mut n = 0;
    while let Ok(Some(_)) = reader.next() {
        n += 1;
    }
    assert_eq!(n, frames);
    assert!(
        reader.moved() <= wire.len(),
        "{} bytes moved for {} bytes of frames",
        reader.moved(),
        wire.len()
    );
}

/// Regression: every DRAIN_WEBTRANSPORT_SESSION capsule and every GOAWAY
/// frame queued a `Draining` event, so a peer repeating them (3 bytes a
/// capsule) made the other side queue an event row per 3 bytes received,
/// hundreds of thousands per read of a stream window. One event per session
/// now.
#[test]
fn regression_repeated_drains_and_goaways_queue_one_event() {
    use super::webtransport::{established, open_session};
    use web_transport_proto::VarInt;
    let mut pair = Pair::new(
        |s| {
            s.alpn = vec!["h3".into()];
            s.web_transport = Some(4);
        },
        |c| {
            c.alpn = vec!["h3".into()];
            c.web_transport = Some(4);
        },
    );
    let (client, server) = established(&mut pair);
    let session = open_session(&mut pair, client, server, "/");
    let frame = |typ: u64, payload: &[u8]| {
        let mut out = Vec::new();
        VarInt::from_u64(typ).expect("type").encode(&mut out);
        VarInt::from_u64(payload.len() as u64)
            .expect("len")
            .encode(&mut out);
        out.extend_from_slice(payload);
        out
    };
    // 1000 DRAIN capsules in one DATA frame on the CONNECT stream…
    let drains: Vec<u8> = std::iter::repeat_n(frame(0x78ae, &[]), 1000)
        .flatten()
        .collect();
    let c = pair.client.endpoint.connection_mut(client).expect("client");
    c.quic
        .stream_send(session, &frame(0x00, &drains), false)
        .expect("send");
    // …and 1000 GOAWAY frames (above the session, which stays) on the
    // server's control stream.
    let goaways: Vec<u8> = std::iter::repeat_n(frame(0x07, &[0x04]), 1000)
        .flatten()
        .collect();
    let s = pair.server.endpoint.connection_mut(server).expect("server");
    s.quic.stream_send(3, &goaways, false).expect("send");
    pair.settle();
    assert_eq!(pair.server.take_events(events::WT_DRAINING).len(), 1);
    assert_eq!(pair.client.take_events(events::WT_DRAINING).len(), 1);
    assert!(pair.client.take_events(events::CLOSED).is_empty());
}

/// A relay that wraps packets of its own connection with a peer in relay
/// `DATA` (so that they arrive on a synthetic relayed path): the peer must
/// not start using that path for the connection itself, nor send anything
/// to a synthetic address on the network.
#[test]
fn a_relay_cannot_move_its_own_connection_onto_a_relayed_path() {
    use super::relay::World;
    let mut w = World::new();
    let (inner, target_side) = w.connect_relayed();
    let accepted = w.relay.take_established();
    let r_target = accepted[0];
    let t_via = w.target_via(target_side);
    for round in 0..20u32 {
        // Something for the relay to send the target: a ping.
        let c = w
            .relay
            .endpoint
            .connection_mut(r_target)
            .expect("relay side");
        c.quic.send_ack_eliciting().expect("ping");
        let packets = w.relay.drain();
        for (p, to) in packets {
            if to != addr(super::relay::TARGET) {
                continue;
            }
            let mut wrapped = wire::control(wire::DATA, 0x100 + round, &[]);
            wrapped.extend_from_slice(&p);
            if let Ok(c) = w.relay.endpoint.connection_mut(r_target) {
                let _ = c.quic.dgram_send(&wrapped);
            }
        }
        for (p, to) in w.relay.drain() {
            if to == addr(super::relay::TARGET) {
                w.target
                    .endpoint
                    .recv(&mut p.clone(), addr(super::relay::RELAY));
            }
        }
        w.target.poll();
        for (_, to) in w.target.drain_any() {
            let to = to.expect("an IPv4 destination, never a synthetic one");
            assert!(!crate::relay::is_synthetic(&to.ip()));
        }
        w.step();
    }
    let conn = w.target.endpoint.connection(t_via).expect("t_via");
    assert!(!conn.is_ended(), "the target's relay connection is alive");
    let wrapped = conn.relay.as_ref().map_or(0, |l| l.relay_datagrams);
    assert!(wrapped >= 20, "the wrapped packets arrived ({wrapped})");
    assert!(
        conn.quic
            .path_stats()
            .all(|p| !crate::relay::is_synthetic(&p.peer_addr.ip())),
        "no path of the relay connection is a relayed one"
    );
    assert_eq!(
        super::relay::transfer(&mut w, inner, target_side, 10_000, 500).len(),
        10_000
    );
}
