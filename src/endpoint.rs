//! The endpoint: every connection of one UDP socket. It parses headers,
//! routes datagrams by connection ID, accepts new connections for a server,
//! answers unknown versions, and collects events and outgoing packets from
//! all connections into caller-owned batches.
//!
//! Required call order, once per event-loop turn (see `lib/socket.ts`):
//! `recv` for each received datagram → `poll_events` until it returns 0 →
//! `flush` until it returns 0 (send what it wrote) → `next_timeout` to re-arm
//! the one timer; when that timer fires: `on_timeout`, then the same loop.
//! Commands between turns need only a `flush` (then `poll_events` if
//! `has_pending_events`): a connection `poll_events` visits is always queued
//! for the next flush.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

static NEXT_CONNECTION_ID: AtomicU32 = AtomicU32::new(1);

use ring::rand::{SecureRandom, SystemRandom};

use crate::close::CloseInfo;
use crate::coalesce;
use crate::config::Config;
use crate::connection::Connection;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::events::EventSink;
use crate::limits::HandshakeLimiter;
use crate::relay::link::{RelayLink, Role};
use crate::relay::service::RelayService;
use crate::tls::verify;
use crate::tokens::Secrets;
use crate::transmit::TransmitSink;

mod negotiation;
mod relaying;
mod signalling;

/// Length of the connection IDs this endpoint issues.
pub const CID_LEN: usize = 16;
/// Connection IDs kept issued to the peer beyond the one in use.
const SPARE_CIDS: usize = 2;
/// The timer slot of relay housekeeping (no connection has ID 0).
const RELAY_TIMER: u32 = 0;
/// Clients must pad Initial packets to this size (RFC 9000 §14.1).
const MIN_INITIAL_SIZE: usize = 1200;
/// QUIC transport error CONNECTION_REFUSED (RFC 9000 §20.1).
const CONNECTION_REFUSED: u64 = 0x2;

/// What happened to one received datagram (for debug logging and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvOutcome {
    Delivered = 0,
    Accepted = 1,
    VersionNegotiation = 2,
    Dropped = 3,
    Retry = 4,
}

pub type SharedConfig = Rc<RefCell<Config>>;

pub struct Endpoint {
    local: SocketAddr,
    server: Option<SharedConfig>,
    max_connections: usize,
    /// Boxed: a connection is about 8.5 KB, and a table of them inline
    /// would keep up to twice that per connection in spare capacity.
    conns: HashMap<u32, Box<Connection>>,
    routes: HashMap<Vec<u8>, u32>,
    timers: crate::timers::Timers,
    send_queue: VecDeque<u32>,
    event_queue: VecDeque<u32>,
    stateless: VecDeque<(Vec<u8>, SocketAddr)>,
    close_infos: HashMap<u32, CloseInfo>,
    rng: SystemRandom,
    secrets: Secrets,
    limiter: HandshakeLimiter,
    /// Connection IDs of connections that migrated to another endpoint.
    moved_away: std::collections::HashSet<Vec<u8>>,
    /// Scratch space for splitting coalesced packets.
    packet_ends: Vec<usize>,
    /// Set when this endpoint's server relays for its peers.
    relay: Option<RelayService>,
    /// Relayed connections by `(connection to the relay, flow)`.
    relay_paths: HashMap<(u32, u32), u32>,
    /// When idle relayed flows are next looked for.
    relay_timer: Option<Instant>,
    /// Events of the endpoint itself (not of one connection), as rows.
    endpoint_events: VecDeque<[f64; crate::events::STRIDE]>,
    /// Scratch space for datagrams carrying relay traffic.
    relay_buf: Vec<u8>,
    /// Set by `recv` when a connection has a backlog of received datagrams.
    datagram_backlog: bool,
    /// Set when this endpoint's server is a rendezvous (signalling).
    rendezvous: bool,
    /// Large stream data of the last chunked poll (`poll_events_chunked`).
    chunks: Vec<Vec<u8>>,
}

