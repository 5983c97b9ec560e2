//! A client and a server endpoint exchanging packets through memory.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::{Config, ConfigParams};
use crate::endpoint::{Endpoint, SharedConfig};
use crate::events::{self, STRIDE};
use crate::tls::certgen::{self, CertRequest, KeyType};
use crate::tls::TlsParams;
use crate::transmit;

pub const CLIENT_ADDR: &str = "127.0.0.1:40000";
pub const SERVER_ADDR: &str = "127.0.0.1:40001";

/// One decoded event row plus its payload.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: f64,
    pub conn: u32,
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub payload: Vec<u8>,
    pub fin: bool,
}

pub struct Side {
    pub endpoint: Endpoint,
    pub events: Vec<Event>,
    inbox: Vec<u8>,
    records: Vec<f64>,
    out: Vec<u8>,
    meta: Vec<u32>,
}

impl Side {
    pub fn new(addr: &str) -> Side {
        Side {
            endpoint: Endpoint::new(addr.parse().expect("addr")).expect("endpoint"),
            events: Vec::new(),
            inbox: vec![0; 1 << 20],
            records: vec![0.0; STRIDE * 256],
            out: vec![0; 64 * 1024],
            meta: vec![0; transmit::STRIDE * 64],
        }
    }

    /// Collects every pending event.
    pub fn poll(&mut self) {
        for _ in 0..10_000 {
            let rows = self
                .endpoint
                .poll_events(&mut self.inbox, &mut self.records);
            if rows == 0 {
                return;
            }
            for r in self.records.chunks(STRIDE).take(rows) {
                let (payload, fin) = if r[0] == events::STREAM_DATA {
                    let (o, l) = (r[3] as usize, r[4] as usize);
                    (self.inbox[o..o + l].to_vec(), r[5] == 1.0)
                } else if r[0] == events::DATAGRAM
                    || r[0] == events::SIGNAL
                    || r[0] == events::WT_DATAGRAM
                {
                    let (o, l) = (r[2] as usize, r[3] as usize);
                    (self.inbox[o..o + l].to_vec(), false)
                } else if r[0] == events::WT_REQUEST {
                    let (o, l) = (r[3] as usize, r[4] as usize);
                    (self.inbox[o..o + l].to_vec(), false)
                } else if r[0] == events::WT_CLOSED {
                    let (o, l) = (r[4] as usize, r[5] as usize);
                    (self.inbox[o..o + l].to_vec(), false)
                } else {
                    (Vec::new(), false)
                };
                self.events.push(Event {
                    kind: r[0],
                    conn: r[1] as u32,
                    a: r[2],
                    b: r[3],
                    c: r[4],
                    payload,
                    fin,
                });
            }
        }
        panic!("poll_events never drained");
    }

    /// Takes every outgoing packet (all to IPv4 destinations).
    pub fn drain(&mut self) -> Vec<(Vec<u8>, SocketAddr)> {
        self.drain_any()
            .into_iter()
            .map(|(p, to)| (p, to.expect("unexpected family")))
            .collect()
    }

    /// Takes every outgoing packet, whatever its destination's family: an
    /// IPv4 destination is decoded, any other is `None` (for tests that feed
    /// packets from many sources and only deliver some answers).
    pub fn drain_any(&mut self) -> Vec<(Vec<u8>, Option<SocketAddr>)> {
        let mut packets = Vec::new();
        for _ in 0..10_000 {
            let n = self.endpoint.flush(&mut self.out, &mut self.meta);
            if n == 0 {
                return packets;
            }
            for row in self.meta.chunks(transmit::STRIDE).take(n) {
                let (o, l) = (row[0] as usize, row[1] as usize);
                let to = (row[3] == 4).then(|| {
                    SocketAddr::new(std::net::Ipv4Addr::from(row[4]).into(), row[2] as u16)
                });
                packets.push((self.out[o..o + l].to_vec(), to));
            }
        }
        panic!("flush never drained");
    }

    /// Takes the `ESTABLISHED` events; the connections, in order.
    pub fn take_established(&mut self) -> Vec<u32> {
        self.take_events(events::ESTABLISHED)
            .iter()
            .map(|e| e.conn)
            .collect()
    }

    pub fn take_events(&mut self, kind: f64) -> Vec<Event> {
        let (hit, rest): (Vec<Event>, Vec<Event>) =
            self.events.drain(..).partition(|e| e.kind == kind);
        self.events = rest;
        hit
    }
}

pub struct Pair {
    pub client: Side,
    pub server: Side,
    pub client_config: SharedConfig,
    /// The client's address as the server sees it (its NAT's outside
    /// address). Changing it is a NAT rebinding: what the server still sends
    /// to an earlier address is lost.
    pub client_seen_as: SocketAddr,
    /// Packets the server sent to an address the client no longer has.
    pub lost_to_client: usize,
    /// A rebinding due while the server's next packets are in flight.
    rebind_to: Option<(SocketAddr, bool)>,
}

