//! Peer-opened streams on an HTTP/3 connection: reading their first bytes
//! (exactly, so that nothing of the application's data is consumed) to
//! learn what they are, then routing them.

use web_transport_proto::{Frame, StreamUni};

use super::codes::*;
use super::frames::varint;
use super::session::Session;
use super::{
    abort_stream, read_available, Event, ReadEnd, SessionStreams, WebTransport, MAX_PARKED_STREAMS,
};

/// What nquic knows about a peer stream it reads itself.
pub enum Incoming {
    /// Its first bytes (stream type, signal, session ID) are incomplete.
    Header(Vec<u8>),
    /// The peer's control stream.
    Control,
    /// QPACK encoder/decoder streams: read and dropped (nquic uses no
    /// dynamic table, so they carry nothing it needs).
    Discard,
    /// A request stream: a session's CONNECT stream, or a plain request.
    Connect,
    /// A WebTransport stream waiting for its session to be established.
    Parked(u64),
}

/// What the caller does with a readable stream next.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// It is an application stream now: read it as usual.
    Application,
    /// nquic took care of it.
    Handled,
}

fn is_bidi(id: u64) -> bool {
    id & 2 == 0
}

/// How many header bytes a stream needs before it can be classified, given
/// those read so far: one variable-length integer (stream type or the first
/// frame type), and a second one (the session ID) after a WebTransport type.
fn header_needs(bytes: &[u8], bidi: bool) -> usize {
    let varint_len = |first: u8| 1usize << (first >> 6);
    let Some(&first) = bytes.first() else {
        return 1;
    };
    let first_len = varint_len(first);
    let Some((kind, _)) = varint(bytes) else {
        return first_len;
    };
    let webtransport = if bidi {
        kind == Frame::WEBTRANSPORT.0.into_inner()
    } else {
        kind == StreamUni::WEBTRANSPORT.0.into_inner()
    };
    if !webtransport {
        return first_len;
    }
    match bytes.get(first_len) {
        None => first_len + 1,
        Some(&b) => first_len + varint_len(b),
    }
}

impl WebTransport {
    /// Handles a readable peer stream that is not an application stream yet.
    pub(super) fn on_peer_stream(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        stream: u64,
    ) -> Route {
        let state = match self.incoming.remove(&stream) {
            Some(state) => state,
            None => {
                if is_bidi(stream) {
                    self.next_peer_bidi = self.next_peer_bidi.max(stream + 4);
                }
                Incoming::Header(Vec::new())
            }
        };
        match state {
            Incoming::Header(bytes) => self.read_header(quic, streams, stream, bytes),
            Incoming::Control => {
                let mut data = Vec::new();
                let end = read_available(quic, stream, |b| data.extend_from_slice(b));
                self.on_control_data(&data);
                if !matches!(end, ReadEnd::Open) {
                    self.fail(
                        H3_CLOSED_CRITICAL_STREAM,
                        "the peer closed its control stream",
                    );
                }
                self.incoming.insert(stream, Incoming::Control);
                Route::Handled
            }
            Incoming::Discard => {
                if matches!(read_available(quic, stream, |_| {}), ReadEnd::Open) {
                    self.incoming.insert(stream, Incoming::Discard);
                }
                Route::Handled
            }
            Incoming::Connect => {
                self.incoming.insert(stream, Incoming::Connect);
                self.read_connect(quic, streams, stream);
                Route::Handled
            }
            Incoming::Parked(session) => {
                self.incoming.insert(stream, Incoming::Parked(session));
                Route::Handled
            }
        }
    }

    fn read_header(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        stream: u64,
        mut bytes: Vec<u8>,
    ) -> Route {
        let bidi = is_bidi(stream);
        let mut buf = [0u8; 16];
        loop {
            let need = header_needs(&bytes, bidi);
            if bytes.len() >= need {
                break;
            }
            match quic.stream_recv(stream, &mut buf[..need - bytes.len()]) {
                Ok((n, fin)) => {
                    bytes.extend_from_slice(&buf[..n]);
                    if fin && bytes.len() < header_needs(&bytes, bidi) {
                        return Route::Handled; // ended before saying what it is
                    }
                }
                Err(quiche::Error::Done) => {
                    self.incoming.insert(stream, Incoming::Header(bytes));
                    return Route::Handled;
                }
                Err(_) => return Route::Handled, // reset before saying what it is
            }
        }
        self.classify(quic, streams, stream, &bytes)
    }