impl Endpoint {
    pub fn new(local: SocketAddr) -> CoreResult<Self> {
        let rng = SystemRandom::new();
        let secrets = Secrets::generate(&rng)
            .ok_or_else(|| CoreError::new(ErrorCode::Internal, "no randomness available"))?;
        Ok(Endpoint {
            local,
            secrets,
            limiter: HandshakeLimiter::new(0),
            moved_away: Default::default(),
            server: None,
            max_connections: usize::MAX,
            conns: HashMap::new(),
            routes: HashMap::new(),
            timers: Default::default(),
            send_queue: VecDeque::new(),
            event_queue: VecDeque::new(),
            stateless: VecDeque::new(),
            close_infos: HashMap::new(),
            rng,
            packet_ends: Vec::with_capacity(4),
            relay: None,
            relay_paths: HashMap::new(),
            relay_timer: None,
            endpoint_events: VecDeque::new(),
            relay_buf: Vec::new(),
            datagram_backlog: false,
            chunks: Vec::new(),
            rendezvous: false,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Starts (or, with `None`, stops) accepting connections.
    pub fn set_server(&mut self, config: Option<SharedConfig>, max_connections: usize) {
        let rate = config
            .as_ref()
            .map_or(0, |c| c.borrow().handshake_rate_limit);
        self.limiter = HandshakeLimiter::new(rate);
        self.server = config;
        self.max_connections = max_connections.max(1);
    }

    pub fn is_server(&self) -> bool {
        self.server.is_some()
    }

    /// Whether the server already serves `maxConnections` connections (its
    /// own: outgoing connections on the same socket do not count).
    fn serving_at_most(&self) -> bool {
        self.conns.len() >= self.max_connections
            && self.conns.values().filter(|c| c.is_server).count() >= self.max_connections
    }

    /// Stops accepting: no new connection starts, and server connections
    /// still in their handshake (or waiting for a `verify` verdict) are
    /// refused with CONNECTION_REFUSED, so that none completes afterwards.
    pub fn stop_listening(&mut self) {
        self.set_server(None, usize::MAX);
        let handshaking: Vec<u32> = self
            .conns
            .values()
            .filter(|c| c.is_server && !c.is_established() && !c.is_ended())
            .map(|c| c.id)
            .collect();
        for id in handshaking {
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.close(
                    false,
                    CONNECTION_REFUSED,
                    b"the server stopped accepting connections",
                );
            }
            self.touch(id);
        }
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// A connection for a getter: also one whose end was reported in the
    /// current batch of events (JavaScript may still be dispatching rows
    /// that came before its `CLOSED`), as long as it is not freed.
    pub fn connection(&self, id: u32) -> CoreResult<&Connection> {
        self.conns.get(&id).map(|c| &**c).ok_or_else(|| unknown(id))
    }

    /// A connection for a command: marks it for the next flush and poll.
    pub fn connection_mut(&mut self, id: u32) -> CoreResult<&mut Connection> {
        match self.conns.get(&id) {
            Some(c) if !c.closed_reported() => {}
            _ => return Err(unknown(id)),
        }
        self.touch(id);
        self.conns
            .get_mut(&id)
            .map(|c| &mut **c)
            .ok_or_else(|| unknown(id))
    }

    /// A connection for a command that only gives it something to send
    /// (writes, datagrams, opening a stream): marks it for the next flush,
    /// which queues it for `poll_events` if sending brings news. Sparing the
    /// poll lets the driver skip a turn with nothing to report.
    pub fn connection_for_send(&mut self, id: u32) -> CoreResult<&mut Connection> {
        let conn = match self.conns.get_mut(&id) {
            Some(c) if !c.closed_reported() => c,
            _ => return Err(unknown(id)),
        };
        if !conn.queued_send {
            conn.queued_send = true;
            self.send_queue.push_back(id);
        }
        Ok(conn)
    }

    /// Queues a connection for the next `poll_events` (after a command whose
    /// outcome a poll must follow up, such as a blocked write).
    pub fn queue_events(&mut self, id: u32) {
        self.touch_events(id);
    }

    fn new_cid(&self) -> CoreResult<Vec<u8>> {
        let mut cid = vec![0u8; CID_LEN];
        self.rng
            .fill(&mut cid)
            .map_err(|_| CoreError::new(ErrorCode::Internal, "no randomness available"))?;
        Ok(cid)
    }

    /// Connection IDs are unique across all endpoints of the process, so
    /// that per-connection state kept outside the endpoint (the verify
    /// registry) can never be confused between two sockets.
    fn allocate_id(&mut self) -> u32 {
        loop {
            let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
            if id != 0 && !self.conns.contains_key(&id) && !self.close_infos.contains_key(&id) {
                return id;
            }
        }
    }

    fn insert(&mut self, mut conn: Connection, cids: Vec<Vec<u8>>) -> u32 {
        let id = conn.id;
        for cid in &cids {
            self.routes.insert(cid.clone(), id);
        }
        conn.routes = cids;
        self.conns.insert(id, Box::new(conn));
        self.touch(id);
        id
    }

    /// Queues a connection for the next `poll_events` and `flush`.
    fn touch(&mut self, id: u32) {
        if let Some(c) = self.conns.get_mut(&id) {
            if !c.queued_send {
                c.queued_send = true;
                self.send_queue.push_back(id);
            }
        }
        self.touch_events(id);
    }

    /// Queues a connection for the next `poll_events` only.
    fn touch_events(&mut self, id: u32) {
        if let Some(c) = self.conns.get_mut(&id) {
            if !c.queued_events {
                c.queued_events = true;
                self.event_queue.push_back(id);
            }
        }
    }

    /// Opens a client connection to `peer`. `server_name` goes into SNI;
    /// `expected` is what the server's certificate must name.
    pub fn connect(
        &mut self,
        config: &SharedConfig,
        server_name: Option<&str>,
        expected: Option<verify::Expected>,
        session: Option<&[u8]>,
        peer: SocketAddr,
    ) -> CoreResult<u32> {
        let local = self.local;
        self.start_client(config, server_name, expected, session, local, peer)
    }

    fn start_client(
        &mut self,
        config: &SharedConfig,
        server_name: Option<&str>,
        expected: Option<verify::Expected>,
        session: Option<&[u8]>,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> CoreResult<u32> {
        let scid = self.new_cid()?;
        let id = self.allocate_id();
        let mut cfg = config.borrow_mut();
        let quic = quiche::connect(
            server_name,
            &quiche::ConnectionId::from_ref(&scid),
            local,
            peer,
            &mut cfg.quiche,
        )
        .map_err(|e| CoreError::new(ErrorCode::Tls, format!("cannot start connection: {e}")))?;
        let mut conn = Connection::from_config(id, quic, &cfg);
        drop(cfg);
        if let Some(ticket) = session {
            // A stale or foreign ticket only means a full handshake.
            let _ = conn.quic.set_session(ticket);
        }
        verify::set_expected(id, expected);
        Ok(self.insert(conn, vec![scid]))
    }

    /// Feeds one received UDP payload. quiche decrypts in place, so `data`
    /// is clobbered.
    pub fn recv(&mut self, data: &mut [u8], from: SocketAddr) -> RecvOutcome {
        if crate::relay::is_synthetic(&from.ip()) {
            // Only relayed packets carry these addresses, never the network.
            return RecvOutcome::Dropped;
        }
        let local = self.local;
        self.recv_on(data, from, local, None)
    }

    /// Feeds one packet that arrived on path `from` → `local`; `relayed`
    /// names the relay flow it came through.
    fn recv_on(
        &mut self,
        data: &mut [u8],
        from: SocketAddr,
        local: SocketAddr,
        relayed: Option<(u32, u32)>,
    ) -> RecvOutcome {
        if let Some(outcome) = self.unsupported_version(data, from) {
            return outcome;
        }
        let hdr = match quiche::Header::from_slice(data, CID_LEN) {
            Ok(h) => h,
            Err(_) => return RecvOutcome::Dropped,
        };
        if let Some(&id) = self.routes.get(hdr.dcid.as_ref()) {
            if let Some(conn) = self.conns.get_mut(&id) {
                coalesce::packet_ends(data, &mut self.packet_ends);
                let mut start = 0;
                verify::serving(id, || {
                    for &end in &self.packet_ends {
                        // Errors here (bad packets) are dropped by quiche or
                        // close the connection, which `poll_events` reports.
                        let _ = conn.recv(&mut data[start..end], from, local);
                        start = end;
                    }
                });
                conn.verify_requested |= verify::new_request(id);
                // Relay traffic is acted on only once the peer is admitted
                // (handshake, verify hook and resumption checks passed).
                let relaying = conn.relay.is_some() && conn.is_established();
                // An ID the peer retired stops routing before the next
                // datagram, which may be a late packet to it (RFC 9000 §5.1.2
                // lets us drop it): quiche would close the connection with
                // PROTOCOL_VIOLATION on a packet to an ID it no longer has.
                if conn.quic.retired_scids() > 0 {
                    self.manage_cids(id);
                }
                self.touch(id);
                if relaying {
                    self.drain_relay_datagrams(id);
                }
                // After relay traffic was taken out of the datagram queue.
                if let Some(conn) = self.conns.get(&id) {
                    self.datagram_backlog |= conn.datagram_backlog();
                }
                return RecvOutcome::Delivered;
            }
        }
        if hdr.ty != quiche::Type::Initial {
            if hdr.ty == quiche::Type::Short && relayed.is_none() {
                self.queue_stateless_reset(&hdr.dcid, data.len(), from);
            }
            return RecvOutcome::Dropped;
        }
        let Some(server) = self.server.clone() else {
            return RecvOutcome::Dropped;
        };
        // RFC 9000 §14.1: a datagram too small to open a connection gets
        // nothing (unsupported versions: see `negotiation.rs`).
        if data.len() < MIN_INITIAL_SIZE || !quiche::version_is_supported(hdr.version) {
            return RecvOutcome::Dropped;
        }
        if self.serving_at_most() {
            return RecvOutcome::Dropped;
        }
        let retry = server.borrow().retry && relayed.is_none();
        let (scid, odcid) = if retry {
            match hdr.token.as_deref().filter(|t| !t.is_empty()) {
                None => return self.send_retry(&hdr, from),
                Some(token) => match self.secrets.validate_retry_token(token, &from, &hdr.dcid) {
                    // The client now uses the connection ID our Retry gave it.
                    Some(odcid) => (hdr.dcid.to_vec(), Some(odcid)),
                    None => return RecvOutcome::Dropped,
                },
            }
        } else {
            match self.new_cid() {
                Ok(cid) => (cid, None),
                Err(_) => return RecvOutcome::Dropped,
            }
        };
        // A relayed handshake counts against the relay's address: every
        // flow through one relay comes from there.
        let source = match relayed {
            None => Some(from.ip()),
            Some((via, _)) => self.network_peer(via).map(|p| p.ip()),
        };
        if source.is_some_and(|ip| !self.limiter.allow(ip, Instant::now())) {
            return RecvOutcome::Dropped;
        }
        let id = self.allocate_id();
        let mut cfg = server.borrow_mut();
        let scid_ref = quiche::ConnectionId::from_ref(&scid);
        let accepted = match &odcid {
            Some(odcid) => quiche::accept_with_retry(
                &scid_ref,
                quiche::RetryConnectionIds {
                    original_destination_cid: &quiche::ConnectionId::from_ref(odcid),
                    retry_source_cid: &scid_ref,
                },
                local,
                from,
                &mut cfg.quiche,
            ),
            None => quiche::accept(&scid_ref, None, local, from, &mut cfg.quiche),
        };
        let Ok(quic) = accepted else {
            return RecvOutcome::Dropped;
        };
        let mut conn = Connection::from_config(id, quic, &cfg);
        drop(cfg);
        if (self.relay.is_some() || self.rendezvous) && relayed.is_none() {
            conn.relay = Some(RelayLink::new(Role::Serving));
        }
        verify::serving(id, || conn.recv(data, from, local)).ok();
        conn.verify_requested |= verify::new_request(id);
        // Without Retry the client keeps using the CID it chose until it
        // hears from us; with Retry it already uses ours.
        let routes = if odcid.is_some() {
            vec![scid]
        } else {
            vec![scid, hdr.dcid.to_vec()]
        };
        self.insert(conn, routes);
        if let Some((via, flow)) = relayed {
            self.attach_relayed(id, via, flow, None);
        }
        RecvOutcome::Accepted
    }

    fn queue_stateless(&mut self, packet: Vec<u8>, to: SocketAddr) {
        // Bounded: under a flood, stateless answers are simply not sent.
        // Nor are answers to relayed packets: they cannot go out as UDP.
        if self.stateless.len() < 64 && !crate::relay::is_synthetic(&to.ip()) {
            self.stateless.push_back((packet, to));
        }
    }

    /// Asks the client to prove its address: a Retry with a token.
    fn send_retry(&mut self, hdr: &quiche::Header<'_>, from: SocketAddr) -> RecvOutcome {
        let Ok(new_scid) = self.new_cid() else {
            return RecvOutcome::Dropped;
        };
        let token = self.secrets.mint_retry_token(&from, &hdr.dcid, &new_scid);
        let mut out = vec![0u8; 512];
        match quiche::retry(
            &hdr.scid,
            &hdr.dcid,
            &quiche::ConnectionId::from_ref(&new_scid),
            &token,
            hdr.version,
            &mut out,
        ) {
            Ok(len) => {
                out.truncate(len);
                self.queue_stateless(out, from);
                RecvOutcome::Retry
            }
            Err(_) => RecvOutcome::Dropped,
        }
    }

    /// Answers a short-header packet for an unknown connection with a
    /// stateless reset (RFC 9000 §10.3): smaller than what triggered it, so
    /// two endpoints can never loop.
    fn queue_stateless_reset(&mut self, dcid: &[u8], received: usize, to: SocketAddr) {
        const MIN_RESET: usize = 22;
        if received <= MIN_RESET || dcid.len() != CID_LEN || self.moved_away.contains(dcid) {
            return;
        }
        let len = (received - 1).min(43);
        let mut packet = vec![0u8; len];
        if self.rng.fill(&mut packet[..len - 16]).is_err() {
            return;
        }
        packet[0] = (packet[0] & 0x3f) | 0x40;
        packet[len - 16..].copy_from_slice(&self.secrets.reset_token(dcid).to_be_bytes());
        self.queue_stateless(packet, to);
    }

    /// Whether a received datagram left a connection with a backlog of
    /// datagrams (`Connection::datagram_backlog`) since the last call or
    /// poll: a batched read should stop there.
    pub fn take_datagram_backlog(&mut self) -> bool {
        std::mem::take(&mut self.datagram_backlog)
    }

    /// Writes events of all touched connections. Returns the number of rows;
    /// call again until it returns 0.
    pub fn poll_events(&mut self, inbox: &mut [u8], records: &mut [f64]) -> usize {
        self.poll_into(EventSink::new(inbox, records))
    }

    /// As [`poll_events`](Self::poll_events), with large stream data handed
    /// over as chunks of their own (see `EventSink::with_chunks`), kept
    /// until [`take_chunks`](Self::take_chunks) or the next poll.
    pub fn poll_events_chunked(&mut self, inbox: &mut [u8], records: &mut [f64]) -> usize {
        let mut chunks = std::mem::take(&mut self.chunks);
        chunks.clear();
        let rows = self.poll_into(EventSink::with_chunks(inbox, records, &mut chunks));
        self.chunks = chunks;
        rows
    }

    /// The chunks of the last chunked poll, in row order.
    pub fn take_chunks(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.chunks)
    }

    fn poll_into(&mut self, mut sink: EventSink<'_>) -> usize {
        // The application takes its datagrams now.
        self.datagram_backlog = false;
        while let Some(&id) = self.event_queue.front() {
            let Some(conn) = self.conns.get_mut(&id) else {
                self.event_queue.pop_front();
                continue;
            };
            let was_reported = conn.closed_reported();
            let was_admitted = conn.is_established();
            let complete = conn.poll_events(&mut sink);
            // Reading may owe the peer flow-control credit: the next flush
            // sends it, whatever queued this connection for events.
            if !conn.queued_send {
                conn.queued_send = true;
                self.send_queue.push_back(id);
            }
            let ended_now = !was_reported && conn.closed_reported();
            // Relay traffic that arrived before the peer was admitted waited
            // in quiche's queue (see `recv_on`).
            let relaying_now = !was_admitted && conn.is_established() && conn.relay.is_some();
            if ended_now && conn.reports_close() {
                self.close_infos.insert(id, conn.close_info());
            }
            if complete {
                conn.queued_events = false;
            }
            if ended_now {
                self.relay_connection_ended(id);
            }
            if relaying_now {
                self.drain_relay_datagrams(id);
                self.touch_events(id);
            }
            if !complete {
                break;
            }
            self.event_queue.pop_front();
            self.manage_cids(id);
            self.reap(id);
        }
        // After the connections' own events, so that a connection an
        // endpoint event names (a relay request's dialer) is known by then.
        while let Some(row) = self.endpoint_events.front() {
            if !self.event_queue.is_empty() || !sink.has_rows(1) {
                break;
            }
            sink.push(row[0], row[1] as u32, row[2], row[3], row[4], row[5]);
            self.endpoint_events.pop_front();
        }
        sink.rows()
    }

    /// Keeps spare connection IDs issued to the peer (so that it can move to
    /// a new address or follow a NAT rebinding) and unroutes retired ones.
    fn manage_cids(&mut self, id: u32) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        while let Some(retired) = conn.quic.retired_scid_next() {
            let retired = retired.to_vec();
            self.routes.remove(&retired);
            conn.routes.retain(|cid| *cid != retired);
        }
        if !conn.quic.is_established() || conn.is_ended() {
            return;
        }
        while conn.quic.scids_left() > 0 && conn.quic.active_scids() < SPARE_CIDS + 1 {
            let mut cid = vec![0u8; CID_LEN];
            if self.rng.fill(&mut cid).is_err() {
                return;
            }
            let reset_token = self.secrets.reset_token(&cid);
            let scid = quiche::ConnectionId::from_ref(&cid);
            if conn.quic.new_scid(&scid, reset_token, false).is_err() {
                return;
            }
            self.routes.insert(cid.clone(), id);
            conn.routes.push(cid);
            if !conn.queued_send {
                conn.queued_send = true;
                self.send_queue.push_back(id);
            }
        }
    }

    /// Whether `poll_events` has work (e.g. a close noticed during `flush`).
    pub fn has_pending_events(&self) -> bool {
        !self.event_queue.is_empty() || !self.endpoint_events.is_empty()
    }

    /// Writes outgoing packets of all touched connections. Returns the number
    /// of packets; call again (after sending them) until it returns 0. It
    /// stops early only when the sink is full, so a batch with room for
    /// another packet holds everything there was.
    pub fn flush(&mut self, out: &mut [u8], meta: &mut [u32]) -> usize {
        let mut sink = TransmitSink::new(out, meta);
        while let Some((packet, to)) = self.stateless.front() {
            if !sink.push_copy(packet, to) {
                return sink.packets();
            }
            self.stateless.pop_front();
        }
        while let Some(&id) = self.send_queue.front() {
            let Some(conn) = self.conns.get_mut(&id) else {
                self.send_queue.pop_front();
                continue;
            };
            let complete = if conn.relay_path.is_some() {
                self.send_relayed(id)
            } else {
                let complete = verify::serving(id, || conn.send(&mut sink));
                self.relay_unblock(id);
                complete
            };
            let Some(conn) = self.conns.get_mut(&id) else {
                self.send_queue.pop_front();
                continue;
            };
            conn.verify_requested |= verify::new_request(id);
            let (old, new) = (conn.timer, conn.deadline());
            conn.timer = new;
            self.timers.update(id, old, new);
            let needs_report = conn.has_news();
            if complete {
                conn.queued_send = false;
                self.send_queue.pop_front();
            }
            if needs_report {
                self.touch_events(id);
            }
            if !complete {
                break;
            }
        }
        sink.packets()
    }

    /// Whether `cid` is one of this endpoint's connection IDs.
    pub fn routes(&self, cid: &[u8]) -> bool {
        self.routes.contains_key(cid)
    }

    /// Milliseconds until the earliest deadline, or `None` when there is none.
    pub fn next_timeout(&self) -> Option<f64> {
        self.timers.next().map(|t| {
            let now = Instant::now();
            t.saturating_duration_since(now).as_secs_f64() * 1000.0
        })
    }

    /// Runs every expired deadline. Returns how many connections were due.
    pub fn on_timeout(&mut self) -> usize {
        let now = Instant::now();
        let due = self.timers.expired(now);
        for &id in &due {
            if id == RELAY_TIMER {
                self.relay_on_timeout(now);
                continue;
            }
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.timer = None;
                conn.on_timeout(now);
            }
            self.touch(id);
        }
        due.len()
    }

    /// Hands out (once) how a reported-closed connection ended.
    pub fn take_close_info(&mut self, id: u32) -> Option<CloseInfo> {
        self.close_infos.remove(&id)
    }

    /// Frees a connection once nothing more can happen on it.
    fn reap(&mut self, id: u32) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        if !conn.is_finished() {
            return;
        }
        self.relayed_reaped(id);
        if let Some(conn) = self.conns.remove(&id) {
            for cid in &conn.routes {
                self.routes.remove(cid);
            }
            self.timers.update(id, conn.timer, None);
        }
        verify::forget(id);
    }

