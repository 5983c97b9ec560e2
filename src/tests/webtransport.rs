//! WebTransport over HTTP/3 between two in-memory endpoints: sessions,
//! streams and datagrams routed by session, closes, refusals.

use super::pair::{Event, Pair};
use crate::events;
use crate::webtransport::codes;

fn h3_pair(max_sessions: u64) -> Pair {
    Pair::new(
        |s| {
            s.alpn = vec!["h3".into()];
            s.web_transport = Some(max_sessions);
        },
        |c| {
            c.alpn = vec!["h3".into()];
            c.web_transport = Some(100);
        },
    )
}

pub(super) fn established(pair: &mut Pair) -> (u32, u32) {
    let client = pair.connect();
    pair.settle();
    let c = pair.client.take_events(events::ESTABLISHED);
    let s = pair.server.take_events(events::ESTABLISHED);
    assert_eq!((c.len(), s.len()), (1, 1), "both sides established");
    (client, s[0].conn)
}

/// `name\0value\0` pairs of a `WT_REQUEST` payload.
fn fields(payload: &[u8]) -> Vec<(String, String)> {
    let parts: Vec<String> = payload
        .split(|b| *b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    parts
        .chunks(2)
        .filter(|p| p.len() == 2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

/// Sends a CONNECT for `path`; returns the session ID and the server's request event.
pub(super) fn request(pair: &mut Pair, client: u32, path: &str) -> (u64, Event) {
    let session = pair
        .client
        .endpoint
        .connection_mut(client)
        .expect("client")
        .wt_connect(
            "localhost:4433",
            path,
            &[("origin".into(), "https://example.test".into())],
        )
        .expect("connect");
    pair.settle();
    let mut requests = pair.server.take_events(events::WT_REQUEST);
    assert_eq!(requests.len(), 1, "one request");
    let request = requests.remove(0);
    assert_eq!(request.a as u64, session);
    (session, request)
}

pub(super) fn respond(pair: &mut Pair, server: u32, session: u64, status: u16) -> u16 {
    pair.server
        .endpoint
        .connection_mut(server)
        .expect("server")
        .wt_respond(session, status)
        .expect("respond");
    pair.settle();
    let responses = pair.client.take_events(events::WT_RESPONSE);
    assert_eq!(responses.len(), 1, "one response");
    assert_eq!(responses[0].a as u64, session);
    responses[0].b as u16
}

pub(super) fn open_session(pair: &mut Pair, client: u32, server: u32, path: &str) -> u64 {
    let (session, _) = request(pair, client, path);
    assert_eq!(respond(pair, server, session, 200), 200);
    session
}

pub(super) enum Who {
    Client,
    Server,
}

/// Writes all of `data` (and FIN) on a stream, stepping the pair as needed.
pub(super) fn write_all(pair: &mut Pair, who: &Who, conn: u32, stream: u64, data: &[u8]) {
    let mut sent = 0;
    for _ in 0..10_000 {
        let side = match who {
            Who::Client => &mut pair.client,
            Who::Server => &mut pair.server,
        };
        let c = side.endpoint.connection_mut(conn).expect("conn");
        let n = c.stream_write(stream, &data[sent..], true).expect("write");
        sent += n.max(0) as usize;
        if sent == data.len() && n >= 0 {
            pair.settle();
            return;
        }
        pair.step();
    }
    panic!("write never completed");
}

/// Opens a stream of `session` and returns it with the header it must start with.
pub(super) fn open_stream(
    pair: &mut Pair,
    who: &Who,
    conn: u32,
    session: u64,
    bidi: bool,
) -> (u64, Vec<u8>) {
    let side = match who {
        Who::Client => &mut pair.client,
        Who::Server => &mut pair.server,
    };
    let c = side.endpoint.connection_mut(conn).expect("conn");
    let stream = c.stream_open(bidi).expect("open").expect("credit");
    let header = c.wt_bind_stream(stream, session).expect("bind");
    (stream, header)
}

pub(super) fn data_of(events: &[Event], stream: u64) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    let mut fin = false;
    for e in events
        .iter()
        .filter(|e| e.kind == events::STREAM_DATA && e.a as u64 == stream)
    {
        data.extend_from_slice(&e.payload);
        fin |= e.fin;
    }
    (data, fin)
}

pub(super) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn a_session_opens_with_its_request_fields_and_a_200() {
    let mut pair = h3_pair(4);
    let (client, server) = established(&mut pair);
    let (session, request) = request(&mut pair, client, "/echo?x=1");
    assert_eq!(session, 0, "the first CONNECT stream");
    let fields = fields(&request.payload);
    assert!(fields.contains(&(":authority".into(), "localhost:4433".into())));
    assert!(fields.contains(&(":path".into(), "/echo?x=1".into())));
    assert!(fields.contains(&("origin".into(), "https://example.test".into())));
    assert_eq!(respond(&mut pair, server, session, 200), 200);
    let s = pair.server.endpoint.connection(server).expect("server");
    assert_eq!(s.wt_session_count(), 1);
    // Nothing of HTTP/3 itself reached the application as stream data.
    assert!(pair.client.take_events(events::STREAM_DATA).is_empty());
    assert!(pair.server.take_events(events::STREAM_DATA).is_empty());
}

#[test]
fn streams_carry_data_both_ways_without_their_headers() {
    let mut pair = h3_pair(4);
    let (client, server) = established(&mut pair);
    let session = open_session(&mut pair, client, server, "/");

    // Client → server, bidirectional, then the server answers on it.
    let (bidi, header) = open_stream(&mut pair, &Who::Client, client, session, true);
    assert_eq!(
        header,
        vec![0x40, 0x41, 0x00],
        "signal 0x41 (two bytes), session 0"
    );
    let payload = pattern(300_000, 7);
    write_all(
        &mut pair,
        &Who::Client,
        client,
        bidi,
        &[header, payload.clone()].concat(),
    );
    let announced = pair.server.take_events(events::WT_STREAM);
    assert_eq!(announced.len(), 1);
    assert_eq!(
        (announced[0].a as u64, announced[0].b as u64),
        (bidi, session)
    );
    let got = data_of(&pair.server.take_events(events::STREAM_DATA), bidi);
    assert_eq!(got, (payload.clone(), true));
    let answer = pattern(200_000, 9);
    write_all(&mut pair, &Who::Server, server, bidi, &answer);
    assert!(
        pair.client.take_events(events::WT_STREAM).is_empty(),
        "a local stream is not announced"
    );
    assert_eq!(
        data_of(&pair.client.take_events(events::STREAM_DATA), bidi),
        (answer, true)
    );

    // Server → client, unidirectional.
    let (uni, header) = open_stream(&mut pair, &Who::Server, server, session, false);
    assert_eq!(header, vec![0x40, 0x54, 0x00], "type 0x54, session 0");
    let payload = pattern(150_000, 3);
    write_all(
        &mut pair,
        &Who::Server,
        server,
        uni,
        &[header, payload.clone()].concat(),
    );
    let announced = pair.client.take_events(events::WT_STREAM);
    assert_eq!(
        (
            announced.len(),
            announced[0].a as u64,
            announced[0].b as u64
        ),
        (1, uni, session)
    );
    assert_eq!(
        data_of(&pair.client.take_events(events::STREAM_DATA), uni),
        (payload, true)
    );
}

#[test]
fn datagrams_carry_their_session_and_lose_the_prefix() {
    let mut pair = h3_pair(4);
    let (client, server) = established(&mut pair);
    let first = open_session(&mut pair, client, server, "/a");
    let second = open_session(&mut pair, client, server, "/b");
    let c = pair.client.endpoint.connection_mut(client).expect("client");
    let max = c.wt_max_datagram_size(second).expect("max");
    assert!(max > 1000 && max < c.max_datagram_size());
    assert!(c.wt_send_datagram(first, b"to a").expect("send"));
    assert!(c.wt_send_datagram(second, b"to b").expect("send"));
    let err = c
        .wt_send_datagram(second, &vec![0; max + 1])
        .expect_err("too large");
    assert_eq!(err.code, crate::error::ErrorCode::DatagramTooLarge);
    pair.settle();
    let got: Vec<(u64, Vec<u8>)> = pair
        .server
        .take_events(events::WT_DATAGRAM)
        .into_iter()
        .map(|e| (e.c as u64, e.payload))
        .collect();
    assert_eq!(
        got,
        vec![(first, b"to a".to_vec()), (second, b"to b".to_vec())]
    );
    assert!(pair.server.take_events(events::DATAGRAM).is_empty());
}

#[test]
fn a_close_reaches_the_peer_with_code_and_reason_and_ends_the_sessions_streams() {
    let mut pair = h3_pair(4);
    let (client, server) = established(&mut pair);
    let session = open_session(&mut pair, client, server, "/");
    let (stream, header) = open_stream(&mut pair, &Who::Client, client, session, true);
    let c = pair.client.endpoint.connection_mut(client).expect("client");
    c.stream_write(stream, &[header, b"open".to_vec()].concat(), false)
        .expect("write");
    pair.settle();
    assert_eq!(pair.server.take_events(events::WT_STREAM).len(), 1);
    let s = pair.server.endpoint.connection(server).expect("server");
    assert_eq!(s.streams.len(), 1);

    pair.client
        .endpoint
        .connection_mut(client)
        .expect("client")
        .wt_close_session(session, 4242, "done here")
        .expect("close");
    pair.settle();
    let closed = pair.server.take_events(events::WT_CLOSED);
    assert_eq!(closed.len(), 1);
    assert_eq!((closed[0].a as u64, closed[0].b as u32), (session, 4242));
    assert_eq!(closed[0].payload, b"done here");
    // The session's streams are gone on both sides, and so is the session.
    for side in [&pair.client, &pair.server] {
        let conn = side
            .endpoint
            .connection(if std::ptr::eq(side, &pair.client) {
                client
            } else {
                server
            });
        let conn = conn.expect("conn");
        assert_eq!(conn.streams.len(), 0);
        assert_eq!(conn.wt_session_count(), 0);
    }
    // The closing side learns that the peer finished too.
    let done = pair.client.take_events(events::WT_CLOSED);
    assert_eq!(done.len(), 1);
    // A stream for the closed session is refused with WEBTRANSPORT_SESSION_GONE.
    let c = pair.client.endpoint.connection_mut(client).expect("client");
    let late = c.stream_open(false).expect("open").expect("credit");
    c.stream_write(late, &[0x40, 0x54, 0x00, 1, 2, 3], false)
        .expect("write");
    pair.settle();
    assert!(pair.server.take_events(events::WT_STREAM).is_empty());
    let stopped = pair.client.take_events(events::STREAM_STOPPED);
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0].b as u64, codes::WEBTRANSPORT_SESSION_GONE);
}

