//! CONNECT streams: the extended CONNECT request (RFC 9220) that opens a
//! session and its response, then the capsules (RFC 9297 §3.2, carried in
//! DATA frames) that close or drain it. The request and response codecs and
//! the capsule codec are web-transport-proto's.

use web_transport_proto::http::StatusCode;
use web_transport_proto::{Capsule, CapsuleError, ConnectError, ConnectRequest, ConnectResponse};

use super::codes::*;
use super::frames::{put_frame, types, FrameReader};
use super::{
    abort_stream, read_available, Event, ReadEnd, SessionStreams, WebTransport, MAX_FRAME_BYTES,
};

/// DRAIN_WEBTRANSPORT_SESSION (draft-ietf-webtrans-http3 §4.6).
const DRAIN_CAPSULE: u64 = 0x78ae;
/// Longest capsule payload buffered (a close reason is at most 1024 bytes).
const MAX_CAPSULE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Server: the request awaits the application's verdict.
    Requested,
    /// Client: the request awaits the peer's SETTINGS or its response.
    Connecting,
    Open,
    /// We closed the session and wait for the peer to finish the CONNECT stream.
    Closing,
    /// Over; the CONNECT stream is kept only until the peer finishes it.
    Ended,
}

pub struct Session {
    state: State,
    reader: FrameReader,
    headers_seen: bool,
    capsules: Vec<u8>,
    /// The peer's side of the CONNECT stream is over (FIN or reset).
    recv_done: bool,
    /// An end was found while reading; it takes effect after the reading round.
    ending: bool,
    /// Client: the encoded request, waiting for the peer's SETTINGS.
    request: Option<Vec<u8>>,
    /// Our side of the CONNECT stream is finished (FIN queued) or reset.
    send_done: bool,
    /// The application was told the session is draining (once is enough).
    draining: bool,
}

impl Session {
    fn new(state: State) -> Self {
        Session {
            state,
            reader: FrameReader::new(MAX_FRAME_BYTES),
            headers_seen: false,
            capsules: Vec::new(),
            recv_done: false,
            ending: false,
            request: None,
            send_done: false,
            draining: false,
        }
    }

    pub fn requested() -> Self {
        Session::new(State::Requested)
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.reader.push(bytes);
    }

    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Not established yet, but may be.
    pub fn is_pending(&self) -> bool {
        matches!(self.state, State::Requested | State::Connecting)
    }

    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Marks the session draining; `true` the first time only, so that a
    /// peer repeating DRAIN capsules or GOAWAY frames queues one event, not
    /// one each.
    pub fn mark_draining(&mut self) -> bool {
        !std::mem::replace(&mut self.draining, true)
    }

    /// Past its request or response headers and not over: a session the
    /// application has heard of.
    #[cfg(test)]
    pub fn is_announced(&self) -> bool {
        self.headers_seen && !self.is_ended()
    }
}

/// Request fields as the application receives them: `name\0value\0` pairs,
/// pseudo-headers (`:authority`, `:path`) first.
fn request_fields(request: &ConnectRequest) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |name: &str, value: &[u8]| {
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(value);
        out.push(0);
    };
    let url = &request.url;
    put(":authority", url.authority().as_bytes());
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    put(":path", path.as_bytes());
    for (name, value) in request.headers.iter() {
        put(name.as_str(), value.as_bytes());
    }
    if !request.protocols.is_empty() {
        put(":protocols", request.protocols.join(",").as_bytes());
    }
    out
}

