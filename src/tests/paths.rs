//! Path changes in memory: the client's NAT gives it a new outside port in
//! the middle of a transfer.

use std::net::SocketAddr;
use std::time::Duration;

use super::pair::Pair;
use super::scenarios::established;
use crate::events;

/// The client's new outside address after the rebinding.
const REBOUND_ADDR: &str = "127.0.0.1:40002";

/// The server sends 2 MB to the client; once 300 KB arrived, the client's NAT
/// rebinds. Whatever the server still sends to the old port is lost, and
/// nothing on the old path is ever acknowledged again. quiche 0.30 never
/// declared those packets lost, so their data was not sent again and the
/// stream stalled until the idle timeout (cloudflare/quiche#2452, fixed by
/// scripts/patch-quiche.js). Both of quiche's recovery modules are patched:
/// bbr2 (gcongestion) and cubic/reno.
fn server_transfer_survives_a_rebinding(congestion_control: &str, whole_burst: bool) {
    let mut pair = Pair::new(
        |s| s.congestion_control = congestion_control.into(),
        |c| c.congestion_control = congestion_control.into(),
    );
    let (client, server) = established(&mut pair);
    let conn = pair.client.endpoint.connection_mut(client).expect("conn");
    let id = conn.stream_open(true).expect("open").expect("credit");
    assert_eq!(conn.stream_write(id, b"get", true).expect("request"), 3);
    pair.settle();

    let payload: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let rebound: SocketAddr = REBOUND_ADDR.parse().expect("addr");
    let (mut sent, mut received, mut rebinding) = (0, Vec::new(), false);
    let complete = pair.run_until(Duration::from_secs(10), |pair| {
        if sent < payload.len() {
            let conn = pair.server.endpoint.connection_mut(server).expect("conn");
            let n = conn
                .stream_write(id, &payload[sent..], true)
                .expect("write");
            sent += n.max(0) as usize;
        }
        for event in pair.client.take_events(events::STREAM_DATA) {
            received.extend(event.payload);
        }
        if received.len() > 300_000 && !rebinding {
            rebinding = true;
            pair.rebind_client(rebound, whole_burst);
        }
        received.len() == payload.len()
    });
    assert!(
        complete,
        "{congestion_control}: the transfer stalled at {} of {} bytes after the rebinding",
        received.len(),
        payload.len()
    );
    assert!(received == payload, "{congestion_control}: data intact");

    let s = pair
        .server
        .endpoint
        .connection(server)
        .expect("server conn");
    let active = s.quic.path_stats().find(|p| p.active).expect("a path");
    assert_eq!(active.peer_addr, rebound, "the server follows the new port");
    assert_eq!(s.paths.changes(), 1, "one validated path change");
    assert!(pair.lost_to_client > 0, "packets went to the old port");
    let c = pair
        .client
        .endpoint
        .connection(client)
        .expect("client conn");
    assert_eq!(c.paths.changes(), 0, "the client's own path never changed");
}

#[test]
fn data_in_flight_when_the_nat_rebinds_is_sent_again_bbr2() {
    server_transfer_survives_a_rebinding("bbr2", false);
}

#[test]
fn data_in_flight_when_the_nat_rebinds_is_sent_again_cubic() {
    server_transfer_survives_a_rebinding("cubic", false);
}

#[test]
fn data_in_flight_when_the_nat_rebinds_is_sent_again_reno() {
    server_transfer_survives_a_rebinding("reno", false);
}

/// The whole burst goes to the old port, and the client, which only
/// receives, has acknowledged everything that reached it: nothing it must
/// send would show the server its new port. The client's stall probe (a PING
/// after a few quiet probe timeouts, src/stall.rs) does; without it both
/// sides waited for the idle timeout.
#[test]
fn a_receiving_client_shows_the_server_its_new_port_after_the_whole_burst_was_lost() {
    server_transfer_survives_a_rebinding("bbr2", true);
}

