//! One QUIC connection: a quiche connection plus the bookkeeping the driver
//! needs — which events were reported, what each stream may still do,
//! and the deadlines quiche does not know about (handshake, keep-alive).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::close::{classify, CloseInfo, Ending};
use crate::config::Config;
use crate::datagram_pool;
use crate::events::{self, EventSink};
use crate::paths::PathWatch;
use crate::relay::link::{RelayLink, RelayPath};
use crate::stall::StallProbe;
use crate::streams::StreamTable;
use crate::tls::resumption::{Admission, SessionCheck};
use crate::tls::verify;
use crate::transmit::PacketSink;

/// Packets a closing connection may send per `flush`.
const CLOSING_PACKETS_PER_FLUSH: usize = 4;
/// How long a locally closed connection may take to get its close under way.
/// A close that was sent starts draining at once, so this only ends the rare
/// close quiche cannot send (an application close while a Handshake probe is
/// owed), which the peer then ends by its idle timeout.
const LOCAL_CLOSE_GRACE: Duration = Duration::from_millis(300);

pub struct Connection {
    pub id: u32,
    pub quic: quiche::Connection,
    pub is_server: bool,
    /// Connection IDs routed to this connection by the endpoint.
    pub routes: Vec<Vec<u8>>,
    /// The deadline registered with the endpoint's timers.
    pub timer: Option<Instant>,
    pub queued_send: bool,
    pub queued_events: bool,
    pub(crate) datagrams: bool,
    handshake_deadline: Option<Instant>,
    /// Abandoned without a close exchange: the handshake timed out, or a
    /// local close never got under way.
    given_up: bool,
    /// Set by a local `close`: the connection is given up past it.
    close_deadline: Option<Instant>,
    keep_alive: Option<Duration>,
    last_sent: Instant,
    established_reported: bool,
    closed_reported: bool,
    /// The verify hook must be asked about the peer (a `VERIFY` event is due).
    pub(crate) verify_requested: bool,
    /// Key-log lines written by quiche, not yet handed out.
    keylog: Option<LogBuffer>,
    /// qlog (JSON-SEQ) written by quiche, not yet handed out.
    qlog: Option<LogBuffer>,
    early_reported: bool,
    session_len_reported: usize,
    /// Datagrams handed to the application.
    pub(crate) datagrams_delivered: u64,
    /// `sendDatagram` calls refused because the send queue was full.
    pub(crate) datagrams_send_dropped: u64,
    /// What the application may still do with each live stream.
    pub(crate) streams: StreamTable,
    /// quiche's count of STOP_SENDING frames received, when last looked at.
    pub(crate) stopped_seen: u64,
    /// STOP_SENDING seen but not yet reported, as (stream, code), oldest
    /// first: found by a write, a flush or `note_stopped_streams`.
    pub(crate) stops_unreported: VecDeque<(u64, u64)>,
    pub(crate) next_bidi: u64,
    pub(crate) next_uni: u64,
    credit_reported: (u64, u64),
    /// Set when this connection carries relay traffic (to or as the relay).
    pub(crate) relay: Option<RelayLink>,
    /// Set when this connection travels through a relay.
    pub(crate) relay_path: Option<RelayPath>,
    /// Why the relay path failed, ending the connection.
    relay_failure: Option<(&'static str, String)>,
    /// Checks the peer of a resumed session (see `tls/resumption.rs`).
    pub(crate) session_check: SessionCheck,
    /// The active path and its validated changes (`pathChanges`).
    pub(crate) paths: PathWatch,
    /// Client: PINGs a path that went quiet while streams wait for data.
    pub(crate) stall: StallProbe,
    /// WebTransport over HTTP/3, once started (see `webtransport/`).
    pub(crate) web_transport: Option<Box<crate::webtransport::WebTransport>>,
    /// The config's WebTransport settings, until the connection is
    /// established and HTTP/3 starts (if the ALPN is `h3`).
    pub(crate) web_transport_config: Option<u64>,
    /// Capacity of quiche's datagram receive queue.
    datagram_queue_len: usize,
}

impl Connection {
    pub fn new(
        id: u32,
        quic: quiche::Connection,
        is_server: bool,
        handshake_timeout: Duration,
        keep_alive: Option<Duration>,
        datagrams: bool,
    ) -> Self {
        let now = Instant::now();
        // Locally initiated stream IDs: the low bit is the initiator, the
        // next bit the direction (RFC 9000 §2.1).
        let side = u64::from(is_server);
        Connection {
            id,
            quic,
            is_server,
            routes: Vec::new(),
            timer: None,
            queued_send: false,
            queued_events: false,
            datagrams,
            handshake_deadline: Some(now + handshake_timeout),
            given_up: false,
            close_deadline: None,
            keep_alive,
            last_sent: now,
            established_reported: false,
            closed_reported: false,
            verify_requested: false,
            keylog: None,
            qlog: None,
            early_reported: false,
            session_len_reported: 0,
            datagrams_delivered: 0,
            datagrams_send_dropped: 0,
            streams: StreamTable::default(),
            stopped_seen: 0,
            stops_unreported: VecDeque::new(),
            next_bidi: side,
            next_uni: side | 2,
            credit_reported: (0, 0),
            relay: None,
            relay_path: None,
            relay_failure: None,
            session_check: SessionCheck::default(),
            paths: PathWatch::default(),
            stall: StallProbe::new(now),
            web_transport: None,
            web_transport_config: None,
            datagram_queue_len: 1024,
        }
    }

