//! WebTransport over HTTP/3 (draft-ietf-webtrans-http3; extended CONNECT,
//! RFC 9220; HTTP datagrams, RFC 9297) as a per-connection state machine.
//!
//! A connection whose config enables WebTransport and whose negotiated ALPN
//! is `h3` gets a [`WebTransport`] once established. From then on nquic
//! itself consumes every stream the application does not own: the peer's
//! control stream (SETTINGS, GOAWAY), its QPACK streams, and the CONNECT
//! streams that carry sessions (HEADERS, then capsules in DATA frames).
//! WebTransport streams are classified by their first bytes (a uni stream of
//! type 0x54 or a bidi stream that starts with the 0x41 signal, then the
//! session ID), which are read exactly and never reach the application; the
//! rest of such a stream is an ordinary application stream of the
//! connection's [`StreamTable`](crate::streams::StreamTable), tagged with
//! its session. On such a connection every stream in that table is a
//! WebTransport stream, so their reset and stop-sending codes are mapped
//! between WebTransport's 32-bit codes and the HTTP/3 range ([`codes`]).
//!
//! The codecs (SETTINGS, QPACK of the CONNECT request and response, capsules,
//! variable-length integers) are web-transport-proto's; this module only
//! moves bytes between them and quiche, sans-IO like the rest of the core.
//!
//! Sessions end cleanly (a CLOSE_WEBTRANSPORT_SESSION capsule, or a FIN on
//! the CONNECT stream) or abruptly (the CONNECT stream is reset or carries
//! something malformed); either way their remaining streams are reset with
//! WEBTRANSPORT_SESSION_GONE, as the draft requires.

pub mod certificate;
pub mod codes;
mod connection;
mod control;
pub(crate) mod frames;
mod incoming;
mod session;
mod writes;

use std::collections::{HashMap, VecDeque};

use crate::events::{self, EventSink};
use frames::FrameReader;
use session::Session;
use writes::Writes;

pub use connection::Intercept;

/// What the HTTP/3 layer needs of the connection's application streams (the
/// connection's `StreamTable` implements it).
pub trait SessionStreams {
    /// Makes a peer's stream an application stream of `session`.
    fn adopt(&mut self, quic: &mut quiche::Connection, stream: u64, session: u64);
    /// Forgets the streams of `session` and returns their IDs (the caller
    /// resets them).
    fn take_session(&mut self, session: u64) -> Vec<u64>;
}

/// Sessions a server accepts at once on one connection unless configured.
pub const DEFAULT_MAX_SESSIONS: u64 = 100;
/// WebTransport streams that may wait at most, per connection, for a
/// session not established yet; more are refused.
const MAX_PARKED_STREAMS: usize = 64;
/// Largest HTTP/3 frame taken on a CONNECT stream (HEADERS, or DATA carrying
/// capsules) or on the control stream.
const MAX_FRAME_BYTES: usize = 64 * 1024 + 16;
/// Longest close reason sent (W3C WebTransport: 1024 bytes of UTF-8).
pub const MAX_REASON_BYTES: usize = 1024;

/// What the application hears about sessions; see `events.rs` for the rows.
#[derive(Debug)]
pub enum Event {
    /// Server: a CONNECT request for a session awaits `wt_respond`.
    Request { session: u64, fields: Vec<u8> },
    /// Client: the server answered `wt_connect` (0: it does not offer WebTransport).
    Response { session: u64, status: u16 },
    /// A peer-opened stream of an established session; its data follows.
    Stream { stream: u64, session: u64 },
    /// The session ended cleanly (a close capsule, or the CONNECT stream's FIN).
    Closed {
        session: u64,
        code: u32,
        reason: String,
    },
    /// The session ended abruptly (the CONNECT stream was reset or malformed).
    Reset { session: u64 },
    /// The peer asked to wind the session down (GOAWAY, or a DRAIN capsule).
    Draining { session: u64 },
}

/// One connection's HTTP/3 and WebTransport state.
pub struct WebTransport {
    is_server: bool,
    max_sessions: u64,
    /// Our control stream.
    control: u64,
    /// The peer's control stream, once seen, and what it has sent.
    peer_control: Option<u64>,
    peer_control_reader: FrameReader,
    /// The peer's SETTINGS arrived; whether they offer WebTransport.
    peer_settings: Option<bool>,
    writes: Writes,
    /// Peer streams nquic reads itself (or has not classified yet).
    incoming: HashMap<u64, incoming::Incoming>,
    /// Sessions by session ID (their CONNECT stream's ID).
    sessions: HashMap<u64, Session>,
    /// Peer-opened bidirectional stream IDs below this one have been seen.
    next_peer_bidi: u64,
    goaway_sent: bool,
    events: VecDeque<Event>,
    /// Sessions that ended while their streams were read: they are ended
    /// once this round of reading is over, so that data which arrived with
    /// the close is delivered first.
    ending: Vec<(u64, Event)>,
    /// An HTTP/3 connection error: the connection closes with it.
    error: Option<(u64, String)>,
}

