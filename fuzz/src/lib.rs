//! Fuzz harnesses for every native entry point of nquic that takes bytes a
//! peer controls. Each harness is a plain function of the fuzz input, so it
//! runs under libFuzzer (`cargo +nightly fuzz run <target>`, see
//! `fuzz_targets/`) and as a stable test (`tests/replay.rs`, which feeds it a
//! seed corpus plus deterministic pseudo-random inputs).
//!
//! * [`endpoint_recv`] — a server [`Endpoint`] fed arbitrary datagrams from
//!   arbitrary source addresses, drained with `poll_events` and `flush`;
//! * [`coalesce`] — `coalesce::packet_ends` and its invariants;
//! * [`handshake`] — a client and a server endpoint whose exchanged packets
//!   the input drops, duplicates, holds back (reorders), truncates, flips
//!   bits in or overwrites (with the default `plaintext` feature quiche's
//!   packet protection is a no-op, so the mutations reach CRYPTO frames, the
//!   TLS messages and the transport parameters);
//! * [`session_ticket`] — a client connection resuming from an arbitrary
//!   session ticket (`connect(..., sessionTicket)`);
//! * [`webtransport`] — an HTTP/3 server with WebTransport taking arbitrary
//!   bytes on request streams, unidirectional streams (control, QPACK,
//!   WebTransport and unknown types) and datagrams, next to real sessions
//!   that open, get answered and close.
//!
//! Every harness checks the batch-buffer invariants of the driver API (event
//! payloads and packets lie inside the caller's buffers, packets are at most
//! `MAX_SEND_UDP_PAYLOAD` bytes) and panics when one breaks.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use nquic::tls::certgen::{self, CertRequest, KeyType};
use nquic::config::{Config, ConfigParams, MAX_SEND_UDP_PAYLOAD};
use nquic::endpoint::{Endpoint, RecvOutcome, SharedConfig};
use nquic::events;
use nquic::tls::TlsParams;
use nquic::transmit;

pub const CLIENT_ADDR: &str = "127.0.0.1:40000";
pub const SERVER_ADDR: &str = "127.0.0.1:40001";

// ---------------------------------------------------------------------------
// Input reading

/// Reads decisions out of the fuzz input; yields zeros once it runs dry.
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// Up to `n` bytes (fewer when the input ends).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = start + n;
        &self.data[start..end]
    }
}

// ---------------------------------------------------------------------------
// Configs (built once per thread: certificate generation is slow)

fn params(is_server: bool) -> ConfigParams {
    ConfigParams {
        alpn: vec!["test".into()],
        tls: TlsParams {
            is_server,
            ..Default::default()
        },
        ..Default::default()
    }
}

struct Configs {
    server: SharedConfig,
    retry_server: SharedConfig,
    client: SharedConfig,
    h3_server: SharedConfig,
    h3_client: SharedConfig,
}

thread_local! {
    static CONFIGS: Configs = {
        let cert = certgen::generate(&CertRequest {
            subject_alt_names: &["localhost".to_string()],
            key_type: KeyType::EcdsaP256,
            days: 30,
            ca: None,
            is_ca: false,
        })
        .expect("certificate");
        let mut sp = params(true);
        sp.tls.key = Some(cert.key_pem.clone().into_bytes());
        sp.tls.certs = vec![cert.cert_pem.clone().into_bytes()];
        let mut rp = sp.clone();
        rp.retry = true;
        let mut cp = params(false);
        cp.tls.verify_peer = true;
        cp.tls.ca = vec![cert.cert_pem.into_bytes()];
        let h3 = |p: &ConfigParams| {
            let mut p = p.clone();
            p.alpn = vec!["h3".into()];
            p.web_transport = Some(4);
            Rc::new(RefCell::new(Config::new(&p).expect("h3 config")))
        };
        Configs {
            server: Rc::new(RefCell::new(Config::new(&sp).expect("server config"))),
            retry_server: Rc::new(RefCell::new(Config::new(&rp).expect("retry server config"))),
            client: Rc::new(RefCell::new(Config::new(&cp).expect("client config"))),
            h3_server: h3(&sp),
            h3_client: h3(&cp),
        }
    };
}

pub fn server_config() -> SharedConfig {
    CONFIGS.with(|c| c.server.clone())
}

