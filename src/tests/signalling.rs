//! Rendezvous signalling in memory: messages travel reliably, once and in
//! order, over a connection's datagrams, both ways, through loss, without
//! touching the application's own datagrams.

use std::time::{Duration, Instant};

use super::pair::{Pair, CLIENT_ADDR, SERVER_ADDR};
use crate::events;
use crate::relay::service::RelayLimits;

/// A client connected to a rendezvous server; returns the pair and both
/// ends' connection ids (client's, server's).
fn connected() -> (Pair, u32, u32) {
    let mut pair = Pair::new(|_| {}, |_| {});
    pair.server.endpoint.enable_rendezvous(true);
    let client = pair.connect();
    pair.settle();
    let server = pair
        .server
        .take_events(events::ESTABLISHED)
        .first()
        .map(|e| e.conn)
        .expect("server side established");
    pair.client.take_events(events::ESTABLISHED);
    (pair, client, server)
}

/// Moves packets both ways for `rounds` rounds, dropping the client's
/// packets for which `drop(n)` holds (n counts them), and runs timers as
/// they come due. Bounded in rounds and in time.
fn run(pair: &mut Pair, rounds: usize, mut drop: impl FnMut(usize) -> bool) {
    let mut sent = 0;
    let started = Instant::now();
    for _ in 0..rounds {
        for (mut p, _) in pair.client.drain() {
            sent += 1;
            if !drop(sent) {
                pair.server
                    .endpoint
                    .recv(&mut p, CLIENT_ADDR.parse().expect("addr"));
            }
        }
        for (mut p, _) in pair.server.drain() {
            pair.client
                .endpoint
                .recv(&mut p, SERVER_ADDR.parse().expect("addr"));
        }
        pair.client.poll();
        pair.server.poll();
        // Let retransmission timers (25 ms and up) come due.
        let wait = [&pair.client, &pair.server]
            .iter()
            .filter_map(|s| s.endpoint.next_timeout())
            .fold(f64::INFINITY, f64::min);
        if wait.is_finite() && wait < 100.0 {
            std::thread::sleep(Duration::from_micros((wait * 1000.0) as u64 + 100));
        }
        pair.client.endpoint.on_timeout();
        pair.server.endpoint.on_timeout();
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "bounded in time"
        );
    }
}

fn payloads(events: Vec<super::pair::Event>) -> Vec<Vec<u8>> {
    events.into_iter().map(|e| e.payload).collect()
}

#[test]
fn signals_arrive_once_in_order_both_ways_beside_application_datagrams() {
    let (mut pair, client, server) = connected();
    for i in 0..5u8 {
        assert!(pair
            .client
            .endpoint
            .signal_send(client, &[1, i])
            .expect("send"));
    }
    assert!(pair
        .server
        .endpoint
        .signal_send(server, b"answer")
        .expect("send"));
    let app = pair.client.endpoint.connection_mut(client).expect("conn");
    assert!(app
        .datagram_send(b"application datagram")
        .expect("datagram"));
    run(&mut pair, 50, |_| false);
    assert_eq!(
        payloads(pair.server.take_events(events::SIGNAL)),
        (0..5u8).map(|i| vec![1, i]).collect::<Vec<_>>()
    );
    assert_eq!(
        payloads(pair.client.take_events(events::SIGNAL)),
        vec![b"answer".to_vec()]
    );
    // The application's datagram is delivered as usual, and only it.
    assert_eq!(
        payloads(pair.server.take_events(events::DATAGRAM)),
        vec![b"application datagram".to_vec()]
    );
    assert!(pair.client.take_events(events::DATAGRAM).is_empty());
}

#[test]
fn signals_survive_the_loss_of_every_other_packet() {
    let (mut pair, client, _) = connected();
    for i in 0..10u8 {
        assert!(pair
            .client
            .endpoint
            .signal_send(client, &[i])
            .expect("send"));
    }
    // Half of the client's packets are lost until the 40th.
    run(&mut pair, 400, |n| n < 40 && n % 2 == 1);
    assert_eq!(
        payloads(pair.server.take_events(events::SIGNAL)),
        (0..10u8).map(|i| vec![i]).collect::<Vec<_>>(),
        "every message once, in order"
    );
}

#[test]
fn signalling_needs_an_established_connection_and_bounded_messages() {
    let mut pair = Pair::new(|_| {}, |_| {});
    let client = pair.connect();
    assert!(
        pair.client.endpoint.signal_send(client, b"early").is_err(),
        "not established yet"
    );
    pair.settle();
    assert!(pair
        .client
        .endpoint
        .signal_send(client, &[0; crate::p2p::channel::MAX_MESSAGE + 1])
        .is_err());
    // With no answer (the server is not a rendezvous: no acknowledgement),
    // the backlog is bounded.
    let sent = (0..1000)
        .take_while(|_| {
            pair.client
                .endpoint
                .signal_send(client, b"m")
                .expect("send")
        })
        .count();
    assert_eq!(sent, crate::p2p::channel::MAX_UNACKED);
}

#[test]
fn a_rendezvous_that_relays_names_a_registered_peer_to_its_relay() {
    let (mut pair, _, server) = connected();
    assert!(
        !pair.server.endpoint.relay_add_target(server).expect("conn"),
        "no relay"
    );
    pair.server.endpoint.enable_relay(Some(RelayLimits {
        max_flows: 4,
        flow_rate: 0,
        policy: false,
    }));
    // The client presented no certificate: it has no name at the relay.
    assert!(!pair.server.endpoint.relay_add_target(server).expect("conn"));
    assert_eq!(pair.server.endpoint.relay_counts(), (0, 0));
}