#[test]
fn a_refused_request_gets_its_status_and_its_streams_are_refused() {
    let mut pair = h3_pair(4);
    let (client, server) = established(&mut pair);
    let (session, _) = request(&mut pair, client, "/private");
    // A stream for the session before the verdict waits for it...
    let c = pair.client.endpoint.connection_mut(client).expect("client");
    let early = c.stream_open(false).expect("open").expect("credit");
    c.stream_write(early, &[0x40, 0x54, 0x00, 9, 9], false)
        .expect("write");
    pair.settle();
    assert!(pair.server.take_events(events::WT_STREAM).is_empty());
    // ...and is refused with the session.
    assert_eq!(respond(&mut pair, server, session, 403), 403);
    let stopped = pair.client.take_events(events::STREAM_STOPPED);
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0].b as u64, codes::WEBTRANSPORT_SESSION_GONE);
    assert_eq!(
        pair.server
            .endpoint
            .connection(server)
            .expect("s")
            .wt_session_count(),
        0
    );
    assert_eq!(
        pair.client
            .endpoint
            .connection(client)
            .expect("c")
            .wt_session_count(),
        0
    );
}

#[test]
fn streams_that_arrive_before_the_verdict_wait_for_it() {
    let mut pair = h3_pair(4);
    let (client, server) = established(&mut pair);
    let (session, _) = request(&mut pair, client, "/");
    let c = pair.client.endpoint.connection_mut(client).expect("client");
    let early = c.stream_open(false).expect("open").expect("credit");
    c.stream_write(early, &[0x40, 0x54, 0x00, 1, 2, 3], true)
        .expect("write");
    pair.settle();
    assert!(pair.server.take_events(events::WT_STREAM).is_empty());
    assert!(pair.server.take_events(events::STREAM_DATA).is_empty());
    assert_eq!(respond(&mut pair, server, session, 200), 200);
    let announced = pair.server.take_events(events::WT_STREAM);
    assert_eq!((announced.len(), announced[0].a as u64), (1, early));
    assert_eq!(
        data_of(&pair.server.take_events(events::STREAM_DATA), early),
        (vec![1, 2, 3], true)
    );
}