    /// Takes a live client connection out of this endpoint (for
    /// [`adopt`](Self::adopt)); its connection IDs are remembered so that
    /// late packets for them get no stateless reset from here.
    fn detach(&mut self, id: u32) -> CoreResult<Connection> {
        match self.conns.get(&id) {
            Some(c) if c.relay_path.is_some() || c.relay.is_some() => {
                return Err(CoreError::new(
                    ErrorCode::InvalidArgValue,
                    "a relayed connection, or one that carries relay traffic, cannot migrate",
                ))
            }
            Some(c) if !c.closed_reported() && !c.is_server && c.is_established() => {}
            Some(_) => {
                return Err(CoreError::new(
                    ErrorCode::InvalidArgValue,
                    "only an established client connection can migrate",
                ))
            }
            None => return Err(unknown(id)),
        }
        let mut conn = self.conns.remove(&id).ok_or_else(|| unknown(id))?;
        for cid in &conn.routes {
            self.routes.remove(cid);
            if self.moved_away.len() < 4096 {
                self.moved_away.insert(cid.clone());
            }
        }
        self.timers.update(id, conn.timer, None);
        conn.timer = None;
        conn.queued_send = false;
        conn.queued_events = false;
        Ok(*conn)
    }

    /// Moves client connection `id` from `from` (another socket's endpoint)
    /// to this one and migrates its path to this socket's address: the peer
    /// validates the new path and the connection carries on.
    pub fn adopt(&mut self, from: &mut Endpoint, id: u32) -> CoreResult<()> {
        let mut conn = from.detach(id)?;
        let peer = conn
            .quic
            .path_stats()
            .find(|p| p.active)
            .map(|p| p.peer_addr);
        let migrated = match peer {
            Some(peer) => conn.quic.migrate(self.local, peer).map_err(|e| {
                CoreError::new(
                    ErrorCode::InvalidStreamState,
                    format!("cannot migrate: {e}"),
                )
            }),
            None => Err(CoreError::new(
                ErrorCode::ConnectionClosed,
                "the connection has no path",
            )),
        };
        if let Err(e) = migrated {
            // Put it back where it was; nothing changed.
            let routes = std::mem::take(&mut conn.routes);
            for cid in &routes {
                from.moved_away.remove(cid);
            }
            from.insert(conn, routes);
            return Err(e);
        }
        conn.paths.moved();
        let routes = std::mem::take(&mut conn.routes);
        self.insert(conn, routes);
        Ok(())
    }