/// A server config that validates addresses with Retry first.
pub fn retry_server_config() -> SharedConfig {
    CONFIGS.with(|c| c.retry_server.clone())
}

pub fn client_config() -> SharedConfig {
    CONFIGS.with(|c| c.client.clone())
}

// ---------------------------------------------------------------------------
// One endpoint plus the batch buffers the JavaScript driver would own

pub struct Side {
    pub endpoint: Endpoint,
    inbox: Vec<u8>,
    records: Vec<f64>,
    out: Vec<u8>,
    meta: Vec<u32>,
    /// Event rows seen, by kind (index = kind).
    pub seen: [usize; 64],
    /// Sessions of `WT_REQUEST` rows (server) and 2xx `WT_RESPONSE` rows (client).
    pub sessions: Vec<u64>,
    /// Connections of `ESTABLISHED` rows.
    pub established: Vec<u32>,
}

/// Whether `kind` is an event kind of `events.rs`.
fn known_kind(kind: f64) -> bool {
    kind.fract() == 0.0
        && ((events::ESTABLISHED..=events::RELAY_REGISTERED).contains(&kind)
            || (events::WT_REQUEST..=events::WT_DRAINING).contains(&kind))
}

impl Side {
    pub fn new(addr: &str) -> Side {
        Side {
            endpoint: Endpoint::new(addr.parse().expect("addr")).expect("endpoint"),
            // Small-ish buffers so that "batch full" paths run too.
            inbox: vec![0; 64 * 1024],
            records: vec![0.0; events::STRIDE * 32],
            out: vec![0; 16 * 1024],
            meta: vec![0; transmit::STRIDE * 16],
            seen: [0; 64],
            sessions: Vec::new(),
            established: Vec::new(),
        }
    }

    pub fn server() -> Side {
        Side::server_with(false)
    }

    pub fn server_with(retry: bool) -> Side {
        let mut side = Side::new(SERVER_ADDR);
        let config = if retry {
            retry_server_config()
        } else {
            server_config()
        };
        side.endpoint.set_server(Some(config), 16);
        side
    }

    /// Drains every pending event, checking each row.
    pub fn poll(&mut self) {
        for _ in 0..10_000 {
            let rows = self
                .endpoint
                .poll_events(&mut self.inbox, &mut self.records);
            assert!(
                rows * events::STRIDE <= self.records.len(),
                "rows overflow records"
            );
            if rows == 0 {
                return;
            }
            for r in self.records.chunks(events::STRIDE).take(rows) {
                let kind = r[0];
                assert!(known_kind(kind), "unknown event kind {kind}");
                self.seen[kind as usize] += 1;
                if kind == events::ESTABLISHED {
                    self.established.push(r[1] as u32);
                }
                if kind == events::WT_REQUEST || (kind == events::WT_RESPONSE && r[3] == 200.0) {
                    self.sessions.push(r[2] as u64);
                }
                let span = if kind == events::STREAM_DATA || kind == events::WT_REQUEST {
                    Some((r[3], r[4]))
                } else if kind == events::WT_CLOSED {
                    Some((r[4], r[5]))
                } else if kind == events::DATAGRAM
                    || kind == events::KEYLOG
                    || kind == events::QLOG
                    || kind == events::WT_DATAGRAM
                {
                    Some((r[2], r[3]))
                } else {
                    None
                };
                if let Some((offset, len)) = span {
                    assert!(offset >= 0.0 && len >= 0.0, "negative span");
                    assert!(
                        (offset + len) as usize <= self.inbox.len(),
                        "payload outside the inbox"
                    );
                }
            }
        }
        panic!("poll_events never drained");
    }