/// `stats().datagramsLost` adds up quiche's per-path counts, and quiche drops
/// a path's count with the path. After a few rebindings the paths the
/// connection left are replaced by new ones (`retire_left_paths`), and the
/// total must not go down when they are.
#[test]
fn datagrams_lost_never_decreases_when_left_paths_are_replaced() {
    let mut pair = Pair::new(|_| {}, |_| {});
    let (_, server) = established(&mut pair);
    let datagram = [7u8; 200];
    let (mut highest, mut fell) = (0u64, Vec::new());
    let mut addresses = vec![pair.client_seen_as];
    for round in 0..6u16 {
        let rebound: SocketAddr = format!("127.0.0.1:{}", 40_010 + round)
            .parse()
            .expect("addr");
        addresses.push(rebound);
        let mut steps = 0;
        let moved = pair.run_until(Duration::from_secs(5), |pair| {
            steps += 1;
            if steps == 5 {
                pair.rebind_client(rebound, false);
            }
            let conn = pair.server.endpoint.connection_mut(server).expect("conn");
            for _ in 0..8 {
                let _ = conn.datagram_send(&datagram);
            }
            let lost = conn.paths.datagrams_lost(&conn.quic);
            if lost < highest {
                fell.push((round, highest, lost));
            }
            highest = highest.max(lost);
            let active = conn
                .quic
                .path_stats()
                .find(|p| p.active)
                .map(|p| p.peer_addr);
            steps > 40 && active == Some(rebound)
        });
        assert!(moved, "round {round}: the server never moved to {rebound}");
    }
    let conn = pair.server.endpoint.connection(server).expect("conn");
    let paths = conn.quic.path_stats().count();
    assert!(
        paths < addresses.len(),
        "the test needs replaced paths: {paths} paths for {} addresses",
        addresses.len()
    );
    assert!(
        highest > 0,
        "datagrams sent to the old ports were declared lost"
    );
    assert_eq!(
        fell,
        vec![],
        "datagramsLost went down (round, before, after)"
    );
}

/// Delivers `packets` to the server as coming from `from`.
fn to_server(pair: &mut Pair, packets: Vec<(Vec<u8>, SocketAddr)>, from: SocketAddr) {
    for (mut p, _) in packets {
        pair.server.endpoint.recv(&mut p, from);
    }
}

/// Delivers, in one batch, the `packets` addressed to `to` (the others went
/// to a mapping the client's NAT forgot).
fn to_client(pair: &mut Pair, packets: Vec<(Vec<u8>, SocketAddr)>, to: SocketAddr) {
    let server_addr: SocketAddr = super::pair::SERVER_ADDR.parse().expect("addr");
    for (mut p, dest) in packets {
        if dest == to {
            pair.client.endpoint.recv(&mut p, server_addr);
        }
    }
}

/// Establishes `pair` and has the client send a request on a new stream:
/// (client connection, server connection, stream).
fn request_under_way(pair: &mut Pair) -> (u32, u32, u64) {
    let (client, server) = established(pair);
    let conn = pair.client.endpoint.connection_mut(client).expect("conn");
    let id = conn.stream_open(true).expect("open").expect("credit");
    assert_eq!(conn.stream_write(id, b"get", false).expect("request"), 3);
    pair.settle();
    (client, server, id)
}

/// Exchanges packets through the client's NAT mapping `port` (at most five
/// rounds) until the server's connection `server` has validated a change of
/// path; asserts that it made exactly one.
fn exchange_until_the_server_moves(pair: &mut Pair, server: u32, port: SocketAddr) {
    let changes = |pair: &Pair| {
        let s = pair
            .server
            .endpoint
            .connection(server)
            .expect("server conn");
        s.paths.changes()
    };
    for _ in 0..5 {
        if changes(pair) > 0 {
            break;
        }
        let packets = pair.server.drain();
        to_client(pair, packets, port);
        pair.client.poll();
        let packets = pair.client.drain();
        to_server(pair, packets, port);
        pair.server.poll();
    }
    assert_eq!(changes(pair), 1, "the server moved to port {port}");
}