    /// A connection set up as `config` says (side, deadlines, datagrams,
    /// key log and qlog).
    pub fn from_config(id: u32, quic: quiche::Connection, config: &Config) -> Self {
        let mut conn = Connection::new(
            id,
            quic,
            config.is_server,
            config.handshake_timeout,
            config.keep_alive,
            config.datagrams,
        );
        if config.keylog {
            conn.enable_keylog();
        }
        if config.qlog {
            conn.enable_qlog();
        }
        conn.session_check = SessionCheck::new(config.verifier.clone());
        conn.web_transport_config = config.web_transport;
        conn.datagram_queue_len = config.datagram_queue_len;
        conn
    }

    /// Collects NSS key-log lines for `KEYLOG` events.
    pub fn enable_keylog(&mut self) {
        let buffer = LogBuffer::with_limit(KEYLOG_LIMIT);
        self.quic.set_keylog(Box::new(buffer.clone()));
        self.keylog = Some(buffer);
    }

    /// Collects this connection's qlog for `QLOG` events.
    pub fn enable_qlog(&mut self) {
        let buffer = LogBuffer::with_limit(QLOG_LIMIT);
        let side = if self.is_server { "server" } else { "client" };
        self.quic.set_qlog(
            Box::new(buffer.clone()),
            format!("nquic {side} connection {}", self.id),
            String::new(),
        );
        self.qlog = Some(buffer);
    }

    /// Whether the peer may be announced now (see `tls/resumption.rs`); may
    /// ask the verify hook (a `VERIFY` event follows) or close the connection.
    fn session_admitted(&mut self) -> bool {
        match self
            .session_check
            .admit(self.id, &self.quic, self.is_server)
        {
            Admission::Admitted => true,
            Admission::Waiting => false,
            Admission::AskHook => {
                self.verify_requested = true;
                false
            }
            Admission::Refuse(alert) => {
                // CRYPTO_ERROR codes carry the TLS alert (RFC 9001 §4.8).
                self.close(false, 0x100 + u64::from(alert), b"");
                false
            }
        }
    }

    /// Whether `poll_events` has something to report that a `send` may have
    /// brought about (a close, 0-RTT becoming possible, a verify request).
    pub fn has_news(&self) -> bool {
        (self.is_ended() && !self.closed_reported)
            || self.verify_requested
            || (!self.early_reported && !self.is_server && self.quic.is_in_early_data())
            || self
                .relay
                .as_ref()
                .is_some_and(|l| l.has_outcome() || l.has_signals())
            || (self.established_reported && !self.stops_unreported.is_empty())
            || self.web_transport_has_news()
    }

    /// Ends a relayed connection whose path through the relay failed (no
    /// close can reach the peer any more). No-op once the connection ended.
    pub fn fail_relay_path(&mut self, code: &'static str, message: &str) {
        if self.is_ended() {
            return;
        }
        self.relay_failure = Some((code, message.to_string()));
        self.given_up = true;
    }

    /// Whether the application has been told the handshake completed.
    pub fn is_established(&self) -> bool {
        self.established_reported
    }

    /// Whether the connection has ended for the application: closed,
    /// draining after a CONNECTION_CLOSE, or given up during the handshake.
    pub fn is_ended(&self) -> bool {
        self.is_finished() || self.quic.is_draining()
    }

