//! Diagnostic, not a pass/fail check of CI: rapid NAT rebindings through a
//! network that loses, duplicates, delays and reorders packets, and whose
//! old mappings still forward the server's packets for a while. Runs many
//! seeded transfers and fails if any side closes the connection with an
//! error (the 0xa closes fixed in src/tests/paths.rs were found this way);
//! transfers that stall are reported with the server's paths.
//!
//! `CHAOS_SEEDS=40 CHAOS_EVERY=10 CHAOS_DELAY=8 CHAOS_GRACE=50 CHAOS_BOTH=1 \
//!  cargo test --release path_chaos -- --ignored --nocapture`
//! (knobs: see `chaos`; timers run in real time, so runs are not exactly
//! repeatable).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::fuzz::Rng;
use super::pair::{sleep_until_a_deadline, Pair, SERVER_ADDR};
use super::scenarios::established;
use crate::events;

/// Whether an event of `per_mille` in a thousand happens this time.
fn per_mille(rng: &mut Rng, per_mille: u64) -> bool {
    (rng.below(1000) as u64) < per_mille
}

struct Flight {
    due: u64,
    order: u64,
    to_server: bool,
    data: Vec<u8>,
    from: SocketAddr,
    to: SocketAddr,
}

/// The network's behaviour (env var in brackets); a step is one exchange.
#[derive(Clone, Copy, Debug)]
struct Knobs {
    /// Packets lost, per mille (CHAOS_LOSS).
    loss: u64,
    /// Packets delivered twice, per mille (CHAOS_DUP).
    dup: u64,
    /// Each packet is delayed 0..=max_delay steps (CHAOS_DELAY).
    max_delay: u64,
    /// Steps between rebindings, plus 0..=rebind_jitter (CHAOS_EVERY,
    /// CHAOS_JITTER), up to CHAOS_REBINDS rebindings.
    rebind_every: u64,
    rebind_jitter: u64,
    /// Steps an old mapping still forwards the server's packets (CHAOS_GRACE).
    grace: u64,
    /// The client sends as much as the server (CHAOS_BOTH=1).
    both_ways: bool,
    /// Bytes per direction (CHAOS_BYTES).
    bytes: usize,
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One transfer; `Err` describes how it failed.
fn run(seed: u64, k: Knobs) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mut pair = Pair::new(|_| {}, |_| {});
    let (client, server) = established(&mut pair);
    let conn = pair.client.endpoint.connection_mut(client).expect("conn");
    let id = conn.stream_open(true).expect("open").expect("credit");
    conn.stream_write(id, b"get", !k.both_ways)
        .expect("request");
    pair.settle();
    let server_addr: SocketAddr = SERVER_ADDR.parse().expect("addr");
    let payload: Vec<u8> = (0..k.bytes as u32).map(|i| (i % 251) as u8).collect();
    let mut sent = 0usize;
    let mut csent = 0usize;
    let mut received = 0usize;
    let mut outside = pair.client_seen_as;
    let mut mappings: Vec<(SocketAddr, u64)> = Vec::new();
    let mut next_port = 41_000u16;
    let mut queue: Vec<Flight> = Vec::new();
    let mut step = 0u64;
    let mut order = 0u64;
    let mut next_rebind = k.rebind_every;
    let deadline = Instant::now() + Duration::from_secs(env("CHAOS_SECS", 20));
    let mut rebinds = 0;
    while Instant::now() < deadline {
        step += 1;
        // Application.
        if let Ok(conn) = pair.server.endpoint.connection_mut(server) {
            if sent < payload.len() {
                if let Ok(n) = conn.stream_write(id, &payload[sent..], true) {
                    sent += n.max(0) as usize;
                }
            }
        }
        if k.both_ways {
            if let Ok(conn) = pair.client.endpoint.connection_mut(client) {
                if csent < payload.len() {
                    if let Ok(n) = conn.stream_write(id, &payload[csent..], true) {
                        csent += n.max(0) as usize;
                    }
                }
            }
        }
        for event in pair.client.take_events(events::STREAM_DATA) {
            received += event.payload.len();
        }
        pair.server.events.clear();
        for (side, cid, name) in [
            (&pair.client, client, "client"),
            (&pair.server, server, "server"),
        ] {
            match side.endpoint.connection(cid) {
                Ok(c) => {
                    if let Some(e) = c.quic.local_error() {
                        return Err(format!(
                            "seed {seed}: {name} closed with {:#x} at step {step} after {rebinds} rebindings, {received} bytes",
                            e.error_code
                        ));
                    }
                    if let Some(e) = c.quic.peer_error() {
                        return Err(format!(
                            "seed {seed}: {name} got peer error {:#x}",
                            e.error_code
                        ));
                    }
                    if c.quic.is_closed() {
                        return Err(format!(
                            "seed {seed}: {name} closed (timeout? {})",
                            c.quic.is_timed_out()
                        ));
                    }
                }
                Err(_) => {
                    return Err(format!(
                        "seed {seed}: {name} connection gone at step {step}"
                    ))
                }
            }
        }
        if received >= payload.len() {
            eprintln!("seed {seed}: done at step {step}, {rebinds} rebindings");
            return Ok(());
        }
        // NAT.
        if step >= next_rebind && rebinds < env("CHAOS_REBINDS", 30) {
            next_rebind = step + k.rebind_every + rng.below(k.rebind_jitter as usize + 1) as u64;
            mappings.push((outside, step + k.grace));
            next_port += 1;
            outside = SocketAddr::new(outside.ip(), next_port);
            rebinds += 1;
        }
        mappings.retain(|(_, until)| *until >= step);
        // Network.
        let to_server = pair.client.drain();
        let to_client = pair.server.drain();
        let moved = to_server.len() + to_client.len();
        let mut send = |data: Vec<u8>, to_server: bool, from: SocketAddr, to: SocketAddr| {
            let copies = if per_mille(&mut rng, k.loss) {
                0
            } else if per_mille(&mut rng, k.dup) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                order += 1;
                queue.push(Flight {
                    due: step + rng.below(k.max_delay as usize + 1) as u64,
                    order: rng.next() ^ order,
                    to_server,
                    data: data.clone(),
                    from,
                    to,
                });
            }
        };
        for (data, _) in to_server {
            send(data, true, outside, server_addr);
        }
        for (data, to) in to_client {
            send(data, false, server_addr, to);
        }
        let mut due: Vec<Flight> = Vec::new();
        let mut rest = Vec::new();
        for f in queue.drain(..) {
            if f.due <= step {
                due.push(f);
            } else {
                rest.push(f);
            }
        }
        queue = rest;
        due.sort_by_key(|f| (f.due, f.order));
        let delivered = due.len();
        for mut f in due {
            if f.to_server {
                pair.server.endpoint.recv(&mut f.data, f.from);
            } else if f.to == outside || mappings.iter().any(|(m, _)| *m == f.to) {
                pair.client.endpoint.recv(&mut f.data, f.from);
            }
        }
        pair.client.poll();
        pair.server.poll();
        if moved == 0 && delivered == 0 && queue.is_empty() {
            sleep_until_a_deadline(&[&pair.client, &pair.server], 20.0);
        }
        pair.client.endpoint.on_timeout();
        pair.server.endpoint.on_timeout();
    }
    if let Ok(s) = pair.server.endpoint.connection(server) {
        for p in s.quic.path_stats() {
            eprintln!(
                "  server path {:?} active={} state={:?} sent={} recv={} lost={}",
                p.peer_addr, p.active, p.validation_state, p.sent, p.recv, p.lost
            );
        }
        eprintln!(
            "  NAT outside={outside} server spare dcids={} client scids={}",
            s.quic.available_dcids(),
            pair.client
                .endpoint
                .connection(client)
                .map(|c| c.quic.active_scids())
                .unwrap_or(0)
        );
    }
    Err(format!(
        "seed {seed}: stalled at {received} of {} after {rebinds} rebindings",
        payload.len()
    ))
}

#[test]
#[ignore]
fn path_chaos() {
    let k = Knobs {
        loss: env("CHAOS_LOSS", 20),
        dup: env("CHAOS_DUP", 20),
        max_delay: env("CHAOS_DELAY", 3),
        rebind_every: env("CHAOS_EVERY", 30),
        rebind_jitter: env("CHAOS_JITTER", 30),
        grace: env("CHAOS_GRACE", 5),
        both_ways: env("CHAOS_BOTH", 0) == 1,
        bytes: env("CHAOS_BYTES", 2_000_000) as usize,
    };
    let first = env("CHAOS_SEED", 1);
    let seeds = env("CHAOS_SEEDS", 20);
    let mut failures = Vec::new();
    for seed in first..first + seeds {
        if let Err(e) = run(seed, k) {
            eprintln!("{e}");
            failures.push(e);
        }
    }
    eprintln!("{k:?}: {} failures of {seeds}", failures.len());
    let protocol: Vec<_> = failures
        .iter()
        .filter(|f| f.contains("closed with"))
        .collect();
    assert!(protocol.is_empty(), "{protocol:#?}");
}
