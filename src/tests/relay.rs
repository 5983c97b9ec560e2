//! Relaying in memory: a relay, a target registered with it and a dialer,
//! their packets moved between three endpoints by address.

use std::net::SocketAddr;

use super::pair::{params, shared, Side};
use crate::config::ConfigParams;
use crate::endpoint::SharedConfig;
use crate::events;
use crate::relay::service::RelayLimits;
use crate::tls::certgen::{self, CertRequest, GeneratedCert, KeyType};

pub(super) const RELAY: &str = "127.0.0.1:41000";
pub(super) const TARGET: &str = "127.0.0.1:41001";
pub(super) const DIALER: &str = "127.0.0.1:41002";

pub(super) fn cert(name: &str) -> GeneratedCert {
    certgen::generate(&CertRequest {
        subject_alt_names: &[name.to_string()],
        key_type: KeyType::EcdsaP256,
        days: 30,
        ca: None,
        is_ca: false,
    })
    .expect("cert")
}

pub(super) fn with_identity(mut p: ConfigParams, id: &GeneratedCert) -> ConfigParams {
    p.tls.key = Some(id.key_pem.clone().into_bytes());
    p.tls.certs = vec![id.cert_pem.clone().into_bytes()];
    p
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// The connection to the relay that relayed connection `inner` of `side`
/// travels through.
fn via(side: &Side, inner: u32) -> u32 {
    side.endpoint
        .connection(inner)
        .ok()
        .and_then(|c| c.relay_path)
        .map(|p| p.via)
        .expect("a relayed connection")
}

pub(super) struct World {
    pub(super) relay: Side,
    pub(super) target: Side,
    pub(super) dialer: Side,
    pub(super) target_id: GeneratedCert,
    relay_cert: GeneratedCert,
}

impl World {
    pub(super) fn new() -> World {
        World::with_target(|_| {})
    }

    /// A world whose target's server options are tweaked.
    pub(super) fn with_target(tweak: impl FnOnce(&mut ConfigParams)) -> World {
        let relay_cert = cert("localhost");
        let target_id = cert("target");
        let mut relay = Side::new(RELAY);
        let mut rp = with_identity(params(true), &relay_cert);
        rp.tls.request_cert = true;
        relay.endpoint.set_server(Some(shared(&rp)), usize::MAX);
        relay.endpoint.enable_relay(Some(RelayLimits {
            max_flows: 8,
            flow_rate: 0,
            policy: false,
        }));
        let mut target = Side::new(TARGET);
        let mut tp = with_identity(params(true), &target_id);
        tweak(&mut tp);
        target.endpoint.set_server(Some(shared(&tp)), usize::MAX);
        World {
            relay,
            target,
            dialer: Side::new(DIALER),
            target_id,
            relay_cert,
        }
    }

    pub(super) fn client_config(&self, id: Option<&GeneratedCert>) -> SharedConfig {
        let mut p = params(false);
        p.tls.verify_peer = true;
        p.tls.ca = vec![self.relay_cert.cert_pem.clone().into_bytes()];
        if let Some(id) = id {
            p = with_identity(p, id);
        }
        shared(&p)
    }

    pub(super) fn step(&mut self) -> usize {
        let mut moved = 0;
        let outgoing = [
            (RELAY, self.relay.drain()),
            (TARGET, self.target.drain()),
            (DIALER, self.dialer.drain()),
        ];
        for (from, packets) in outgoing {
            for (mut p, to) in packets {
                moved += 1;
                let side = match to.to_string().as_str() {
                    RELAY => &mut self.relay,
                    TARGET => &mut self.target,
                    DIALER => &mut self.dialer,
                    _ => continue,
                };
                side.endpoint.recv(&mut p, addr(from));
            }
        }
        for side in [&mut self.relay, &mut self.target, &mut self.dialer] {
            side.poll();
        }
        moved
    }

    pub(super) fn settle(&mut self) {
        for _ in 0..2000 {
            if self.step() == 0 {
                return;
            }
        }
        panic!("the world never went quiet");
    }

    /// The dialer's connection to the relay that `inner` travels through.
    pub(super) fn dialer_via(&self, inner: u32) -> u32 {
        via(&self.dialer, inner)
    }

    /// The target's connection to the relay that `inner` travels through.
    pub(super) fn target_via(&self, inner: u32) -> u32 {
        via(&self.target, inner)
    }

    /// Target registered, dialer connected through the relay: the dialer's
    /// relayed connection and the target's side of it.
    pub(super) fn connect_relayed(&mut self) -> (u32, u32) {
        let target_config = self.client_config(Some(&self.target_id));
        let t_via = self
            .target
            .endpoint
            .connect(&target_config, Some("localhost"), None, None, addr(RELAY))
            .expect("target to relay");
        self.settle();
        self.target
            .endpoint
            .relay_register(t_via)
            .expect("register");
        self.settle();
        let registered = self.target.take_events(events::RELAY_REGISTERED);
        assert_eq!(registered.len(), 1);
        assert_eq!(registered[0].a, 0.0, "registration accepted");
        assert_eq!(self.relay.endpoint.relay_counts(), (0, 1));

        let dialer_config = self.client_config(None);
        let d_via = self
            .dialer
            .endpoint
            .connect(&dialer_config, Some("localhost"), None, None, addr(RELAY))
            .expect("dialer to relay");
        self.settle();
        let fingerprint = crate::relay::fingerprint(&self.target_id.cert_der);
        let inner = self
            .dialer
            .endpoint
            .connect_relayed(&dialer_config, d_via, fingerprint, None, None)
            .expect("relayed connect");
        self.settle();
        let opened = self.dialer.take_events(events::ESTABLISHED);
        assert!(
            opened.iter().any(|e| e.conn == inner),
            "dialer side established"
        );
        let accepted = self.target.take_established();
        assert_eq!(
            accepted.len(),
            2,
            "the target's relay connection and the relayed one"
        );
        let target_side = *accepted.iter().find(|c| **c != t_via).expect("relayed");
        assert!(self.target.endpoint.is_relayed(target_side));
        assert!(self.dialer.endpoint.is_relayed(inner));
        (inner, target_side)
    }
}

/// Sends `len` bytes on a new stream of `inner` and returns what the target
/// received on `target_side`, stepping the world at most `rounds` times.
pub(super) fn transfer(
    w: &mut World,
    inner: u32,
    target_side: u32,
    len: usize,
    rounds: usize,
) -> Vec<u8> {
    let conn = w.dialer.endpoint.connection_mut(inner).expect("conn");
    let stream = conn.stream_open(true).expect("open").expect("credit");
    let data: Vec<u8> = (0..len as u32).map(|i| (i * 7) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::with_capacity(len);
    for _ in 0..rounds {
        if sent < data.len() {
            let conn = w.dialer.endpoint.connection_mut(inner).expect("conn");
            let n = conn
                .stream_write(stream, &data[sent..], true)
                .expect("write");
            if n > 0 {
                sent += n as usize;
            }
        }
        let moved = w.step();
        for e in w.target.take_events(events::STREAM_DATA) {
            if e.conn == target_side {
                got.extend_from_slice(&e.payload);
            }
        }
        if moved == 0 && sent == data.len() {
            break;
        }
    }
    assert!(got == data[..got.len()], "the bytes arrived unchanged");
    got
}

#[test]
fn a_stream_crosses_the_relay_intact() {
    let mut w = World::new();
    let (inner, target_side) = w.connect_relayed();
    let got = transfer(&mut w, inner, target_side, 200_000, 1000);
    assert_eq!(got.len(), 200_000);
    assert_eq!(w.relay.endpoint.relay_counts().0, 1);
}

/// The relay connection's congestion window, not the relayed connection's,
/// limits a bulk transfer: the datagram queue fills up and the relayed
/// connection must wait for room. (Before the wake-up threshold, the two
/// woke each other forever inside one `flush` once the queue was full.)
#[test]
fn a_bulk_transfer_waits_for_room_in_the_relay_connection() {
    let mut w = World::new();
    let (inner, target_side) = w.connect_relayed();
    let got = transfer(&mut w, inner, target_side, 6_000_000, 20_000);
    assert_eq!(got.len(), 6_000_000);
}

#[test]
fn closing_the_relay_connection_ends_the_relayed_one() {
    let mut w = World::new();
    let (inner, target_side) = w.connect_relayed();
    let via = w.dialer_via(inner);
    w.dialer
        .endpoint
        .connection_mut(via)
        .expect("via")
        .close(true, 0, b"");
    w.settle();
    let closed = w.dialer.take_events(events::CLOSED);
    assert!(closed.iter().any(|e| e.conn == inner));
    let info = w.dialer.endpoint.take_close_info(inner).expect("info");
    assert_eq!(info.error.map(|e| e.code), Some("ERR_QUIC_RELAY_CLOSED"));
    assert!(w
        .target
        .take_events(events::CLOSED)
        .iter()
        .any(|e| e.conn == target_side));
    assert_eq!(w.relay.endpoint.relay_counts(), (0, 1));
    assert!(
        !w.dialer.endpoint.is_relayed(inner),
        "the relayed connection is gone"
    );
}

/// The relay connection cannot send (no window left, nothing comes back) and
/// its datagram queue is full while the relayed connection has data: the
/// relayed one must wait instead of waking the other forever.
#[test]
fn a_blocked_relay_connection_makes_the_relayed_one_wait() {
    let mut w = World::new();
    let (inner, _) = w.connect_relayed();
    let via = w.dialer_via(inner);
    let conn = w.dialer.endpoint.connection_mut(inner).expect("conn");
    let stream = conn.stream_open(true).expect("open").expect("credit");
    assert!(
        conn.stream_write(stream, &[7u8; 5000], false)
            .expect("write")
            > 0
    );
    let outer = w.dialer.endpoint.connection_mut(via).expect("via");
    for _ in 0..300 {
        outer.quic.dgram_send(&[1u8; 1000]).expect("queued");
    }
    // Whatever the dialer sends is lost, so no acknowledgment frees its window.
    for _ in 0..5 {
        let sent = w.dialer.drain();
        assert!(
            sent.len() < 50,
            "sent {} packets without any ack",
            sent.len()
        );
    }
    let queued = w
        .dialer
        .endpoint
        .connection(via)
        .expect("via")
        .quic
        .dgram_send_queue_len();
    assert!(
        queued > 200,
        "the relay connection's queue stayed full ({queued})"
    );
}

/// A peer registered at a relay (reachable through it) also dials through
/// the same relay connection. The relay numbers the flows it opens toward
/// the peer itself, and the peer numbers the flows it dials on: the peer
/// must never pick a number the relay already gave an incoming flow (the
/// relay would take its `OPEN` for data of that flow and hand its packets
/// to the other peer), and the relay must never give a new flow's target
/// end the number its dialer end uses on the same connection.
#[test]
fn a_registered_peer_dials_out_on_a_flow_of_its_own() {
    let mut w = World::new();
    let (inner, target_side) = w.connect_relayed();
    let t_via = w.target_via(target_side);
    // The dialer becomes reachable through the relay too.
    let dialer_id = cert("dialer");
    let server = with_identity(params(true), &dialer_id);
    w.dialer
        .endpoint
        .set_server(Some(shared(&server)), usize::MAX);
    let config = w.client_config(Some(&dialer_id));
    let d_reg = w
        .dialer
        .endpoint
        .connect(&config, Some("localhost"), None, None, addr(RELAY))
        .expect("dialer to relay");
    w.settle();
    w.dialer.endpoint.relay_register(d_reg).expect("register");
    w.settle();
    let registered = w.dialer.take_events(events::RELAY_REGISTERED);
    assert_eq!(registered.first().map(|e| e.a), Some(0.0), "registered");
    w.target.events.clear();
    w.dialer.events.clear();

    // The target, which the relay reaches on its flow 1, dials the dialer.
    let target_config = w.client_config(Some(&w.target_id));
    let out = w
        .target
        .endpoint
        .connect_relayed(
            &target_config,
            t_via,
            crate::relay::fingerprint(&dialer_id.cert_der),
            None,
            None,
        )
        .expect("relayed connect");
    w.settle();
    assert!(
        w.target
            .take_events(events::ESTABLISHED)
            .iter()
            .any(|e| e.conn == out),
        "the target's own dial is established"
    );
    // The first relayed connection is intact.
    assert_eq!(
        transfer(&mut w, inner, target_side, 10_000, 500).len(),
        10_000
    );
    assert_eq!(w.relay.endpoint.relay_counts().0, 2, "two flows");
}