    /// Whether nothing more will be sent or received, so the state can go.
    pub fn is_finished(&self) -> bool {
        self.given_up || self.quic.is_closed()
    }

    /// Whether the application knows this connection, and so must hear of
    /// its end: a server connection is announced only once established.
    pub fn reports_close(&self) -> bool {
        self.established_reported || !self.is_server
    }

    pub fn closed_reported(&self) -> bool {
        self.closed_reported
    }

    /// The earliest moment this connection needs `on_timeout`.
    pub fn deadline(&self) -> Option<Instant> {
        if self.is_finished() {
            return None;
        }
        let mut next = self.quic.timeout_instant();
        let mut consider = |t: Instant| {
            next = Some(next.map_or(t, |n| n.min(t)));
        };
        if let (Some(t), false) = (self.close_deadline, self.quic.is_draining()) {
            consider(t);
        }
        if let Some(t) = self.relay.as_ref().and_then(RelayLink::deadline) {
            consider(t);
        }
        if !self.quic.is_established() {
            if let Some(t) = self.handshake_deadline {
                consider(t);
            }
        } else if let Some(ka) = self.keep_alive {
            if !self.quic.is_draining() {
                consider(self.last_sent + ka);
            }
        }
        if let Some(t) = self.stall_deadline() {
            consider(t);
        }
        next
    }

    /// When a client waiting for data on its streams next PINGs a path that
    /// went quiet (see [`crate::stall`]).
    fn stall_deadline(&self) -> Option<Instant> {
        if self.is_server
            || !self.established_reported
            || self.streams.is_empty()
            || self.is_ended()
        {
            return None;
        }
        let path = self.quic.path_stats().find(|p| p.active)?;
        self.stall.deadline(path.rtt, path.rttvar)
    }

    pub fn on_timeout(&mut self, now: Instant) {
        if let Some(link) = self.relay.as_mut() {
            for retry in link.retries(now) {
                // A full queue only delays this retry to the next one.
                let _ = self.quic.dgram_send(&retry);
            }
        }
        if let Some(t) = self.close_deadline {
            if now >= t && !self.quic.is_draining() {
                self.given_up = true;
                return;
            }
        }
        if !self.quic.is_established() {
            if let Some(t) = self.handshake_deadline {
                if now >= t {
                    self.given_up = true;
                    return;
                }
            }
        } else if let Some(ka) = self.keep_alive {
            if now >= self.last_sent + ka && !self.quic.is_draining() {
                // A PING keeps the peer's idle timer (and NAT bindings) alive.
                let _ = self.quic.send_ack_eliciting();
            }
        }
        if self.stall_deadline().is_some_and(|t| now >= t) {
            let _ = self.quic.send_ack_eliciting();
            self.stall.probed(now);
        }
        self.quic.on_timeout();
    }

    pub fn recv(
        &mut self,
        data: &mut [u8],
        from: SocketAddr,
        to: SocketAddr,
    ) -> quiche::Result<usize> {
        let read = self.quic.recv(data, quiche::RecvInfo { from, to })?;
        self.stall.heard(Instant::now());
        Ok(read)
    }

    /// Writes packets until quiche has nothing more or the sink is full.
    /// Returns `true` when this connection has nothing left to send.
    pub fn send(&mut self, sink: &mut impl PacketSink) -> bool {
        if self.is_finished() {
            return true;
        }
        self.release_held_bytes();
        self.flush_web_transport();
        // A failed handshake step makes `send` return an error once; the
        // next call then produces the CONNECTION_CLOSE, so try a few times.
        let mut errors = 0;
        // A closing connection sends a handful of packets per turn: in some
        // states (a Handshake probe owed while closing) quiche would produce
        // ACK-only packets forever.
        let mut budget = if self.close_deadline.is_some() || self.quic.local_error().is_some() {
            CLOSING_PACKETS_PER_FLUSH
        } else {
            usize::MAX
        };
        let mut sent = false;
        let done = loop {
            if budget == 0 {
                break true;
            }
            let Some(space) = sink.space() else {
                break false;
            };
            match self.quic.send(space) {
                Ok((len, info)) => {
                    budget -= 1;
                    sink.commit(len, &info.to);
                    sent = true;
                }
                Err(quiche::Error::Done) => break true,
                Err(_) => {
                    errors += 1;
                    if errors > 2 {
                        break true;
                    }
                }
            }
        };
        // Once per call, not per packet: they all left within this call.
        if sent {
            self.last_sent = Instant::now();
        }
        done
    }