    /// Takes every outgoing packet, checking each meta row.
    pub fn drain(&mut self) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut packets = Vec::new();
        for _ in 0..10_000 {
            let n = self.endpoint.flush(&mut self.out, &mut self.meta);
            assert!(
                n * transmit::STRIDE <= self.meta.len(),
                "packets overflow meta"
            );
            if n == 0 {
                return packets;
            }
            for row in self.meta.chunks(transmit::STRIDE).take(n) {
                let (o, l) = (row[0] as usize, row[1] as usize);
                assert!(l > 0 && l <= MAX_SEND_UDP_PAYLOAD, "packet length {l}");
                assert!(o + l <= self.out.len(), "packet outside the out buffer");
                assert!(row[2] <= 0xffff, "port {}", row[2]);
                let ip: IpAddr = match row[3] {
                    4 => Ipv4Addr::from(row[4]).into(),
                    6 => {
                        let mut b = [0u8; 16];
                        for (i, w) in row[4..8].iter().enumerate() {
                            b[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
                        }
                        Ipv6Addr::from(b).into()
                    }
                    f => panic!("unknown address family {f}"),
                };
                packets.push((
                    self.out[o..o + l].to_vec(),
                    SocketAddr::new(ip, row[2] as u16),
                ));
            }
        }
        let mut first_bytes = std::collections::BTreeMap::new();
        let mut dests = std::collections::BTreeMap::new();
        for (p, to) in &packets {
            *first_bytes.entry(p[0] & 0xf0).or_insert(0usize) += 1;
            *dests.entry(*to).or_insert(0usize) += 1;
        }
        panic!(
            "flush never drained: {} packets over 10000 calls, {} connections, first-byte classes {:?}, destinations {:?}, first packets {:?}",
            packets.len(),
            self.endpoint.connection_count(),
            first_bytes,
            dests,
            packets.iter().take(3).map(|(p, _)| (p.len(), p.iter().take(120).map(|b| format!("{b:02x}")).collect::<String>())).collect::<Vec<_>>()
        );
    }

    /// One driver turn: events, packets, expired timers.
    pub fn turn(&mut self) -> Vec<(Vec<u8>, SocketAddr)> {
        self.poll();
        let packets = self.drain();
        if let Some(ms) = self.endpoint.next_timeout() {
            assert!(ms.is_finite() && ms >= 0.0, "next_timeout {ms}");
            if ms == 0.0 {
                self.endpoint.on_timeout();
            }
        }
        self.poll();
        packets
    }
}

/// A source address chosen by the input: a handful of IPv4 ports (so that
/// one "peer" can keep talking), plus IPv6 and IPv4-mapped sources.
fn source(sel: u8) -> SocketAddr {
    let port = 40000 + u16::from(sel & 7);
    match sel >> 6 {
        0 | 1 => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
        2 => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port),
        _ => SocketAddr::new(Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped().into(), port),
    }
}

// ---------------------------------------------------------------------------
// (a) endpoint_recv

/// A server endpoint fed arbitrary datagrams. Input: a sequence of commands,
/// each one control byte then its arguments:
/// * `ctl & 3 == 0 | 1`: a datagram — source selector byte, 2-byte length
///   (mod 1500), that many bytes; `ctl & 4` pads it with zeros to 1200 bytes
///   (the minimum for a client Initial), `ctl & 8` sets the long-header and
///   fixed bits of the first byte;
/// * `ctl & 3 == 2`: a driver turn (poll, flush, timers); packets the server
///   sends are dropped;
/// * `ctl & 3 == 3`: stop (`ctl & 4`) or start accepting connections,
///   with Retry address validation when `ctl & 8`.
pub fn endpoint_recv(data: &[u8]) {
    let mut server = Side::server();
    let mut input = Input::new(data);
    let mut commands = 0;
    while !input.is_empty() && commands < 256 {
        commands += 1;
        let ctl = input.u8();
        match ctl & 3 {
            0 | 1 => {
                let from = source(input.u8());
                let len = usize::from(input.u16()) % 1500;
                let mut datagram = input.bytes(len).to_vec();
                if ctl & 4 != 0 && datagram.len() < 1200 {
                    datagram.resize(1200, 0);
                }
                if ctl & 8 != 0 {
                    if let Some(b) = datagram.first_mut() {
                        *b |= 0xc0;
                    }
                }
                let outcome = server.endpoint.recv(&mut datagram, from);
                let _ = outcome == RecvOutcome::Dropped;
            }
            2 => {
                server.turn();
            }
            _ => {
                if ctl & 4 != 0 {
                    server.endpoint.set_server(None, 16);
                } else if ctl & 8 != 0 {
                    server.endpoint.set_server(Some(retry_server_config()), 16);
                } else {
                    server.endpoint.set_server(Some(server_config()), 16);
                }
            }
        }
    }
    server.turn();
    server.turn();
}