impl WebTransport {
    /// Reads what a CONNECT stream has now.
    pub(super) fn read_connect(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        id: u64,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            // Over and forgotten: drop what still comes.
            if !matches!(read_available(quic, id, |_| {}), ReadEnd::Open) {
                self.incoming.remove(&id);
            }
            return;
        };
        let end = read_available(quic, id, |bytes| session.push(bytes));
        self.on_connect_frames(quic, streams, id);
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        match end {
            ReadEnd::Open => {}
            ReadEnd::Fin => {
                session.recv_done = true;
                self.end_after_reading(
                    id,
                    Event::Closed {
                        session: id,
                        code: 0,
                        reason: String::new(),
                    },
                );
            }
            ReadEnd::Reset => {
                session.recv_done = true;
                self.end_after_reading(id, Event::Reset { session: id });
            }
        }
        self.forget_if_done(id);
    }

    fn on_connect_frames(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        id: u64,
    ) {
        while self.error.is_none() {
            let Some(session) = self.sessions.get_mut(&id) else {
                return;
            };
            let frame = match session.reader.next() {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(_) => return self.malformed(quic, streams, id, H3_EXCESSIVE_LOAD),
            };
            if types::is_http2_reserved(frame.typ) {
                return self.fail(H3_FRAME_UNEXPECTED, "HTTP/2 frame type on a request stream");
            }
            if !session.headers_seen {
                match frame.typ {
                    types::HEADERS if self.is_server => {
                        self.on_request(quic, streams, id, &frame.raw)
                    }
                    types::HEADERS => self.on_response(quic, streams, id, &frame.raw),
                    types::DATA => {
                        return self.fail(H3_FRAME_UNEXPECTED, "DATA before HEADERS");
                    }
                    _ => {} // unknown and reserved frame types are skipped
                }
                continue;
            }
            if frame.typ == types::DATA && !session.is_ended() {
                session.capsules.extend_from_slice(frame.payload());
                if session.capsules.len() > MAX_CAPSULE_BYTES {
                    return self.malformed(quic, streams, id, H3_EXCESSIVE_LOAD);
                }
                self.on_capsules(quic, streams, id);
            }
            // Trailers and other frames after the headers mean nothing here.
        }
    }

    fn on_request(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        id: u64,
        raw: &[u8],
    ) {
        let decoded = ConnectRequest::decode(&mut &raw[..]);
        if let Some(session) = self.sessions.get_mut(&id) {
            session.headers_seen = true;
        }
        let request = match decoded {
            Ok(request) => request,
            Err(e) => {
                // Plain HTTP/3 requests are not served: 404.
                let status = match e {
                    ConnectError::WrongMethod(_) | ConnectError::WrongProtocol(_) => 404,
                    ConnectError::FieldSectionTooLarge => 431,
                    _ => 400,
                };
                return self.refuse_request(quic, streams, id, status);
            }
        };
        if self.goaway_sent {
            self.sessions.remove(&id);
            abort_stream(quic, id, H3_REQUEST_REJECTED);
            self.incoming.remove(&id);
            return;
        }
        if self.session_count() as u64 > self.max_sessions {
            return self.refuse_request(quic, streams, id, 429);
        }
        self.events.push_back(Event::Request {
            session: id,
            fields: request_fields(&request),
        });
    }

    /// Answers a request that is not a session with `status` and forgets it.
    fn refuse_request(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        id: u64,
        status: u16,
    ) {
        self.queue_response(id, status, true);
        self.sessions.remove(&id);
        self.incoming.remove(&id);
        let _ = quic.stream_shutdown(id, quiche::Shutdown::Read, H3_NO_ERROR);
        self.release_parked(quic, streams, id, false);
    }

    fn queue_response(&mut self, id: u64, status: u16, fin: bool) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut bytes = Vec::new();
        if ConnectResponse::new(status).encode(&mut bytes).is_ok() {
            self.writes.queue(id, &bytes, fin);
        }
    }

    fn on_response(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        id: u64,
        raw: &[u8],
    ) {
        let status = match ConnectResponse::decode(&mut &raw[..]) {
            Ok(response) => response.status,
            Err(ConnectError::WrongStatus(Some(status))) if status.is_informational() => return,
            Err(ConnectError::WrongStatus(Some(status))) => status,
            Err(_) => return self.malformed(quic, streams, id, H3_MESSAGE_ERROR),
        };
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        session.headers_seen = true;
        if session.state != State::Connecting {
            return;
        }
        self.events.push_back(Event::Response {
            session: id,
            status: status.as_u16(),
        });
        if status.is_success() {
            session.state = State::Open;
            self.release_parked(quic, streams, id, true);
        } else {
            session.state = State::Ended;
            session.send_done = true;
            self.writes.queue(id, &[], true);
            let _ = quic.stream_shutdown(id, quiche::Shutdown::Read, H3_NO_ERROR);
            session.recv_done = true;
            self.release_parked(quic, streams, id, false);
        }
    }

    fn on_capsules(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        id: u64,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        // Every complete capsule first, then the buffer moves once: taking
        // them off its front one by one would be quadratic in their number.
        let mut rest = &session.capsules[..];
        let mut complete = Vec::new();
        let malformed = loop {
            match Capsule::decode(&mut rest) {
                Ok(capsule) => complete.push(capsule),
                Err(CapsuleError::UnexpectedEnd | CapsuleError::VarInt(_)) => break false,
                Err(_) => break true,
            }
        };
        let used = session.capsules.len() - rest.len();
        session.capsules.drain(..used);
        for capsule in complete {
            let Some(session) = self.sessions.get_mut(&id) else {
                return;
            };
            match capsule {
                Capsule::CloseWebTransportSession { code, reason } => {
                    self.end_after_reading(
                        id,
                        Event::Closed {
                            session: id,
                            code,
                            reason,
                        },
                    );
                }
                Capsule::Unknown { typ, .. }
                    if typ.into_inner() == DRAIN_CAPSULE
                        && !session.ending
                        && session.state == State::Open
                        && session.mark_draining() =>
                {
                    self.events.push_back(Event::Draining { session: id });
                }
                _ => {}
            }
        }
        if malformed {
            self.malformed(quic, streams, id, H3_MESSAGE_ERROR);
        }
    }

    /// The CONNECT stream broke the protocol: the session ends abruptly.
    fn malformed(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        id: u64,
        code: u64,
    ) {
        abort_stream(quic, id, code);
        self.writes.drop_stream(id);
        if let Some(session) = self.sessions.get_mut(&id) {
            session.recv_done = true;
            if session.state == State::Requested && !session.headers_seen {
                self.sessions.remove(&id);
                self.incoming.remove(&id);
                return;
            }
        }
        self.end_session_with(quic, streams, id, Event::Reset { session: id });
        self.forget_if_done(id);
    }

    /// Notes that a session ends once the current reading round is over.
    pub(super) fn end_after_reading(&mut self, id: u64, event: Event) {
        if let Some(session) = self.sessions.get_mut(&id) {
            if !session.ending && session.state != State::Ended {
                session.ending = true;
                self.ending.push((id, event));
            }
        }
    }

    /// Ends the sessions whose end was found during the reading round.
    pub(super) fn end_pending(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
    ) {
        for (id, event) in std::mem::take(&mut self.ending) {
            self.end_session_with(quic, streams, id, event);
            self.forget_if_done(id);
        }
    }

    /// Ends a session: the application hears `event` (unless it already
    /// knows, after refusing the request or being refused), its streams are
    /// reset with WEBTRANSPORT_SESSION_GONE, and our side of the CONNECT
    /// stream finishes.
    fn end_session_with(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        id: u64,
        event: Event,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if session.state == State::Ended {
            return;
        }
        // A FIN is a clean end only after a response (and, for a client,
        // after its request went out); otherwise the stream is aborted.
        let clean = matches!(event, Event::Closed { .. })
            && matches!(session.state, State::Open | State::Closing);
        session.state = State::Ended;
        if !clean {
            self.writes.drop_stream(id);
            abort_stream(quic, id, WEBTRANSPORT_SESSION_GONE);
            session.recv_done = true;
        } else if !session.send_done {
            self.writes.queue(id, &[], true);
        }
        session.send_done = true;
        self.events.push_back(event);
        reset_session_streams(quic, streams, id);
        self.release_parked(quic, streams, id, false);
    }

    /// Drops a session once both sides of its CONNECT stream are over.
    fn forget_if_done(&mut self, id: u64) {
        let done = self
            .sessions
            .get(&id)
            .is_some_and(|s| s.state == State::Ended && s.recv_done);
        if done {
            self.sessions.remove(&id);
            self.incoming.remove(&id);
        }
    }

    // ----------------------------------------------------------------- commands

    /// Server: answers a request with `status` (2xx establishes the session).
    /// A request that ended meanwhile is ignored.
    pub(super) fn respond(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        id: u64,
        status: u16,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if session.state != State::Requested || session.ending {
            return;
        }
        if (200..300).contains(&status) {
            session.state = State::Open;
            self.queue_response(id, status, false);
            self.release_parked(quic, streams, id, true);
        } else {
            session.state = State::Ended;
            self.refuse_request(quic, streams, id, status);
        }
    }

    /// Client: a session whose request goes out once the peer's SETTINGS allow.
    pub(super) fn connect(&mut self, id: u64, request: Vec<u8>) {
        let mut session = Session::new(State::Connecting);
        session.request = Some(request);
        self.sessions.insert(id, session);
        if let Some(usable) = self.peer_settings {
            self.send_waiting_requests(usable);
        }
    }

    /// Client: the peer's SETTINGS arrived; send the waiting requests, or
    /// fail them if the peer does not offer WebTransport.
    pub(super) fn send_waiting_requests(&mut self, usable: bool) {
        let mut refused = Vec::new();
        for (&id, session) in self.sessions.iter_mut() {
            let Some(request) = session.request.take() else {
                continue;
            };
            if usable {
                self.writes.queue(id, &request, false);
            } else {
                session.state = State::Ended;
                session.recv_done = true;
                refused.push(id);
            }
        }
        // Their streams were never created in quiche: nothing to reset.
        for id in refused {
            self.events.push_back(Event::Response {
                session: id,
                status: 0,
            });
            self.sessions.remove(&id);
        }
    }

    /// Closes a session: the CLOSE_WEBTRANSPORT_SESSION capsule and a FIN on
    /// the CONNECT stream, and its streams reset. Once the peer finishes its
    /// side, a `Closed` event says so. A session not established yet is
    /// abandoned (its request cancelled). Idempotent.
    pub(super) fn close(
        &mut self,
        quic: &mut quiche::Connection,
        streams: &mut dyn SessionStreams,
        id: u64,
        code: u32,
        reason: &str,
    ) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        match session.state {
            State::Open => {
                session.state = State::Closing;
                session.send_done = true;
                let mut capsule = Vec::new();
                Capsule::CloseWebTransportSession {
                    code,
                    reason: reason.to_string(),
                }
                .encode(&mut capsule);
                let mut bytes = Vec::new();
                put_frame(&mut bytes, types::DATA, &capsule);
                self.writes.queue(id, &bytes, true);
                reset_session_streams(quic, streams, id);
            }
            State::Requested => self.respond(quic, streams, id, 404),
            State::Connecting => {
                session.state = State::Ended;
                session.recv_done = true;
                self.writes.drop_stream(id);
                abort_stream(quic, id, H3_REQUEST_CANCELLED);
                self.release_parked(quic, streams, id, false);
                self.forget_if_done(id);
            }
            State::Closing | State::Ended => {}
        }
    }

    /// Whether `stream` may be bound to `session` (it is established).
    pub(super) fn session_is_open(&self, session: u64) -> bool {
        self.sessions.get(&session).is_some_and(Session::is_open)
    }
}

/// Resets every stream of `session` with WEBTRANSPORT_SESSION_GONE, both
/// directions, and forgets it.
fn reset_session_streams(
    quic: &mut quiche::Connection,
    streams: &mut dyn SessionStreams,
    session: u64,
) {
    for stream in streams.take_session(session) {
        abort_stream(quic, stream, WEBTRANSPORT_SESSION_GONE);
    }
}