    /// Writes this connection's events into `sink`. Returns `true` when all
    /// were written, `false` when the sink filled up first.
    pub fn poll_events(&mut self, sink: &mut EventSink<'_>) -> bool {
        let id = self.id;
        // A resumed session's peer is checked before it is announced (and
        // may need a VERIFY event first): see tls/resumption.rs.
        let announcing = !self.is_ended()
            && ((!self.established_reported && self.quic.is_established())
                || (!self.is_server && !self.early_reported && self.quic.is_in_early_data()));
        let admitted = !announcing || self.session_admitted();
        if self.verify_requested && !self.is_ended() {
            if !sink.has_rows(1) {
                return false;
            }
            sink.push(events::VERIFY, id, 0.0, 0.0, 0.0, 0.0);
            self.verify_requested = false;
        }
        if !self.poll_keylog(sink) {
            return false;
        }
        let ended = self.is_ended();
        if let Some(link) = self.relay.as_mut().filter(|l| l.has_outcome() && !ended) {
            if !sink.has_rows(1) {
                return false;
            }
            let outcome = link.take_outcome().unwrap_or_default();
            sink.push(events::RELAY_REGISTERED, id, outcome, 0.0, 0.0, 0.0);
        }
        if !self.early_reported
            && !self.is_server
            && self.quic.is_in_early_data()
            && !self.is_ended()
            && admitted
        {
            if !sink.has_rows(1) {
                return false;
            }
            sink.push(events::EARLY_DATA, id, 0.0, 0.0, 0.0, 0.0);
            self.early_reported = true;
        }
        if !self.established_reported && self.quic.is_established() && !self.is_ended() && admitted
        {
            if !sink.has_rows(1) {
                return false;
            }
            sink.push(events::ESTABLISHED, id, 0.0, 0.0, 0.0, 0.0);
            self.established_reported = true;
        }
        if self.established_reported {
            self.paths.observe(&mut self.quic);
            let session_len = self.quic.session().map_or(0, <[u8]>::len);
            if !self.is_server && session_len != self.session_len_reported {
                if !sink.has_rows(1) {
                    return false;
                }
                sink.push(events::SESSION_TICKET, id, 0.0, 0.0, 0.0, 0.0);
                self.session_len_reported = session_len;
            }
            // Before any read: quiche forgets a stopped stream once its last
            // data is read, and the STOP_SENDING code with it.
            self.note_stopped_streams();
            if !self.poll_signals(sink)
                || !self.poll_web_transport(sink)
                || !self.poll_datagrams(sink)
                || !self.poll_readable(sink)
                || !self.poll_writable(sink)
            {
                return false;
            }
            // Sessions that ended while streams were read end now.
            if !self.poll_web_transport(sink) {
                return false;
            }
            let credit = (
                self.quic.peer_streams_left_bidi(),
                self.quic.peer_streams_left_uni(),
            );
            if credit.0 > self.credit_reported.0 || credit.1 > self.credit_reported.1 {
                if !sink.has_rows(1) {
                    return false;
                }
                sink.push(
                    events::STREAMS_AVAILABLE,
                    id,
                    credit.0 as f64,
                    credit.1 as f64,
                    0.0,
                    0.0,
                );
            }
            self.credit_reported = credit;
        }
        if self.is_ended() && !self.closed_reported {
            if self.reports_close() {
                if !sink.has_rows(1) {
                    return false;
                }
                sink.push(events::CLOSED, id, 0.0, 0.0, 0.0, 0.0);
            }
            self.closed_reported = true;
        }
        true
    }

    fn poll_keylog(&mut self, sink: &mut EventSink<'_>) -> bool {
        let id = self.id;
        let keylog = self
            .keylog
            .as_ref()
            .is_none_or(|b| b.drain_into(sink, events::KEYLOG, id, false));
        keylog
            && self
                .qlog
                .as_ref()
                .is_none_or(|b| b.drain_into(sink, events::QLOG, id, true))
    }