// ---------------------------------------------------------------------------
// (b) coalesce

pub fn coalesce(data: &[u8]) {
    let mut ends = Vec::new();
    nquic::coalesce::packet_ends(data, &mut ends);
    assert!(!ends.is_empty(), "no ends");
    assert_eq!(
        *ends.last().unwrap(),
        data.len(),
        "last end != datagram length"
    );
    let mut previous = 0;
    for (i, &end) in ends.iter().enumerate() {
        if i > 0 || !data.is_empty() {
            assert!(end > previous, "ends not strictly increasing: {ends:?}");
        }
        previous = end;
    }
    // Idempotent on a reused vector, and every non-final piece is a long
    // header packet.
    let mut again = vec![7usize; 3];
    nquic::coalesce::packet_ends(data, &mut again);
    assert_eq!(ends, again);
    let mut start = 0;
    for &end in &ends[..ends.len() - 1] {
        assert!(data[start] & 0x80 != 0, "a short header packet was split");
        start = end;
    }
}

// ---------------------------------------------------------------------------
// (c) handshake

/// A client connecting to a server through a lossy, hostile "network" the
/// input controls. The first byte's top bit makes the server validate
/// addresses with Retry (so Retry packets and tokens are mutated too). Then,
/// per packet in flight, one decision byte:
/// 0–3 deliver · 4 drop · 5 duplicate · 6 hold back one round (reorder) ·
/// 7 flip 1–4 bits · 8 overwrite a run with input bytes · 9 truncate ·
/// 10 deliver from another source port (migration / spoofing) ·
/// 11+ deliver. Once the input ends everything is delivered, so a handshake
/// the input did not break completes; then the pair exchanges a stream and
/// a datagram (no integrity check: in plaintext mode mutations can forge
/// data).
pub fn handshake(data: &[u8]) {
    let mut input = Input::new(data);
    let retry = input.u8() & 0x80 != 0;
    let mut client = Side::new(CLIENT_ADDR);
    let mut server = Side::server_with(retry);
    let client_addr: SocketAddr = CLIENT_ADDR.parse().unwrap();
    let server_addr: SocketAddr = SERVER_ADDR.parse().unwrap();
    let conn = client
        .endpoint
        .connect(
            &client_config(),
            Some("localhost"),
            Some(nquic::tls::verify::Expected::Name("localhost".into())),
            None,
            server_addr,
        )
        .expect("connect");
    let mut held: Vec<(bool, Vec<u8>, SocketAddr)> = Vec::new();
    let mut quiet_rounds = 0;
    let mut sent_app_data = false;
    for round in 0..200 {
        let mut flight: Vec<(bool, Vec<u8>, SocketAddr)> = Vec::new();
        flight.append(&mut held);
        flight.extend(
            client
                .turn()
                .into_iter()
                .map(|(p, _)| (true, p, client_addr)),
        );
        flight.extend(
            server
                .turn()
                .into_iter()
                .map(|(p, _)| (false, p, server_addr)),
        );
        if flight.is_empty() {
            quiet_rounds += 1;
            if input.is_empty() && (quiet_rounds > 2 || sent_app_data) {
                if !sent_app_data && round < 150 {
                    sent_app_data = true;
                    if let Ok(c) = client.endpoint.connection_mut(conn) {
                        if c.is_established() {
                            if let Ok(Some(id)) = c.stream_open(true) {
                                let _ = c.stream_write(id, &[0x5a; 3000], true);
                            }
                            let _ = c.datagram_send(b"datagram");
                        }
                    }
                    continue;
                }
                break;
            }
            continue;
        }
        quiet_rounds = 0;
        for (to_server, mut packet, from) in flight {
            let decision = if input.is_empty() { 0 } else { input.u8() % 16 };
            let mut from = from;
            let mut copies = 1;
            match decision {
                4 => copies = 0,
                5 => copies = 2,
                6 => {
                    held.push((to_server, packet, from));
                    continue;
                }
                7 => {
                    for _ in 0..(input.u8() % 4 + 1) {
                        let at = usize::from(input.u16()) % packet.len().max(1);
                        if let Some(b) = packet.get_mut(at) {
                            *b ^= 1 << (input.u8() % 8);
                        }
                    }
                }
                8 => {
                    let at = usize::from(input.u16()) % packet.len().max(1);
                    let n = usize::from(input.u8() % 64);
                    let bytes = input.bytes(n);
                    for (i, &b) in bytes.iter().enumerate() {
                        if let Some(slot) = packet.get_mut(at + i) {
                            *slot = b;
                        }
                    }
                }
                9 => {
                    let keep = usize::from(input.u16()) % packet.len().max(1);
                    packet.truncate(keep);
                }
                10 => from = source(input.u8()),
                _ => {}
            }
            for _ in 0..copies {
                let mut p = packet.clone();
                if to_server {
                    server.endpoint.recv(&mut p, from);
                } else {
                    client.endpoint.recv(&mut p, from);
                }
            }
        }
        // Occasionally close the client mid-way (unless told to steer clear
        // of the known endless-ACK bug, see tests/regressions.rs).
        if !input.is_empty() && input.u8() == 0xff && !skip_known_bugs() {
            let _ = client
                .endpoint
                .connection_mut(conn)
                .map(|c| c.close(true, 7, b"fuzz"));
        }
    }
    client.turn();
    server.turn();
    let _ = client.endpoint.take_close_info(conn);
}

