//! The endpoint's part in relaying (see `relay/mod.rs`): taking relay
//! traffic out of connections' datagram queues, forwarding it when this
//! endpoint is the relay, and carrying relayed connections over a flow when
//! it is a peer.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Endpoint, SharedConfig, RELAY_TIMER};
use crate::connection::Connection;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::events;
use crate::relay::link::{RelayLink, RelayPath, Role, QUEUED_PACKETS_MAX};
use crate::relay::service::{RelayLimits, RelayService, Route, Verdict, REAP_INTERVAL};
use crate::relay::wire::{self, reason};
use crate::relay::{self, RELAYED_PACKET_MAX};
use crate::tls::verify;
use crate::transmit::PacketSink;

/// Largest datagram taken out of a connection's queue.
const RELAY_BUF_LEN: usize = 65_536;

/// Writes a relayed connection's packets into its relay connection's
/// datagram queue, each behind an `OPEN` or `DATA` header.
struct RelaySink<'a> {
    buf: &'a mut [u8],
    outer: &'a mut quiche::Connection,
    path: RelayPath,
    /// The relay connection's queue is full: the relayed one must wait.
    full: bool,
    queued: usize,
}

impl PacketSink for RelaySink<'_> {
    fn space(&mut self) -> Option<&mut [u8]> {
        if self.outer.dgram_send_queue_len() >= QUEUED_PACKETS_MAX {
            self.full = true;
            return None;
        }
        Some(&mut self.buf[wire::MAX_HEADER_LEN..wire::MAX_HEADER_LEN + RELAYED_PACKET_MAX])
    }

    fn commit(&mut self, len: usize, _to: &SocketAddr) {
        let start = match &self.path.opening {
            Some(fingerprint) => {
                wire::write_header(self.buf, wire::OPEN, self.path.flow);
                self.buf[wire::HEADER_LEN..wire::MAX_HEADER_LEN].copy_from_slice(fingerprint);
                0
            }
            None => {
                let start = wire::MAX_HEADER_LEN - wire::HEADER_LEN;
                wire::write_header(&mut self.buf[start..], wire::DATA, self.path.flow);
                start
            }
        };
        // A packet the queue cannot take is lost, as on a congested link.
        if self
            .outer
            .dgram_send(&self.buf[start..wire::MAX_HEADER_LEN + len])
            .is_ok()
        {
            self.queued += 1;
        }
    }
}

fn failure(why: u8) -> (&'static str, &'static str) {
    match why {
        reason::UNKNOWN_PEER => (
            "ERR_QUIC_RELAY_PEER_UNKNOWN",
            "no peer with that certificate fingerprint is registered at the relay",
        ),
        reason::LIMIT => (
            "ERR_QUIC_RELAY_LIMIT",
            "the relay serves its maximum number of flows",
        ),
        reason::DENIED => (
            "ERR_QUIC_RELAY_DENIED",
            "the relay's policy refused this flow",
        ),
        _ => ("ERR_QUIC_RELAY_CLOSED", "the relayed path ended"),
    }
}

impl Endpoint {
    /// Makes this endpoint's server a relay (`None` stops relaying new flows).
    pub fn enable_relay(&mut self, limits: Option<RelayLimits>) {
        match (limits, self.relay.as_mut()) {
            (Some(l), Some(service)) => service.set_limits(l),
            (Some(l), None) => self.relay = Some(RelayService::new(l)),
            (None, _) => self.relay = None,
        }
    }

    /// Flows being relayed and peers registered (for tests and stats).
    pub fn relay_counts(&self) -> (usize, usize) {
        self.relay
            .as_ref()
            .map_or((0, 0), |s| (s.flow_count(), s.target_count()))
    }

    /// Connection `id` for a command that sends relay traffic (`what`) on
    /// it: established, with datagrams, not itself relayed.
    pub(super) fn carrier(&mut self, id: u32, what: &str) -> CoreResult<&mut Connection> {
        let conn = self.connection_mut(id)?;
        if !conn.quic.is_established() || !conn.datagrams {
            return Err(CoreError::new(
                ErrorCode::InvalidArgValue,
                format!("{what} needs an established connection with datagrams enabled"),
            ));
        }
        if conn.relay_path.is_some() {
            return Err(CoreError::new(
                ErrorCode::InvalidArgValue,
                format!("a relayed connection cannot itself carry {what}"),
            ));
        }
        Ok(conn)
    }