    /// Rendezvous signalling messages, in order (`SIGNAL` rows).
    fn poll_signals(&mut self, sink: &mut EventSink<'_>) -> bool {
        let ended = self.is_ended();
        let Some(link) = self.relay.as_mut() else {
            return true;
        };
        if ended {
            link.signals.inbox.clear();
        }
        drain_payloads(sink, events::SIGNAL, self.id, &mut link.signals.inbox)
    }

    fn poll_datagrams(&mut self, sink: &mut EventSink<'_>) -> bool {
        if self.web_transport.is_some() {
            return self.poll_web_transport_datagrams(sink);
        }
        loop {
            match self.next_datagram(sink) {
                NextDatagram::Full => return false,
                NextDatagram::None => return true,
                NextDatagram::At(offset, n) => {
                    sink.commit_payload(n);
                    sink.push(events::DATAGRAM, self.id, offset as f64, n as f64, 0.0, 0.0);
                    self.datagrams_delivered += 1;
                }
            }
        }
    }

    /// Copies the next datagram received for the application into the
    /// sink's payload space, without committing it there: first those set
    /// aside while relay traffic was taken out of quiche's queue (on
    /// connections that carry it: to or at a relay or rendezvous), then
    /// quiche's own.
    pub(crate) fn next_datagram(&mut self, sink: &mut EventSink<'_>) -> NextDatagram {
        if let Some(set_aside) = self.relay.as_mut().map(|l| &mut l.app_datagrams) {
            // All datagrams of a connection that carries relay traffic go
            // through `drain_relay_datagrams`, which sets the application's
            // aside here; none is read from quiche's queue directly.
            let Some(datagram) = set_aside.front() else {
                return NextDatagram::None;
            };
            if !sink.has_rows(1) {
                return NextDatagram::Full;
            }
            let (offset, space) = sink.payload_space();
            if space.len() < datagram.len() {
                return NextDatagram::Full;
            }
            let n = datagram.len();
            space[..n].copy_from_slice(datagram);
            set_aside.pop_front();
            return NextDatagram::At(offset, n);
        }
        let Some(len) = self.quic.dgram_recv_front_len() else {
            return NextDatagram::None;
        };
        if !sink.has_rows(1) {
            return NextDatagram::Full;
        }
        let (offset, space) = sink.payload_space();
        if space.len() < len {
            return NextDatagram::Full;
        }
        match self.quic.dgram_recv_buf() {
            Ok(datagram) => {
                // Fits: `len` is its length, checked above.
                let n = datagram.len().min(space.len());
                space[..n].copy_from_slice(&datagram[..n]);
                datagram_pool::recycle(datagram);
                self.stall.data_arrived();
                NextDatagram::At(offset, n)
            }
            Err(_) => NextDatagram::None,
        }
    }

    /// Whether datagrams are piling up: received ones waiting for the
    /// application (a quarter of the receive queue, at most 256), or its own
    /// waiting for congestion control to let them go (an eighth of the send
    /// queue, at most 128). A batched read should then pause: reading on
    /// would overflow the receive queue or, for an application that answers
    /// each datagram, the send queue.
    pub fn datagram_backlog(&self) -> bool {
        let queue = self.datagram_queue_len;
        self.datagrams
            && (self.quic.dgram_recv_queue_len() >= (queue / 4).clamp(1, 256)
                || self.quic.dgram_send_queue_len() >= (queue / 8).clamp(1, 128))
    }

    /// How many more datagrams the send queue takes now; 0 on a relayed
    /// connection (its datagrams are never batched in JavaScript).
    pub fn datagram_room(&self) -> usize {
        if !self.datagrams || self.relay_path.is_some() {
            return 0;
        }
        self.datagram_queue_len
            .saturating_sub(self.quic.dgram_send_queue_len())
    }

    /// Datagrams received for the application: relay traffic carried by this
    /// connection is not counted.
    pub fn datagrams_received(&self) -> u64 {
        let received = self.quic.stats().dgram_recv as u64;
        let relay = self.relay.as_ref().map_or(0, |link| link.relay_datagrams);
        received.saturating_sub(relay)
    }

    /// Received datagrams quiche discarded because its receive queue was full
    /// (the oldest go first).
    pub fn datagrams_recv_dropped(&self) -> u64 {
        let mut queued = self.quic.dgram_recv_queue_len() as u64;
        if let Some(link) = &self.relay {
            // The application's datagrams set aside among relay traffic wait too.
            queued += link.app_datagrams.len() as u64;
        }
        self.datagrams_received()
            .saturating_sub(self.datagrams_delivered + queued)
    }