#[test]
fn stream_error_codes_are_webtransport_codes_on_the_wire() {
    let mut pair = h3_pair(4);
    let (client, server) = established(&mut pair);
    let session = open_session(&mut pair, client, server, "/");
    let (stream, header) = open_stream(&mut pair, &Who::Client, client, session, true);
    let c = pair.client.endpoint.connection_mut(client).expect("client");
    c.stream_write(stream, &header, false).expect("write");
    pair.settle();
    pair.client
        .endpoint
        .connection_mut(client)
        .expect("client")
        .stream_shutdown(stream, true, 42)
        .expect("reset");
    pair.settle();
    let resets = pair.server.take_events(events::STREAM_RESET);
    assert_eq!(
        (resets.len(), resets[0].a as u64, resets[0].b as u64),
        (1, stream, 42)
    );
    pair.client
        .endpoint
        .connection_mut(client)
        .expect("client")
        .stream_shutdown(stream, false, 0xffff_ffff)
        .expect("stop");
    pair.settle();
    let stops = pair.server.take_events(events::STREAM_STOPPED);
    assert_eq!((stops.len(), stops[0].b as u64), (1, 0xffff_ffff));
}

#[test]
fn a_plain_http3_request_gets_a_404() {
    let mut pair = h3_pair(4);
    let (client, _) = established(&mut pair);
    pair.settle();
    // GET https://localhost/ : QPACK with static references only (RFC 9204
    // Appendix A: :method GET 17, :scheme https 23, :path / 1, :authority 0).
    let mut headers = vec![0x00, 0x00, 0xc0 | 17, 0xc0 | 23, 0xc0 | 1, 0x50, 9];
    headers.extend_from_slice(b"localhost");
    let mut frame = vec![0x01, headers.len() as u8];
    frame.extend_from_slice(&headers);
    let c = pair.client.endpoint.connection_mut(client).expect("client");
    let stream = c.stream_open(true).expect("open").expect("credit");
    c.stream_write(stream, &frame, true).expect("write");
    pair.settle();
    let (response, fin) = data_of(&pair.client.take_events(events::STREAM_DATA), stream);
    assert!(fin, "the response is complete");
    match web_transport_proto::ConnectResponse::decode(&mut &response[..]) {
        Err(web_transport_proto::ConnectError::WrongStatus(Some(status))) => {
            assert_eq!(status.as_u16(), 404)
        }
        other => panic!("expected a 404, got {other:?}"),
    }
    assert!(pair.server.take_events(events::WT_REQUEST).is_empty());
}