/// `NQUIC_FUZZ_SKIP_KNOWN=1` keeps the harnesses away from bugs already
/// found and reproduced in `tests/regressions.rs`, so that fuzzing can find
/// new ones.
pub fn skip_known_bugs() -> bool {
    thread_local! {
        static SKIP: bool = std::env::var_os("NQUIC_FUZZ_SKIP_KNOWN").is_some_and(|v| v != "0");
    }
    SKIP.with(|s| *s)
}

// ---------------------------------------------------------------------------
// (d) session_ticket

/// A client resuming with an arbitrary session ticket (what an application
/// stored from an earlier connection, or a hostile store handed it), then
/// talking to a real server.
pub fn session_ticket(data: &[u8]) {
    let mut client = Side::new(CLIENT_ADDR);
    let mut server = Side::server();
    let server_addr: SocketAddr = SERVER_ADDR.parse().unwrap();
    let client_addr: SocketAddr = CLIENT_ADDR.parse().unwrap();
    let Ok(_conn) = client.endpoint.connect(
        &client_config(),
        Some("localhost"),
        Some(nquic::tls::verify::Expected::Name("localhost".into())),
        Some(data),
        server_addr,
    ) else {
        return;
    };
    for _ in 0..20 {
        let to_server = client.turn();
        let to_client = server.turn();
        if to_server.is_empty() && to_client.is_empty() {
            break;
        }
        for (mut p, _) in to_server {
            server.endpoint.recv(&mut p, client_addr);
        }
        for (mut p, _) in to_client {
            client.endpoint.recv(&mut p, server_addr);
        }
    }
}

// ---------------------------------------------------------------------------
// (e) webtransport