impl WebTransport {
    fn new(is_server: bool, max_sessions: u64, control: u64) -> Self {
        WebTransport {
            is_server,
            max_sessions,
            control,
            peer_control: None,
            peer_control_reader: FrameReader::new(MAX_FRAME_BYTES),
            peer_settings: None,
            writes: Writes::default(),
            incoming: HashMap::new(),
            sessions: HashMap::new(),
            next_peer_bidi: if is_server { 0 } else { 1 },
            goaway_sent: false,
            events: VecDeque::new(),
            ending: Vec::new(),
            error: None,
        }
    }

    /// Records an HTTP/3 connection error (the first one wins).
    fn fail(&mut self, code: u64, reason: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some((code, reason.into()));
        }
    }

    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Sessions that are not over yet (for limits and tests).
    pub fn session_count(&self) -> usize {
        self.sessions.values().filter(|s| !s.is_ended()).count()
    }

    /// Sessions past their headers and not over (request streams whose
    /// HEADERS are still incomplete are not sessions yet).
    #[cfg(test)]
    pub fn announced_session_count(&self) -> usize {
        self.sessions.values().filter(|s| s.is_announced()).count()
    }

    /// Writes queued events into `sink`; `false` when it filled up first.
    fn drain_events(&mut self, sink: &mut EventSink<'_>, conn: u32) -> bool {
        while let Some(event) = self.events.front() {
            if !sink.has_rows(1) {
                return false;
            }
            let row = match event {
                Event::Request { session, fields } => {
                    let Some(at) = put_payload(sink, fields) else {
                        return false;
                    };
                    [
                        events::WT_REQUEST,
                        *session as f64,
                        at,
                        fields.len() as f64,
                        0.0,
                    ]
                }
                Event::Response { session, status } => [
                    events::WT_RESPONSE,
                    *session as f64,
                    f64::from(*status),
                    0.0,
                    0.0,
                ],
                Event::Stream { stream, session } => {
                    [events::WT_STREAM, *stream as f64, *session as f64, 0.0, 0.0]
                }
                Event::Closed {
                    session,
                    code,
                    reason,
                } => {
                    let Some(at) = put_payload(sink, reason.as_bytes()) else {
                        return false;
                    };
                    [
                        events::WT_CLOSED,
                        *session as f64,
                        f64::from(*code),
                        at,
                        reason.len() as f64,
                    ]
                }
                Event::Reset { session } => [events::WT_RESET, *session as f64, 0.0, 0.0, 0.0],
                Event::Draining { session } => {
                    [events::WT_DRAINING, *session as f64, 0.0, 0.0, 0.0]
                }
            };
            sink.push(row[0], conn, row[1], row[2], row[3], row[4]);
            self.events.pop_front();
        }
        true
    }
}

/// Copies `bytes` into the sink's payload space; their offset, or `None`
/// when they do not fit.
fn put_payload(sink: &mut EventSink<'_>, bytes: &[u8]) -> Option<f64> {
    let (at, space) = sink.payload_space();
    let target = space.get_mut(..bytes.len())?;
    target.copy_from_slice(bytes);
    sink.commit_payload(bytes.len());
    Some(at as f64)
}

/// What reading a stream found at its end.
enum ReadEnd {
    /// More may come.
    Open,
    Fin,
    Reset,
}

/// Reads what `stream` has now, handing each piece to `take`.
fn read_available(
    quic: &mut quiche::Connection,
    stream: u64,
    mut take: impl FnMut(&[u8]),
) -> ReadEnd {
    let mut buf = [0u8; 4096];
    // Bounded by the stream's flow-control window; the count is a backstop.
    for _ in 0..100_000 {
        match quic.stream_recv(stream, &mut buf) {
            Ok((n, fin)) => {
                take(&buf[..n]);
                if fin {
                    return ReadEnd::Fin;
                }
            }
            Err(quiche::Error::Done) => return ReadEnd::Open,
            Err(quiche::Error::StreamReset(_)) => return ReadEnd::Reset,
            Err(_) => return ReadEnd::Reset,
        }
    }
    ReadEnd::Open
}

/// Stops reading `stream` and, if we may write on it, resets it: both with `code`.
fn abort_stream(quic: &mut quiche::Connection, stream: u64, code: u64) {
    let _ = quic.stream_shutdown(stream, quiche::Shutdown::Read, code);
    let _ = quic.stream_shutdown(stream, quiche::Shutdown::Write, code);
}