#[test]
fn sessions_beyond_the_limit_get_429_and_closing_one_spares_the_other() {
    let mut pair = h3_pair(2);
    let (client, server) = established(&mut pair);
    let a = open_session(&mut pair, client, server, "/a");
    let b = open_session(&mut pair, client, server, "/b");
    let c = pair.client.endpoint.connection_mut(client).expect("client");
    let third = c.wt_connect("localhost", "/c", &[]).expect("connect");
    pair.settle();
    assert!(pair.server.take_events(events::WT_REQUEST).is_empty());
    let responses = pair.client.take_events(events::WT_RESPONSE);
    assert_eq!((responses[0].a as u64, responses[0].b as u16), (third, 429));

    pair.server
        .endpoint
        .connection_mut(server)
        .expect("server")
        .wt_close_session(a, 1, "a is done")
        .expect("close");
    pair.settle();
    let closed = pair.client.take_events(events::WT_CLOSED);
    assert_eq!((closed.len(), closed[0].a as u64), (1, a));
    let c = pair.client.endpoint.connection_mut(client).expect("client");
    assert!(c.wt_send_datagram(a, b"x").is_err(), "a is closed");
    assert!(c.wt_send_datagram(b, b"still here").expect("b is open"));
    pair.settle();
    let got = pair.server.take_events(events::WT_DATAGRAM);
    assert_eq!((got.len(), got[0].c as u64), (1, b));
}

#[test]
fn a_reset_connect_stream_ends_the_session_abruptly() {
    let mut pair = h3_pair(4);
    let (client, server) = established(&mut pair);
    let session = open_session(&mut pair, client, server, "/");
    // The client's CONNECT stream is internal; reset it through quiche.
    let c = pair.client.endpoint.connection_mut(client).expect("client");
    c.quic
        .stream_shutdown(
            session,
            quiche::Shutdown::Write,
            codes::H3_REQUEST_CANCELLED,
        )
        .expect("reset");
    pair.settle();
    let resets = pair.server.take_events(events::WT_RESET);
    assert_eq!((resets.len(), resets[0].a as u64), (1, session));
    assert!(pair.server.take_events(events::WT_CLOSED).is_empty());
}

#[test]
fn without_alpn_h3_a_webtransport_config_changes_nothing() {
    let mut pair = Pair::new(|s| s.web_transport = Some(4), |c| c.web_transport = Some(4));
    let (client, _) = established(&mut pair);
    let c = pair.client.endpoint.connection_mut(client).expect("client");
    assert!(!c.is_web_transport());
    let stream = c.stream_open(false).expect("open").expect("credit");
    c.stream_write(stream, &[0x54, 0, 1], true).expect("write");
    pair.settle();
    assert!(pair.server.take_events(events::WT_STREAM).is_empty());
    assert_eq!(
        data_of(&pair.server.take_events(events::STREAM_DATA), stream),
        (vec![0x54, 0, 1], true)
    );
}