    /// Closes the connection (CONNECTION_CLOSE); a no-op if already closing.
    /// Should the close not get under way (nothing sent, no draining), the
    /// connection is given up after `LOCAL_CLOSE_GRACE` so that a local
    /// close always completes.
    pub fn close(&mut self, application: bool, code: u64, reason: &[u8]) {
        // `Err(Done)` means a close is already under way, which is fine.
        let _ = self.quic.close(application, code, reason);
        self.close_deadline
            .get_or_insert(Instant::now() + LOCAL_CLOSE_GRACE);
    }

    /// How the connection ended; meaningful once [`is_finished`](Self::is_finished).
    pub fn close_info(&self) -> CloseInfo {
        if let Some((code, message)) = &self.relay_failure {
            return crate::close::local_error(code, message);
        }
        let ending = if self.given_up {
            match self.quic.local_error() {
                Some(e) => Ending::Local(e),
                None => Ending::HandshakeTimeout,
            }
        } else if self.quic.is_timed_out() {
            Ending::IdleTimeout
        } else if let Some(e) = self.quic.peer_error() {
            Ending::Remote(e)
        } else if let Some(e) = self.quic.local_error() {
            Ending::Local(e)
        } else {
            Ending::Lost
        };
        let local = matches!(ending, Ending::Local(_) | Ending::HandshakeTimeout);
        let mut info = classify(ending);
        // Our own certificate check knows better than the alert it sent.
        if let (true, Some((code, message))) = (local, verify::take_refusal(self.id)) {
            if let Some(error) = info.error.as_mut() {
                error.code = code;
                error.message = message;
            }
        }
        info
    }
}

/// Moves queued payloads into `sink` as `kind` rows, oldest first. Returns
/// whether all of them fitted.
fn drain_payloads(
    sink: &mut EventSink<'_>,
    kind: f64,
    id: u32,
    queue: &mut VecDeque<Vec<u8>>,
) -> bool {
    while let Some(payload) = queue.front() {
        if !sink.has_rows(1) {
            return false;
        }
        let (offset, space) = sink.payload_space();
        if space.len() < payload.len() {
            return false;
        }
        let n = payload.len();
        space[..n].copy_from_slice(payload);
        sink.commit_payload(n);
        sink.push(kind, id, offset as f64, n as f64, 0.0, 0.0);
        queue.pop_front();
    }
    true
}

/// What [`Connection::next_datagram`] found.
pub(crate) enum NextDatagram {
    /// A datagram of this many bytes at this payload offset.
    At(usize, usize),
    None,
    /// The sink has no room for its row or its bytes.
    Full,
}

/// Key-log bytes kept per connection at most (a handful of lines).
const KEYLOG_LIMIT: usize = 64 * 1024;
/// qlog bytes buffered per connection at most between two polls.
const QLOG_LIMIT: usize = 16 * 1024 * 1024;

/// Where quiche writes a connection's key log or qlog until `poll_events`
/// hands it out. Bounded: beyond its limit, output is dropped.
#[derive(Clone)]
pub struct LogBuffer {
    bytes: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    limit: usize,
}

impl LogBuffer {
    fn with_limit(limit: usize) -> Self {
        LogBuffer {
            bytes: Default::default(),
            limit,
        }
    }

    /// Moves buffered output into `sink` as `kind` rows. With `split`, a
    /// large buffer goes out in pieces; without, all at once or not at all.
    /// Returns `false` when the sink filled up first.
    fn drain_into(&self, sink: &mut EventSink<'_>, kind: f64, id: u32, split: bool) -> bool {
        let Ok(mut bytes) = self.bytes.lock() else {
            return true;
        };
        while !bytes.is_empty() {
            if !sink.has_rows(1) {
                return false;
            }
            let (offset, space) = sink.payload_space();
            let len = if split {
                bytes.len().min(space.len())
            } else {
                bytes.len()
            };
            if len == 0 || space.len() < len {
                return false;
            }
            space[..len].copy_from_slice(&bytes[..len]);
            bytes.drain(..len);
            sink.commit_payload(len);
            sink.push(kind, id, offset as f64, len as f64, 0.0, 0.0);
        }
        true
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut bytes) = self.bytes.lock() {
            if bytes.len() + buf.len() <= self.limit {
                bytes.extend_from_slice(buf);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