/// The client's NAT rebinds twice in a row, the second time before the
/// server validated the first new port. Once the server validated the last
/// one, it gives up the connection IDs of both paths it left at once: two
/// RETIRE_CONNECTION_ID frames in one packet, which leave the client one
/// connection ID until it issues new ones. That packet is late, declared
/// lost and its frames sent again, and the client reads the copy while it
/// has one ID left (both packets go straight to its connection here: the
/// endpoint issues new IDs after each datagram, but one packet can carry new
/// retirements and one sent again). Lost RETIRE_CONNECTION_ID frames are
/// sent again (RFC 9000 §13.3), so this is legal, but quiche 0.30.0
/// answered it with a PROTOCOL_VIOLATION (0xa) close (cloudflare/quiche#1833,
/// fixed by scripts/patch-quiche.js).
#[test]
fn a_retirement_sent_again_while_the_client_has_one_connection_id_left_is_ignored() {
    let mut pair = Pair::new(|_| {}, |_| {});
    let (client, server, id) = request_under_way(&mut pair);
    let issued = |pair: &Pair| {
        let c = pair
            .client
            .endpoint
            .connection(client)
            .expect("client conn");
        c.quic.active_scids()
    };
    assert_eq!(issued(&pair), 3, "the client keeps two spare IDs issued");

    // Two rebindings: the server's challenge to the first new port is lost.
    let first: SocketAddr = "127.0.0.1:40100".parse().expect("addr");
    let second: SocketAddr = "127.0.0.1:40101".parse().expect("addr");
    for (n, from) in [first, second].into_iter().enumerate() {
        let conn = pair.client.endpoint.connection_mut(client).expect("conn");
        conn.stream_write(id, &[n as u8; 100], false)
            .expect("write");
        let packets = pair.client.drain();
        to_server(&mut pair, packets, from);
        pair.server.poll();
    }
    // The second port answers the server's challenge and is validated.
    exchange_until_the_server_moves(&mut pair, server, second);
    let s = pair
        .server
        .endpoint
        .connection(server)
        .expect("server conn");
    let lost_before = s.quic.stats().lost;

    // The packet with both retirements is late; the server sends data after
    // it, which the client acknowledges, so it is declared lost and its
    // frames go out again.
    let late = pair.server.drain();
    assert!(!late.is_empty(), "the retirements are sent");
    let payload = vec![7u8; 20_000];
    let conn = pair.server.endpoint.connection_mut(server).expect("conn");
    let mut sent = conn.stream_write(id, &payload, false).expect("data").max(0) as usize;
    assert!(sent > 0, "the server sends data after the retirements");
    let data = pair.server.drain();
    to_client(&mut pair, data, second);
    pair.client.poll();
    let acks = pair.client.drain();
    to_server(&mut pair, acks, second);
    pair.server.poll();
    let s = pair
        .server
        .endpoint
        .connection(server)
        .expect("server conn");
    assert!(
        s.quic.stats().lost > lost_before,
        "the late packet is declared lost"
    );
    let again = pair.server.drain();

    // The late original and the frames sent again, straight to the client's
    // connection: the endpoint issues new IDs after each datagram, but one
    // packet can carry new retirements and one sent again together.
    let server_addr: SocketAddr = super::pair::SERVER_ADDR.parse().expect("addr");
    let local: SocketAddr = super::pair::CLIENT_ADDR.parse().expect("addr");
    let c = pair
        .client
        .endpoint
        .connection_mut(client)
        .expect("client conn");
    for (mut p, to) in late.into_iter().chain(again) {
        assert_eq!(to, second);
        let _ = c.recv(&mut p, server_addr, local);
    }
    assert_eq!(
        c.quic.local_error().map(|e| e.error_code),
        None,
        "the client closed the connection"
    );
    assert_eq!(
        c.quic.active_scids(),
        1,
        "both retirements arrived in one batch"
    );
    pair.client.poll();
    assert_eq!(
        issued(&pair),
        3,
        "after the batch the client issues new IDs"
    );

    // The connection goes on.
    pair.client_seen_as = second;
    let mut received = 0;
    let done = pair.run_until(Duration::from_secs(10), |pair| {
        if sent < payload.len() {
            let conn = pair.server.endpoint.connection_mut(server).expect("conn");
            sent += conn
                .stream_write(id, &payload[sent..], false)
                .expect("data")
                .max(0) as usize;
        }
        for event in pair.client.take_events(events::STREAM_DATA) {
            received += event.payload.len();
        }
        received >= payload.len()
    });
    assert!(
        done,
        "the transfer stopped at {received} of {} bytes",
        payload.len()
    );
}