    fn classify(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        stream: u64,
        bytes: &[u8],
    ) -> Route {
        let Some((kind, len)) = varint(bytes) else {
            return Route::Handled;
        };
        let session = varint(&bytes[len..]).map(|(s, _)| s);
        if is_bidi(stream) {
            if kind == Frame::WEBTRANSPORT.0.into_inner() {
                return self.attach(quic, streams, stream, session.unwrap_or(u64::MAX));
            }
            if !self.is_server {
                self.fail(
                    H3_STREAM_CREATION_ERROR,
                    "a server opened a bidirectional request stream",
                );
                return Route::Handled;
            }
            // A request stream; these bytes began its first frame.
            let mut request = Session::requested();
            request.push(bytes);
            self.sessions.insert(stream, request);
            self.incoming.insert(stream, Incoming::Connect);
            self.read_connect(quic, streams, stream);
            return Route::Handled;
        }
        match StreamUni(web_transport_proto::VarInt::from_u64(kind).unwrap_or_default()) {
            StreamUni::CONTROL => {
                if self.peer_control.is_some() {
                    self.fail(H3_STREAM_CREATION_ERROR, "a second control stream");
                    return Route::Handled;
                }
                self.peer_control = Some(stream);
                self.incoming.insert(stream, Incoming::Control);
                self.on_peer_stream(quic, streams, stream)
            }
            StreamUni::QPACK_ENCODER | StreamUni::QPACK_DECODER => {
                self.incoming.insert(stream, Incoming::Discard);
                self.on_peer_stream(quic, streams, stream)
            }
            StreamUni::PUSH => {
                // nquic never sends MAX_PUSH_ID, so no push is allowed.
                self.fail(
                    if self.is_server {
                        H3_STREAM_CREATION_ERROR
                    } else {
                        H3_ID_ERROR
                    },
                    "a push stream",
                );
                Route::Handled
            }
            StreamUni::WEBTRANSPORT => {
                self.attach(quic, streams, stream, session.unwrap_or(u64::MAX))
            }
            _ => {
                // Unknown and reserved types are ignored (RFC 9114 §6.2).
                let _ =
                    quic.stream_shutdown(stream, quiche::Shutdown::Read, H3_STREAM_CREATION_ERROR);
                Route::Handled
            }
        }
    }

    /// Routes a WebTransport stream to `session`: to the application if it
    /// is established, to wait if it is not yet, or refused if it is gone.
    fn attach(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        stream: u64,
        session: u64,
    ) -> Route {
        // Session IDs are client-initiated bidirectional stream IDs.
        if session & 3 != 0 {
            self.fail(
                H3_ID_ERROR,
                "a WebTransport stream names an invalid session",
            );
            return Route::Handled;
        }
        let state = self.sessions.get(&session);
        if state.is_some_and(Session::is_open) {
            announce(quic, streams, &mut self.events, stream, session);
            return Route::Application;
        }
        let may_come = match state {
            Some(s) => s.is_pending(),
            // A server may see streams before the CONNECT that they name.
            None => self.is_server && session >= self.next_peer_bidi,
        };
        if !may_come {
            abort_stream(quic, stream, WEBTRANSPORT_SESSION_GONE);
            return Route::Handled;
        }
        let parked = self
            .incoming
            .values()
            .filter(|i| matches!(i, Incoming::Parked(_)))
            .count();
        if parked >= MAX_PARKED_STREAMS {
            abort_stream(quic, stream, WEBTRANSPORT_BUFFERED_STREAM_REJECTED);
            return Route::Handled;
        }
        self.incoming.insert(stream, Incoming::Parked(session));
        Route::Handled
    }

    /// Hands the streams waiting for `session` to the application (it is
    /// established now) or refuses them (it never will be).
    pub(super) fn release_parked(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        session: u64,
        established: bool,
    ) {
        let waiting: Vec<u64> = self
            .incoming
            .iter()
            .filter(|(_, i)| matches!(i, Incoming::Parked(s) if *s == session))
            .map(|(id, _)| *id)
            .collect();
        for stream in waiting {
            self.incoming.remove(&stream);
            if established {
                announce(quic, streams, &mut self.events, stream, session);
            } else {
                abort_stream(quic, stream, WEBTRANSPORT_SESSION_GONE);
            }
        }
    }
}

/// Makes `stream` an application stream of `session` and queues its
/// announcement, which goes out before any of its data.
fn announce(
    quic: &mut quiche::Connection,
    streams: &mut dyn SessionStreams,
    events: &mut std::collections::VecDeque<Event>,
    stream: u64,
    session: u64,
) {
    streams.adopt(quic, stream, session);
    events.push_back(Event::Stream { stream, session });
}