    fn relay_link(&mut self, id: u32) -> CoreResult<&mut RelayLink> {
        let conn = self.carrier(id, "relay traffic")?;
        let link = conn
            .relay
            .get_or_insert_with(|| RelayLink::new(Role::Using));
        if link.role != Role::Using {
            return Err(CoreError::new(
                ErrorCode::InvalidArgValue,
                "this connection's peer uses us as its relay",
            ));
        }
        Ok(link)
    }

    /// Asks the relay at the other end of `id` to make us reachable through
    /// it; a `RELAY_REGISTERED` event answers.
    pub fn relay_register(&mut self, id: u32) -> CoreResult<()> {
        let message = self.relay_link(id)?.start_registration(Instant::now());
        self.send_datagram_on(id, &message);
        Ok(())
    }

    /// Opens a connection to the peer whose leaf certificate has SHA-256
    /// `fingerprint`, through the relay at the other end of `via`.
    pub fn connect_relayed(
        &mut self,
        config: &SharedConfig,
        via: u32,
        fingerprint: [u8; wire::FINGERPRINT_LEN],
        server_name: Option<&str>,
        session: Option<&[u8]>,
    ) -> CoreResult<u32> {
        let flow = self.relay_link(via)?.allocate_flow();
        let id = self.start_client(
            config,
            server_name,
            Some(verify::Expected::Fingerprint(fingerprint)),
            session,
            relay::local_addr(),
            relay::path_addr(via, flow),
        )?;
        self.attach_relayed(id, via, flow, Some(fingerprint));
        Ok(id)
    }