/// An HTTP/3 client and server, both with WebTransport, established; then
/// the input drives the client's raw actions and both sides' session
/// commands. Each command is a control byte `ctl`, then its arguments:
/// * `ctl % 8 == 0`: a new bidirectional stream, `1`: a new unidirectional
///   stream, `2`: more on the latest of those — a length byte, that many
///   bytes (raw: stream types, signals, frames, capsules), FIN when `ctl & 8`;
/// * `3`: a datagram (length byte, bytes);
/// * `4`: a well-formed session request (`ctl & 8`: with an extra header);
/// * `5`: the server answers its oldest request (status byte: < 128 → 200);
/// * `6`: a close of a known session by the client (`ctl & 8`) or the server,
///   with a code byte and a reason of up to 8 input bytes;
/// * `7`: a pair step (both sides turn, packets delivered).
pub fn webtransport(data: &[u8]) {
    let mut input = Input::new(data);
    let mut client = Side::new(CLIENT_ADDR);
    let mut server = Side::new(SERVER_ADDR);
    server
        .endpoint
        .set_server(Some(CONFIGS.with(|c| c.h3_server.clone())), 16);
    let server_addr: SocketAddr = SERVER_ADDR.parse().unwrap();
    let client_addr: SocketAddr = CLIENT_ADDR.parse().unwrap();
    let Ok(conn) = client.endpoint.connect(
        &CONFIGS.with(|c| c.h3_client.clone()),
        Some("localhost"),
        Some(nquic::tls::verify::Expected::Name("localhost".into())),
        None,
        server_addr,
    ) else {
        return;
    };
    let mut step = |client: &mut Side, server: &mut Side| {
        let to_server = client.turn();
        let to_client = server.turn();
        let moved = to_server.len() + to_client.len();
        for (mut p, _) in to_server {
            server.endpoint.recv(&mut p, client_addr);
        }
        for (mut p, _) in to_client {
            client.endpoint.recv(&mut p, server_addr);
        }
        moved
    };
    for _ in 0..20 {
        if step(&mut client, &mut server) == 0 {
            break;
        }
    }
    let server_conn = server.established.first().copied();
    let mut latest: Option<u64> = None;
    let mut answered = 0;
    while !input.is_empty() {
        let ctl = input.u8();
        let fin = ctl & 8 != 0;
        match ctl % 8 {
            op @ (0..=2) => {
                let len = usize::from(input.u8());
                let bytes = input.bytes(len).to_vec();
                let Ok(c) = client.endpoint.connection_mut(conn) else {
                    return;
                };
                if op < 2 {
                    latest = c.stream_open(op == 0).ok().flatten();
                }
                if let Some(id) = latest {
                    let _ = c.stream_write(id, &bytes, fin);
                }
            }
            3 => {
                let len = usize::from(input.u8());
                let bytes = input.bytes(len).to_vec();
                if let Ok(c) = client.endpoint.connection_mut(conn) {
                    let _ = c.datagram_send(&bytes);
                }
            }
            4 => {
                let headers = if fin {
                    vec![("origin".to_string(), "https://fuzz.example".to_string())]
                } else {
                    Vec::new()
                };
                if let Ok(c) = client.endpoint.connection_mut(conn) {
                    let _ = c.wt_connect("localhost", "/fuzz", &headers);
                }
            }
            5 => {
                let status = if input.u8() < 128 { 200 } else { 404 };
                if let (Some(&session), Some(id)) = (server.sessions.get(answered), server_conn) {
                    answered += 1;
                    if let Ok(c) = server.endpoint.connection_mut(id) {
                        let _ = c.wt_respond(session, status);
                    }
                }
            }
            6 => {
                let code = u32::from(input.u8());
                let reason = String::from_utf8_lossy(input.bytes(8)).into_owned();
                let (side, id) = if fin {
                    (&mut client, Some(conn))
                } else {
                    (&mut server, server_conn)
                };
                let session = side.sessions.first().copied();
                if let (Some(session), Some(id)) = (session, id) {
                    if let Ok(c) = side.endpoint.connection_mut(id) {
                        let _ = c.wt_close_session(session, code, &reason);
                    }
                }
            }
            _ => {
                step(&mut client, &mut server);
            }
        }
    }
    for _ in 0..50 {
        if step(&mut client, &mut server) == 0 {
            break;
        }
    }
}

// ---------------------------------------------------------------------------
// Seeds and replay

/// The first flight of a real client (its Initial), for seeding.
pub fn client_initial() -> Vec<u8> {
    let mut client = Side::new(CLIENT_ADDR);
    client
        .endpoint
        .connect(
            &client_config(),
            Some("localhost"),
            None,
            None,
            SERVER_ADDR.parse().unwrap(),
        )
        .expect("connect");
    client.drain().into_iter().next().expect("an Initial").0
}

/// Every packet of a clean handshake plus a short exchange, in order, with
/// `true` for client-to-server.
pub fn handshake_transcript() -> Vec<(bool, Vec<u8>)> {
    let mut client = Side::new(CLIENT_ADDR);
    let mut server = Side::server();
    let server_addr: SocketAddr = SERVER_ADDR.parse().unwrap();
    let client_addr: SocketAddr = CLIENT_ADDR.parse().unwrap();
    let conn = client
        .endpoint
        .connect(&client_config(), Some("localhost"), None, None, server_addr)
        .expect("connect");
    let mut transcript = Vec::new();
    let mut wrote = false;
    for _ in 0..50 {
        let to_server = client.turn();
        let to_client = server.turn();
        if to_server.is_empty() && to_client.is_empty() {
            if wrote {
                break;
            }
            wrote = true;
            if let Ok(c) = client.endpoint.connection_mut(conn) {
                if let Ok(Some(id)) = c.stream_open(true) {
                    let _ = c.stream_write(id, b"hello", true);
                }
                let _ = c.datagram_send(b"dgram");
            }
            continue;
        }
        for (p, _) in to_server {
            transcript.push((true, p.clone()));
            server.endpoint.recv(&mut p.clone(), client_addr);
        }
        for (p, _) in to_client {
            transcript.push((false, p.clone()));
            client.endpoint.recv(&mut p.clone(), server_addr);
        }
    }
    transcript
}