    /// Closes every connection of the endpoint, including server connections
    /// the application has not been told about yet (socket shutdown).
    pub fn close_all(&mut self, code: u64, reason: &[u8]) {
        let ids: Vec<u32> = self.conns.keys().copied().collect();
        for id in ids {
            if let Some(conn) = self.conns.get_mut(&id) {
                if !conn.is_ended() {
                    conn.close(true, code, reason);
                }
            }
            self.touch(id);
        }
    }

    /// Forgets every connection: the socket is closed, so none can send or
    /// receive again (a draining connection would never be reaped without
    /// its timer). Call after [`close_all`](Self::close_all) was flushed.
    pub fn shutdown(&mut self) {
        self.set_server(None, usize::MAX);
        self.relay = None;
        for id in self.conns.keys() {
            verify::forget(*id);
        }
        self.conns.clear();
        self.routes.clear();
        self.relay_paths.clear();
        self.timers = Default::default();
        self.relay_timer = None;
        self.send_queue.clear();
        self.event_queue.clear();
        self.endpoint_events.clear();
        self.stateless.clear();
        self.close_infos.clear();
    }

    /// The application's decision about a peer whose check is pending.
    /// `refusal` is `None` to accept.
    pub fn set_verdict(&mut self, id: u32, refusal: Option<verify::Refusal>) -> CoreResult<()> {
        let conn = self.connection_mut(id)?;
        if !conn.session_check.answer(refusal.clone()) {
            verify::set_verdict(id, refusal);
        }
        Ok(())
    }
}

fn unknown(id: u32) -> CoreError {
    CoreError::new(
        ErrorCode::ConnectionClosed,
        format!("connection {id} is closed"),
    )
}
