//! Where a connection's HTTP/3 layer sits between quiche and the
//! application (hooks called from `connection.rs` and `streams.rs`), and
//! the WebTransport commands the binding exposes.

use web_transport_proto::http::{HeaderName, HeaderValue};
use web_transport_proto::{ConnectRequest, Frame, StreamUni};

use super::codes::{self, H3_CLOSED_CRITICAL_STREAM, H3_GENERAL_PROTOCOL_ERROR};
use super::frames::{put_varint, varint};
use super::incoming::Route;
use super::{Event, WebTransport, MAX_REASON_BYTES};
use crate::connection::{Connection, NextDatagram};
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::events::{self, EventSink};

/// What `poll_readable` does with a readable stream of an HTTP/3 connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Intercept {
    /// An application stream: read it as usual.
    Application,
    /// Consumed by the HTTP/3 layer.
    Handled,
    /// The event sink is full: stop this round here.
    Full,
}

fn not_webtransport() -> CoreError {
    CoreError::new(
        ErrorCode::InvalidArgValue,
        "not a WebTransport (HTTP/3) connection",
    )
}

fn session_closed(session: u64) -> CoreError {
    CoreError::new(
        ErrorCode::WebTransportSessionClosed,
        format!("WebTransport session {session} is not open"),
    )
}