/// Encodes one datagram as an `endpoint_recv` command.
pub fn recv_command(datagram: &[u8], source: u8) -> Vec<u8> {
    let mut cmd = vec![0u8, source];
    cmd.extend_from_slice(&(datagram.len() as u16).to_be_bytes());
    cmd.extend_from_slice(datagram);
    cmd
}

/// Seed inputs for a target.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "endpoint_recv" => {
            let initial = client_initial();
            let transcript = handshake_transcript();
            let mut all_client = Vec::new();
            for (to_server, p) in &transcript {
                if *to_server {
                    all_client.extend(recv_command(p, 0));
                    all_client.push(2);
                }
            }
            let mut two_sources = recv_command(&initial, 0);
            two_sources.extend(recv_command(&initial, 1));
            two_sources.push(2);
            let mut vn = initial.clone();
            vn[1..5].copy_from_slice(&[0x1a, 0x2a, 0x3a, 0x4a]);
            vec![
                recv_command(&initial, 0),
                two_sources,
                all_client,
                recv_command(&vn, 3),
                recv_command(
                    &[
                        0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                    ],
                    0,
                ),
                vec![4, 0, 0, 10, 0xc0, 0, 0, 0, 1, 8],
            ]
        }
        "coalesce" => {
            let mut out: Vec<Vec<u8>> = handshake_transcript()
                .into_iter()
                .map(|(_, p)| p)
                .take(8)
                .collect();
            out.push(vec![0xc0, 0, 0, 0, 1, 0, 0, 0x40, 0x10]);
            out.push(vec![]);
            out
        }
        "handshake" => vec![
            vec![],
            vec![0; 16],
            vec![4, 0, 0, 0, 4],
            vec![5, 5, 5, 5, 6, 6, 0, 0],
            vec![7, 0, 0, 100, 3, 0, 0],
            vec![0, 8, 0, 200, 32, 1, 2, 3, 4, 5, 6, 7, 8],
            vec![9, 0, 50, 0, 10, 0x81],
        ],
        "session_ticket" => vec![vec![], vec![0; 64], b"not a ticket".to_vec()],
        "webtransport" => vec![
            vec![],
            // A session: request, step, answer 200, step, a WebTransport uni
            // stream and bidi stream for session 0, a datagram, then a close.
            vec![4, 7, 7, 5, 0, 7, 7, 1, 4, 0x40, 0x54, 0, b'x', 7, 0, 5, 0x40, 0x41, 0, b'h', b'i', 3, 2, 0, 7, 7, 7, 6, 9, b'b', b'y', b'e', 7],
            // A plain request stream with garbage frames, a second control stream.
            vec![8, 6, 1, 4, 0xff, 0xff, 0, 0, 1, 3, 0, 4, 0, 7, 7],
            // A capsule on the session's stream before its answer, then a refusal.
            vec![4, 7, 7, 5, 200, 7, 6, 1, b'x', 7],
        ],
        _ => Vec::new(),
    }
}

/// `main` of a fuzz target built without libFuzzer: runs `target` once on
/// every file (or every file of every directory) given on the command line.
pub fn replay_main(target: fn(&[u8])) {
    let mut count = 0;
    for arg in std::env::args().skip(1) {
        let path = std::path::Path::new(&arg);
        let files: Vec<std::path::PathBuf> = if path.is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(path)
                .expect("read_dir")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            v.sort();
            v
        } else {
            vec![path.to_path_buf()]
        };
        for file in files {
            let data = std::fs::read(&file).expect("read input");
            target(&data);
            count += 1;
        }
    }
    eprintln!("replayed {count} inputs without a failure");
}
