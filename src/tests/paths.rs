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