/// The largest prefix of `reason` of at most `max` bytes that ends on a
/// character boundary.
fn truncate(reason: &str, max: usize) -> &str {
    let mut end = reason.len().min(max);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

impl Connection {
    /// Starts HTTP/3 once the connection is established with ALPN `h3`, if
    /// its config enables WebTransport: opens our control stream with our
    /// SETTINGS.
    fn start_web_transport(&mut self) {
        let Some(max_sessions) = self.web_transport_config else {
            return;
        };
        self.web_transport_config = None;
        if self.quic.application_proto() != b"h3" {
            return;
        }
        if self.quic.peer_streams_left_uni() == 0 {
            self.close(
                true,
                H3_GENERAL_PROTOCOL_ERROR,
                b"no stream credit for the HTTP/3 control stream",
            );
            return;
        }
        let control = self.next_uni;
        self.next_uni += 4;
        // Creates the stream in quiche; the control stream goes first.
        let _ = self.quic.stream_priority(control, 0, false);
        let mut wt = WebTransport::new(self.is_server, max_sessions, control);
        wt.send_settings();
        self.web_transport = Some(Box::new(wt));
        self.flush_web_transport();
    }

    /// Whether this connection speaks WebTransport over HTTP/3.
    pub fn is_web_transport(&self) -> bool {
        self.web_transport.is_some()
    }

    pub(crate) fn web_transport_has_news(&self) -> bool {
        self.web_transport.as_ref().is_some_and(|w| w.has_events())
    }

    /// `poll_events`, before datagrams and streams: starts HTTP/3 when due,
    /// ends sessions found over, and hands out queued events.
    pub(crate) fn poll_web_transport(&mut self, sink: &mut EventSink<'_>) -> bool {
        self.start_web_transport();
        self.after_web_transport_reads();
        let conn = self.id;
        self.web_transport
            .as_mut()
            .is_none_or(|wt| wt.drain_events(sink, conn))
    }

    /// After a round of reading streams: sessions that ended during it end
    /// now (their streams reset), queued writes go to quiche, and an HTTP/3
    /// error closes the connection.
    pub(crate) fn after_web_transport_reads(&mut self) {
        let Some(wt) = self.web_transport.as_deref_mut() else {
            return;
        };
        wt.end_pending(&mut self.quic, &mut self.streams);
        self.flush_web_transport();
    }

    /// `poll_readable`'s hook for each readable stream.
    pub(crate) fn web_transport_intercept(
        &mut self,
        stream: u64,
        sink: &mut EventSink<'_>,
    ) -> Intercept {
        let conn = self.id;
        let local = self.is_local_stream(stream);
        let Some(wt) = self.web_transport.as_deref_mut() else {
            return Intercept::Application;
        };
        if !wt.drain_events(sink, conn) {
            return Intercept::Full;
        }
        if self.streams.get(stream).is_some() {
            return Intercept::Application;
        }
        let route = if !local {
            wt.on_peer_stream(&mut self.quic, &mut self.streams, stream)
        } else if wt.sessions.contains_key(&stream) {
            wt.read_connect(&mut self.quic, &mut self.streams, stream);
            Route::Handled
        } else {
            Route::Application
        };
        // An application stream's announcement must go out before its data.
        let drained = wt.drain_events(sink, conn);
        self.raise_web_transport_error();
        match route {
            Route::Application if !drained => Intercept::Full,
            Route::Application => Intercept::Application,
            Route::Handled => Intercept::Handled,
        }
    }

    /// Closes the connection if the HTTP/3 layer found a connection error.
    fn raise_web_transport_error(&mut self) {
        if let Some((code, reason)) = self.web_transport.as_mut().and_then(|w| w.error.take()) {
            self.close(true, code, reason.as_bytes());
        }
    }

    /// Hands queued HTTP/3 bytes to quiche; a CONNECT stream the peer
    /// stopped ends its session, our control stream stopped is an error.
    pub(crate) fn flush_web_transport(&mut self) {
        let Some(wt) = self.web_transport.as_deref_mut() else {
            return;
        };
        if !wt.writes.is_empty() {
            for stream in wt.writes.flush(&mut self.quic) {
                if stream == wt.control {
                    wt.fail(
                        H3_CLOSED_CRITICAL_STREAM,
                        "the peer stopped our control stream",
                    );
                } else {
                    wt.end_after_reading(stream, Event::Reset { session: stream });
                }
            }
            wt.end_pending(&mut self.quic, &mut self.streams);
        }
        self.raise_web_transport_error();
    }

    /// Datagrams of an HTTP/3 connection: each starts with its session's
    /// quarter stream ID (RFC 9297 §2.1), which is stripped. Datagrams for
    /// sessions that are not open are dropped (and counted as dropped).
    pub(crate) fn poll_web_transport_datagrams(&mut self, sink: &mut EventSink<'_>) -> bool {
        loop {
            let (offset, n) = match self.next_datagram(sink) {
                NextDatagram::Full => return false,
                NextDatagram::None => return true,
                NextDatagram::At(offset, n) => (offset, n),
            };
            let (_, space) = sink.payload_space();
            let Some((quarter, header)) = varint(&space[..n]) else {
                continue;
            };
            let session = quarter.saturating_mul(4);
            let open = self
                .web_transport
                .as_ref()
                .is_some_and(|wt| wt.session_is_open(session));
            if !open {
                continue;
            }
            sink.commit_payload(n);
            sink.push(
                events::WT_DATAGRAM,
                self.id,
                (offset + header) as f64,
                (n - header) as f64,
                session as f64,
                0.0,
            );
            self.datagrams_delivered += 1;
        }
    }

    /// The code a stream reset or stop-sending carries on the wire: on an
    /// HTTP/3 connection, application streams are WebTransport streams.
    pub(crate) fn stream_code_to_wire(&self, code: u64) -> u64 {
        if self.web_transport.is_some() {
            codes::to_wire(code)
        } else {
            code
        }
    }

    /// The application code a received reset or stop-sending carries.
    pub(crate) fn stream_code_from_wire(&self, code: u64) -> u64 {
        if self.web_transport.is_some() {
            codes::from_wire(code)
        } else {
            code
        }
    }

    fn web_transport_mut(&mut self) -> CoreResult<&mut WebTransport> {
        if self.is_ended() {
            return Err(CoreError::new(
                ErrorCode::ConnectionClosed,
                "the connection is closed",
            ));
        }
        self.web_transport
            .as_deref_mut()
            .ok_or_else(not_webtransport)
    }

    // ------------------------------------------------------------ commands

    /// Server: answers the request of `session` (after a `WT_REQUEST`
    /// event) with an HTTP status; 2xx establishes the session.
    pub fn wt_respond(&mut self, session: u64, status: u16) -> CoreResult<()> {
        if !(200..=599).contains(&status) {
            return Err(CoreError::new(
                ErrorCode::OutOfRange,
                "status must be an HTTP status from 200 to 599",
            ));
        }
        let wt = self
            .web_transport
            .as_deref_mut()
            .ok_or_else(not_webtransport)?;
        wt.respond(&mut self.quic, &mut self.streams, session, status);
        self.flush_web_transport();
        Ok(())
    }

    /// Client: opens a session with an extended CONNECT to
    /// `https://{authority}{path}` carrying `headers`; returns the session
    /// ID. A `WT_RESPONSE` event answers.
    pub fn wt_connect(
        &mut self,
        authority: &str,
        path: &str,
        headers: &[(String, String)],
    ) -> CoreResult<u64> {
        if self.is_server {
            return Err(not_webtransport());
        }
        let url = url::Url::parse(&format!("https://{authority}{path}"))
            .map_err(|e| CoreError::new(ErrorCode::InvalidArgValue, format!("invalid URL: {e}")))?;
        let mut request = ConnectRequest::new(url).with_header(
            HeaderName::from_static("sec-webtransport-http3-draft02"),
            HeaderValue::from_static("1"),
        );
        for (name, value) in headers {
            let bad = || {
                CoreError::new(
                    ErrorCode::InvalidArgValue,
                    format!("invalid header {name:?}"),
                )
            };
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            let value = HeaderValue::from_str(value).map_err(|_| bad())?;
            request = request.with_header(name, value);
        }
        let mut bytes = Vec::new();
        request.encode(&mut bytes).map_err(|e| {
            CoreError::new(ErrorCode::InvalidArgValue, format!("invalid request: {e}"))
        })?;
        if self.quic.peer_streams_left_bidi() == 0 {
            return Err(CoreError::new(
                ErrorCode::StreamLimit,
                "no bidirectional stream credit for the CONNECT request",
            ));
        }
        let id = self.next_bidi;
        let wt = self.web_transport_mut()?;
        wt.connect(id, bytes);
        self.next_bidi += 4;
        self.flush_web_transport();
        Ok(id)
    }

    /// Closes a session with a WebTransport code and reason (at most 1024
    /// bytes are sent). Idempotent.
    pub fn wt_close_session(&mut self, session: u64, code: u32, reason: &str) -> CoreResult<()> {
        let reason = truncate(reason, MAX_REASON_BYTES);
        let wt = self
            .web_transport
            .as_deref_mut()
            .ok_or_else(not_webtransport)?;
        wt.close(&mut self.quic, &mut self.streams, session, code, reason);
        self.flush_web_transport();
        Ok(())
    }

    /// Makes a stream this side just opened a stream of `session`; returns
    /// the bytes that must start it (stream type or signal, session ID).
    pub fn wt_bind_stream(&mut self, stream: u64, session: u64) -> CoreResult<Vec<u8>> {
        let local = self.is_local_stream(stream);
        let wt = self.web_transport_mut()?;
        if !wt.session_is_open(session) {
            return Err(session_closed(session));
        }
        if !local || !self.streams.set_session(stream, session) {
            return Err(CoreError::new(
                ErrorCode::InvalidStreamState,
                format!("stream {stream} is not a new local stream"),
            ));
        }
        let mut header = Vec::new();
        if stream & 2 == 0 {
            Frame::WEBTRANSPORT.encode(&mut header);
        } else {
            StreamUni::WEBTRANSPORT.encode(&mut header);
        }
        put_varint(&mut header, session);
        Ok(header)
    }

    /// Sends an HTTP datagram of `session`. `Ok(false)` when the send queue is full.
    pub fn wt_send_datagram(&mut self, session: u64, data: &[u8]) -> CoreResult<bool> {
        let max = self.wt_max_datagram_size(session)?;
        if data.len() > max {
            return Err(CoreError::new(
                ErrorCode::DatagramTooLarge,
                format!(
                    "a datagram of {} bytes exceeds the session's maxDatagramSize ({max})",
                    data.len()
                ),
            ));
        }
        let mut datagram = Vec::with_capacity(data.len() + 8);
        put_varint(&mut datagram, session / 4);
        datagram.extend_from_slice(data);
        self.datagram_send(&datagram)
    }

    /// The largest datagram payload `session` can send now.
    pub fn wt_max_datagram_size(&mut self, session: u64) -> CoreResult<usize> {
        let wt = self.web_transport_mut()?;
        if !wt.session_is_open(session) {
            return Err(session_closed(session));
        }
        let mut prefix = Vec::new();
        put_varint(&mut prefix, session / 4);
        Ok(self.max_datagram_size().saturating_sub(prefix.len()))
    }

    /// Server: sends GOAWAY; requests that arrive later are refused.
    pub fn wt_goaway(&mut self) -> CoreResult<()> {
        self.web_transport_mut()?.send_goaway();
        self.flush_web_transport();
        Ok(())
    }

    /// Sessions past their headers (tests of the session limit).
    #[cfg(test)]
    pub fn wt_announced_session_count(&self) -> usize {
        self.web_transport
            .as_ref()
            .map_or(0, |w| w.announced_session_count())
    }

    /// Live sessions of this connection (for tests and leak checks).
    pub fn wt_session_count(&self) -> usize {
        self.web_transport.as_ref().map_or(0, |w| w.session_count())
    }
}