    /// Records that connection `id` travels through flow `flow` of `via`.
    pub(super) fn attach_relayed(
        &mut self,
        id: u32,
        via: u32,
        flow: u32,
        opening: Option<[u8; wire::FINGERPRINT_LEN]>,
    ) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.relay_path = Some(RelayPath { via, flow, opening });
        }
        if let Some(link) = self.conns.get_mut(&via).and_then(|c| c.relay.as_mut()) {
            link.children.push(id);
        }
        self.relay_paths.insert((via, flow), id);
    }

    /// Whether `id` travels through a relay.
    pub fn is_relayed(&self, id: u32) -> bool {
        self.conns.get(&id).is_some_and(|c| c.relay_path.is_some())
    }

    /// The address a connection's packets go to on the network: its peer's,
    /// or for a relayed connection the relay's.
    pub fn network_peer(&self, id: u32) -> Option<SocketAddr> {
        let conn = self.conns.get(&id)?;
        let owner = match conn.relay_path {
            Some(path) => self.conns.get(&path.via)?,
            None => conn,
        };
        owner
            .quic
            .path_stats()
            .find(|p| p.active)
            .map(|p| crate::addr::normalize(p.peer_addr))
    }

    /// The relay policy's answer about flow `key` (after `RELAY_REQUEST`).
    pub fn relay_verdict(&mut self, key: u64, allow: bool) {
        let Some(verdict) = self.relay.as_mut().and_then(|s| s.verdict(key, allow)) else {
            return;
        };
        match verdict {
            Verdict::Allowed { to, mut packet } => {
                let mut datagram = wire::control(wire::DATA, to.1, &[]);
                datagram.append(&mut packet);
                self.send_datagram_on(to.0, &datagram);
            }
            Verdict::Denied { dialer } => self.send_close(dialer, reason::DENIED),
        }
    }

    fn send_datagram_on(&mut self, id: u32, datagram: &[u8]) {
        if let Some(conn) = self.conns.get_mut(&id) {
            // A full queue or a closing connection loses it, like the network.
            let _ = conn.quic.dgram_send(datagram);
            self.touch(id);
        }
    }

    fn send_close(&mut self, (conn, flow): (u32, u32), why: u8) {
        self.send_datagram_on(conn, &wire::control(wire::CLOSE, flow, &[why]));
    }

    /// Takes relay traffic out of connection `id`'s received datagrams and
    /// acts on it; the application's own datagrams are set aside for it.
    pub(super) fn drain_relay_datagrams(&mut self, id: u32) {
        let mut buf = std::mem::take(&mut self.relay_buf);
        buf.resize(RELAY_BUF_LEN, 0);
        while let Some(conn) = self.conns.get_mut(&id) {
            let Ok(n) = conn.quic.dgram_recv(&mut buf) else {
                break;
            };
            let Some(link) = conn.relay.as_mut() else {
                break;
            };
            if !wire::is_relay(&buf[..n]) {
                link.set_aside(&buf[..n]);
                continue;
            }
            link.relay_datagrams += 1;
            let role = link.role;
            if self.signal_message(id, &buf[..n]) {
                continue;
            }
            match role {
                Role::Serving => self.relay_message(id, &mut buf[..n]),
                Role::Using => self.peer_message(id, &mut buf[..n]),
            }
        }
        self.relay_buf = buf;
    }

    /// A message from a peer to us as its relay.
    fn relay_message(&mut self, id: u32, datagram: &mut [u8]) {
        let Some(msg) = wire::parse(datagram) else {
            return;
        };
        let (kind, flow) = (msg.kind, msg.flow);
        let now = Instant::now();
        let route = match kind {
            wire::REGISTER => {
                let fingerprint = self
                    .conns
                    .get(&id)
                    .and_then(|c| c.quic.peer_cert().map(relay::fingerprint));
                let Some(service) = self.relay.as_mut() else {
                    return;
                };
                let status = service.register(id, fingerprint);
                self.send_datagram_on(id, &wire::control(wire::REGISTERED, 0, &[status]));
                return;
            }
            wire::OPEN => {
                let Some((fingerprint, packet)) = wire::split_open(msg.body) else {
                    return;
                };
                let Some(service) = self.relay.as_mut() else {
                    return self.send_close((id, flow), reason::GONE);
                };
                (
                    service.open((id, flow), &fingerprint, packet, now),
                    wire::MAX_HEADER_LEN,
                )
            }
            wire::DATA => {
                let Some(service) = self.relay.as_mut() else {
                    return self.send_close((id, flow), reason::GONE);
                };
                (
                    service.data((id, flow), msg.body.len(), now),
                    wire::HEADER_LEN,
                )
            }
            wire::CLOSE => {
                if let Some(other) = self.relay.as_mut().and_then(|s| s.close((id, flow))) {
                    self.send_close(other, reason::GONE);
                }
                return;
            }
            _ => return,
        };
        match route {
            (Route::Forward((to, to_flow)), packet_at) => {
                // The new header goes right in front of the packet: no copy.
                let start = packet_at - wire::HEADER_LEN;
                wire::write_header(&mut datagram[start..], wire::DATA, to_flow);
                self.send_datagram_on(to, &datagram[start..]);
            }
            (Route::Refuse(why), _) => self.send_close((id, flow), why),
            (Route::AskPolicy { key, target_conn }, _) => {
                self.endpoint_events.push_back([
                    events::RELAY_REQUEST,
                    f64::from(id),
                    key as f64,
                    f64::from(target_conn),
                    0.0,
                    0.0,
                ]);
            }
            (Route::Drop, _) => {}
        }
        self.arm_relay_timer(now);
    }

    /// A message from our relay to us.
    fn peer_message(&mut self, id: u32, datagram: &mut [u8]) {
        let Some(msg) = wire::parse(datagram) else {
            return;
        };
        let (kind, flow) = (msg.kind, msg.flow);
        match kind {
            wire::REGISTERED => {
                let status = msg.body.first().copied().unwrap_or(wire::status::OK);
                if let Some(link) = self.conns.get_mut(&id).and_then(|c| c.relay.as_mut()) {
                    link.registered(status);
                }
                self.touch_events(id);
            }
            wire::DATA => {
                let known = self.relay_paths.get(&(id, flow)).copied();
                if let Some(path) = known
                    .and_then(|inner| self.conns.get_mut(&inner))
                    .and_then(|c| c.relay_path.as_mut())
                {
                    // The relay knows the flow now: plain DATA from here on.
                    path.opening = None;
                }
                let from = relay::path_addr(id, flow);
                let packet = &mut datagram[wire::HEADER_LEN..];
                let outcome = self.recv_on(packet, from, relay::local_addr(), Some((id, flow)));
                if known.is_none() && outcome == super::RecvOutcome::Dropped {
                    // Nothing here for this flow: let the relay free it.
                    self.send_close((id, flow), reason::GONE);
                }
            }
            wire::CLOSE => {
                let why = msg.body.first().copied().unwrap_or(reason::GONE);
                if let Some(&inner) = self.relay_paths.get(&(id, flow)) {
                    let (code, message) = failure(why);
                    if let Some(conn) = self.conns.get_mut(&inner) {
                        conn.fail_relay_path(code, message);
                    }
                    self.touch(inner);
                }
            }
            _ => {}
        }
    }

    /// Sends relayed connection `id`'s packets through its relay connection.
    /// Returns `true` (done for this flush) also when the relay connection's
    /// queue is full: the connection is woken when it has drained.
    pub(super) fn send_relayed(&mut self, id: u32) -> bool {
        let Some(path) = self.conns.get(&id).and_then(|c| c.relay_path) else {
            return true;
        };
        let mut buf = std::mem::take(&mut self.relay_buf);
        buf.resize(RELAY_BUF_LEN, 0);
        let (mut queued, mut full, mut lost) = (0, false, false);
        if path.via == id {
            lost = true;
        } else {
            match self.conns.get_disjoint_mut([&id, &path.via]) {
                [Some(inner), Some(outer)] if !outer.is_ended() => {
                    let mut sink = RelaySink {
                        buf: &mut buf,
                        outer: &mut outer.quic,
                        path,
                        full: false,
                        queued: 0,
                    };
                    verify::serving(id, || inner.send(&mut sink));
                    (queued, full) = (sink.queued, sink.full);
                    if full {
                        if let Some(link) = outer.relay.as_mut() {
                            link.blocked.push(id);
                        }
                    }
                }
                [Some(_), _] => lost = true,
                _ => {}
            }
        }
        self.relay_buf = buf;
        if lost {
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.fail_relay_path("ERR_QUIC_RELAY_CLOSED", "the connection to the relay ended");
            }
            self.touch_events(id);
        }
        if queued > 0 || full {
            self.touch(path.via);
        }
        true
    }

    /// After relay connection `id` sent: wakes relayed connections that
    /// waited for room in its queue, once half of it is free. (Waking them
    /// while it is still full would make them and `id` wake each other
    /// forever when `id` cannot send, e.g. blocked by congestion control.)
    pub(super) fn relay_unblock(&mut self, id: u32) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let queued = conn.quic.dgram_send_queue_len();
        let Some(link) = conn.relay.as_mut() else {
            return;
        };
        if link.blocked.is_empty() || queued > QUEUED_PACKETS_MAX / 2 {
            return;
        }
        for waiting in std::mem::take(&mut link.blocked) {
            self.touch(waiting);
        }
    }

    /// Connection `id` has ended: as a relay connection its flows end too.
    pub(super) fn relay_connection_ended(&mut self, id: u32) {
        let Some(role) = self
            .conns
            .get(&id)
            .and_then(|c| c.relay.as_ref())
            .map(|l| l.role)
        else {
            return;
        };
        match role {
            Role::Serving => {
                let survivors = self
                    .relay
                    .as_mut()
                    .map(|s| s.drop_connection(id))
                    .unwrap_or_default();
                for end in survivors {
                    self.send_close(end, reason::GONE);
                }
            }
            Role::Using => {
                let children = self
                    .conns
                    .get_mut(&id)
                    .and_then(|c| c.relay.as_mut())
                    .map(|l| std::mem::take(&mut l.children))
                    .unwrap_or_default();
                for child in children {
                    if let Some(conn) = self.conns.get_mut(&child) {
                        conn.fail_relay_path(
                            "ERR_QUIC_RELAY_CLOSED",
                            "the connection to the relay ended",
                        );
                    }
                    self.touch(child);
                }
            }
        }
    }

    /// A relayed connection is being freed: its flow is released at the relay.
    pub(super) fn relayed_reaped(&mut self, id: u32) {
        let Some(path) = self.conns.get(&id).and_then(|c| c.relay_path) else {
            return;
        };
        self.relay_paths.remove(&(path.via, path.flow));
        let Some(outer) = self.conns.get_mut(&path.via) else {
            return;
        };
        if let Some(link) = outer.relay.as_mut() {
            link.children.retain(|c| *c != id);
            link.blocked.retain(|c| *c != id);
        }
        if !outer.is_ended() {
            self.send_close((path.via, path.flow), reason::GONE);
        }
    }

    fn arm_relay_timer(&mut self, now: Instant) {
        let has_flows = self.relay.as_ref().is_some_and(|s| s.flow_count() > 0);
        let next = match (has_flows, self.relay_timer) {
            (false, _) => None,
            (true, Some(t)) => Some(t),
            (true, None) => Some(now + REAP_INTERVAL),
        };
        self.timers.update(RELAY_TIMER, self.relay_timer, next);
        self.relay_timer = next;
    }

    /// Relay housekeeping: drops idle flows and tells both ends.
    pub(super) fn relay_on_timeout(&mut self, now: Instant) {
        self.relay_timer = None;
        let ends = self.relay.as_mut().map(|s| s.reap(now)).unwrap_or_default();
        for end in ends {
            self.send_close(end, reason::IDLE);
        }
        self.arm_relay_timer(now);
    }
}