/// Sleeps (in real time) until the earliest timer deadline of `sides`, at
/// most `cap_ms` milliseconds; the caller then runs their timers.
pub fn sleep_until_a_deadline(sides: &[&Side], cap_ms: f64) {
    let wait = sides
        .iter()
        .filter_map(|side| side.endpoint.next_timeout())
        .fold(cap_ms, f64::min);
    std::thread::sleep(Duration::from_secs_f64(wait.max(0.0) / 1000.0));
}

pub fn params(is_server: bool) -> ConfigParams {
    ConfigParams {
        alpn: vec!["test".into()],
        tls: TlsParams {
            is_server,
            ..Default::default()
        },
        ..Default::default()
    }
}

pub fn shared(params: &ConfigParams) -> SharedConfig {
    Rc::new(RefCell::new(Config::new(params).expect("config")))
}

impl Pair {
    /// A server with a fresh certificate and a client that trusts it.
    pub fn new(
        tweak_server: impl FnOnce(&mut ConfigParams),
        tweak_client: impl FnOnce(&mut ConfigParams),
    ) -> Pair {
        let cert = certgen::generate(&CertRequest {
            subject_alt_names: &["localhost".to_string()],
            key_type: KeyType::EcdsaP256,
            days: 30,
            ca: None,
            is_ca: false,
        })
        .expect("cert");
        let mut sp = params(true);
        sp.tls.key = Some(cert.key_pem.clone().into_bytes());
        sp.tls.certs = vec![cert.cert_pem.clone().into_bytes()];
        tweak_server(&mut sp);
        let mut cp = params(false);
        cp.tls.verify_peer = true;
        cp.tls.ca = vec![cert.cert_pem.into_bytes()];
        tweak_client(&mut cp);
        let mut server = Side::new(SERVER_ADDR);
        server.endpoint.set_server(Some(shared(&sp)), usize::MAX);
        Pair {
            client: Side::new(CLIENT_ADDR),
            server,
            client_config: shared(&cp),
            client_seen_as: CLIENT_ADDR.parse().expect("addr"),
            lost_to_client: 0,
            rebind_to: None,
        }
    }

    pub fn connect(&mut self) -> u32 {
        self.client
            .endpoint
            .connect(
                &self.client_config,
                Some("localhost"),
                Some(crate::tls::verify::Expected::Name("localhost".into())),
                None,
                SERVER_ADDR.parse().expect("addr"),
            )
            .expect("connect")
    }

    /// One round: deliver everything each side has to send, then poll events.
    /// Returns the number of packets moved.
    pub fn step(&mut self) -> usize {
        let to_server = self.client.drain();
        let from_client = self.client_seen_as;
        let to_client = self.server.drain();
        // Where the client's NAT changes its mapping in this burst, if it does.
        let rebind_at = match self.rebind_to {
            Some((_, true)) if !to_client.is_empty() => 0,
            Some(_) if to_client.len() >= 2 => to_client.len() / 2,
            _ => usize::MAX,
        };
        let moved = to_server.len() + to_client.len();
        for (mut p, _) in to_server {
            self.server.endpoint.recv(&mut p, from_client);
        }
        for (i, (mut p, to)) in to_client.into_iter().enumerate() {
            if i == rebind_at {
                if let Some((to, _)) = self.rebind_to.take() {
                    self.client_seen_as = to;
                }
            }
            if to != self.client_seen_as {
                self.lost_to_client += 1;
                continue;
            }
            self.client
                .endpoint
                .recv(&mut p, SERVER_ADDR.parse().expect("addr"));
        }
        self.client.poll();
        self.server.poll();
        moved
    }

    /// The client's NAT moves it to outside address `to` in the middle of
    /// the server's next burst (or, with `whole_burst`, just before it): the
    /// packets ahead of the change still reach the client, those behind it
    /// reach the old port and are lost.
    pub fn rebind_client(&mut self, to: SocketAddr, whole_burst: bool) {
        self.rebind_to = Some((to, whole_burst));
    }

    /// Steps until `done` holds, running both sides' timers (in real time)
    /// whenever no packet moves. Returns false if `budget` ran out first.
    pub fn run_until(&mut self, budget: Duration, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let deadline = Instant::now() + budget;
        while Instant::now() < deadline {
            if done(self) {
                return true;
            }
            if self.step() > 0 {
                continue;
            }
            self.run_timers();
        }
        done(self)
    }

    /// Nothing moved: waits (in real time, at most 50 ms) for the earliest
    /// deadline of either side, then runs both sides' timers.
    pub fn run_timers(&mut self) {
        sleep_until_a_deadline(&[&self.client, &self.server], 50.0);
        self.client.endpoint.on_timeout();
        self.server.endpoint.on_timeout();
    }

    /// Steps until neither side sends anything (bounded).
    pub fn settle(&mut self) {
        for _ in 0..1000 {
            if self.step() == 0 {
                return;
            }
        }
        panic!("the pair never went quiet");
    }
}
