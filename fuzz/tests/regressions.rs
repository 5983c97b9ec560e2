//! Deterministic reproductions of what the fuzz targets found.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nquic_fuzz::{client_config, Side, CLIENT_ADDR, SERVER_ADDR};

/// Found by the `handshake` target: a client that closes (application close)
/// after its handshake completed locally but before it was confirmed
/// (HANDSHAKE_DONE not yet received), while a Handshake-space PTO probe is
/// due, makes `flush` return ACK-only Handshake packets forever: quiche
/// picks the Handshake space for the probe, may not put the application
/// CONNECTION_CLOSE there (1-RTT only) nor a PING (closing), so the probe is
/// never sent and every `send()` yields another ACK-only packet. The
/// JavaScript driver then sends up to MAX_BATCHES × META_ROWS packets per
/// drive until the 2 s local-close grace gives up.
#[test]
fn close_before_handshake_confirmed_with_pto_due_terminates() {
    let server_addr: SocketAddr = SERVER_ADDR.parse().unwrap();
    let client_addr: SocketAddr = CLIENT_ADDR.parse().unwrap();
    let mut client = Side::new(CLIENT_ADDR);
    let mut server = Side::server();
    let conn = client
        .endpoint
        .connect(
            &client_config(),
            Some("localhost"),
            Some(nquic::verify::Expected::Name("localhost".into())),
            None,
            server_addr,
        )
        .expect("connect");
    // Client Initial → server; server's whole flight → client.
    for (mut p, _) in client.turn() {
        server.endpoint.recv(&mut p, client_addr);
    }
    for (mut p, _) in server.turn() {
        client.endpoint.recv(&mut p, server_addr);
    }
    // The client is now established (it saw the server's Finished); its own
    // Handshake flight (Finished) is lost.
    let lost = client.turn();
    assert!(!lost.is_empty(), "the client sent its Finished");
    assert!(
        client.seen[nquic::events::ESTABLISHED as usize] == 1,
        "client established"
    );
    // Let the client's PTO fire, so a Handshake probe is due.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ms = client.endpoint.next_timeout().expect("a timer is armed");
        if ms == 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no PTO within 5 s");
        std::thread::sleep(Duration::from_secs_f64(ms / 1000.0 + 0.001));
    }
    client.endpoint.on_timeout();
    eprintln!("PTO due after {:?}; server connections {}", deadline - Duration::from_secs(5), server.endpoint.connection_count());
    // Now the application closes the connection.
    client
        .endpoint
        .connection_mut(conn)
        .expect("conn")
        .close(true, 0, b"bye");
    // `drain` panics ("flush never drained") after 10 000 non-empty flushes.
    let packets = client.drain();
    assert!(
        packets.len() < 100,
        "{} packets for one close",
        packets.len()
    );
}