/// A packet the server sent on a path it then left arrives late, after the
/// retirement of the connection ID it was sent to and in the same batch
/// (the NAT's old mapping still forwards it, or the network reordered it).
/// RFC 9000 §5.1.2 lets the client drop it; the client had not unrouted the
/// retired ID yet (it did so after the batch), so quiche received a packet
/// for an ID it no longer had and closed the connection with
/// PROTOCOL_VIOLATION. The endpoint now unroutes a retired ID right after
/// the datagram that retired it.
#[test]
fn a_late_packet_to_a_retired_connection_id_is_dropped() {
    let mut pair = Pair::new(|_| {}, |_| {});
    let (client, server, id) = request_under_way(&mut pair);

    // The NAT rebinds to `first`: what the server sends there is late.
    let first: SocketAddr = "127.0.0.1:40100".parse().expect("addr");
    let second: SocketAddr = "127.0.0.1:40101".parse().expect("addr");
    let conn = pair.client.endpoint.connection_mut(client).expect("conn");
    conn.stream_write(id, &[1; 100], false).expect("write");
    let packets = pair.client.drain();
    to_server(&mut pair, packets, first);
    pair.server.poll();
    let late: Vec<_> = pair
        .server
        .drain()
        .into_iter()
        .filter(|(_, to)| *to == first)
        .collect();
    assert!(!late.is_empty(), "the server answers on the first new port");

    // It rebinds again to `second`, which the server validates; it then
    // retires the IDs of the paths it left.
    let conn = pair.client.endpoint.connection_mut(client).expect("conn");
    conn.stream_write(id, &[2; 100], false).expect("write");
    let packets = pair.client.drain();
    to_server(&mut pair, packets, second);
    pair.server.poll();
    exchange_until_the_server_moves(&mut pair, server, second);
    let retiring = pair.server.drain();
    let mut header = late[0].0.clone();
    let late_dcid = quiche::Header::from_slice(&mut header, crate::endpoint::CID_LEN)
        .expect("header")
        .dcid
        .to_vec();
    let has_late_dcid = |pair: &Pair| {
        let c = pair
            .client
            .endpoint
            .connection(client)
            .expect("client conn");
        c.quic
            .source_ids()
            .any(|cid| cid.as_ref() == late_dcid.as_slice())
    };
    assert!(
        has_late_dcid(&pair),
        "the late packets go to a connection ID of the client"
    );

    // The retirements, then the late packets, in one batch.
    to_client(&mut pair, retiring, second);
    assert!(
        !has_late_dcid(&pair),
        "the server retired the late packets' ID"
    );
    to_client(&mut pair, late, first);
    let c = pair
        .client
        .endpoint
        .connection(client)
        .expect("client conn");
    assert_eq!(
        c.quic.local_error().map(|e| e.error_code),
        None,
        "the client closed the connection"
    );

    // The connection goes on.
    pair.client_seen_as = second;
    let conn = pair.server.endpoint.connection_mut(server).expect("conn");
    assert!(conn.stream_write(id, b"done", true).expect("reply") == 4);
    let mut fin = false;
    let done = pair.run_until(Duration::from_secs(10), |pair| {
        fin |= pair
            .client
            .take_events(events::STREAM_DATA)
            .iter()
            .any(|e| e.fin);
        fin
    });
    assert!(done, "the server's reply never arrived");
}
