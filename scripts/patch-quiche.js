#!/usr/bin/env node
'use strict';
// Prepares deps/quiche: the released quiche crate with nquic's fixes applied, which every Cargo
// project in this repository uses through `[patch.crates-io]`. Run before any cargo command on a
// fresh clone (the npm scripts do); it does nothing when deps/quiche is already up to date.
//
// The fixes (drop each once a quiche release has it):
//
// 1. A lone FIN is never forgotten (cloudflare/quiche#2525). quiche 0.30.0 counts a stream's
//    sending side complete once every byte is acknowledged, without asking whether the FIN was. A
//    FIN sent on its own (a stream finished after its data went out) is then forgotten with the
//    stream whenever an acknowledgement, or the peer's own FIN, is processed before the FIN leaves:
//    the peer never sees the stream end.
// 2. Data in flight on a path the connection left is declared lost (cloudflare/quiche#2452). Each
//    path keeps its own loss recovery, but all paths share the packet numbers, and quiche 0.30.0
//    only looks for losses among a path's packets when an ACK acknowledges one of them. After a
//    NAT rebinding or a migration nothing on the old path is ever acknowledged again, so its
//    packets in flight were never declared lost and their data never sent again: the transfer
//    stalled until the idle timeout. Now an ACK that acknowledges only packets of other paths still
//    counts as the largest acknowledged packet for the path's loss detection (RFC 9002 §6.1: packet
//    and time thresholds), so those packets are declared lost within about a round trip and their
//    frames are sent again on the active path.
// 3. A path the connection left makes room for the next one (cloudflare/quiche#2743 for the server
//    side). quiche 0.30.0 keeps every path it ever used together with its destination connection
//    ID, and replaces only paths without one: after as many NAT rebindings (server) or migrations
//    (client) as `active_connection_id_limit`, packets from a new address were dropped or
//    `migrate()` failed with OutOfIdentifiers. A new method, `retire_left_paths()`, which nquic
//    calls once a new active path has proved itself, takes the connection IDs of the other paths
//    (retiring those the active path does not share, so that the peer issues fresh ones) and marks
//    them left, so that they get no new ID; such a path is replaced by the next new one once
//    nothing of it is in flight or waiting to be sent again. `retire_failed_paths()` does the same
//    for the paths whose validation failed, which nquic calls when quiche reports one: under
//    rebindings faster than a validation, failed paths otherwise held every slot.
// 4. An application close goes out once 1-RTT keys exist (cloudflare/quiche#1433). quiche 0.30.0
//    picks the packet space of a closing connection like any other: the earliest with something
//    to send. A client that closes right after its handshake completed, before the server's
//    HANDSHAKE_DONE, still owes Handshake acknowledgements, so every packet it builds is an
//    ACK-only Handshake packet (which the server, whose Handshake keys are gone, drops) and the
//    application CONNECTION_CLOSE, allowed in 1-RTT packets only, never leaves: the server kept
//    the connection until its idle timeout. Now an application close is sent in a 1-RTT packet as
//    soon as there are 1-RTT keys.
// 5. A RETIRE_CONNECTION_ID sent again is ignored (cloudflare/quiche#1833, fix proposed in
//    cloudflare/quiche#2450). Lost RETIRE_CONNECTION_ID frames are sent again (RFC 9000 §13.3), so
//    one may name an ID already retired. quiche 0.30.0 refused to remove any ID while only one was
//    left, before looking whether the ID was still there: a retirement sent again, arriving while
//    the endpoint had one ID left, closed the connection with PROTOCOL_VIOLATION (0xa). A server
//    that follows NAT rebindings retires the IDs of every path it left at once, which leaves the
//    client one ID until it issues new ones after the batch of packets (src/endpoint.rs
//    manage_cids): seen as a rare 0xa close by the client under load while its NAT rebound every
//    200 ms. Now a retirement of an ID already retired does nothing.
// 6. A path given up has nothing in flight. A path's packets are declared lost only from
//    acknowledgements (RFC 9002 §6.1), and on a path the peer no longer uses nothing is ever
//    acknowledged again (when no packet reaches the endpoint from the peer's current address,
//    not even the acknowledgements of other paths that edit 2 relies on): its packets stayed in
//    flight for good, so the path never became free to replace (edit 3). Now giving a path up
//    declares its packets in flight lost (`on_path_abandoned`, both recovery modules), so their
//    frames go out again on the active path at once. Seen with nquic's chaos harness
//    (src/tests/path_chaos.rs): rebindings every round trip or two stalled transfers for good.
// 7. A path the peer moves back to after its validation failed is validated again. A server
//    follows a peer that sends from a new address (RFC 9000 §9.3), falls back to the last
//    validated path when validation fails (§9.3.2), and follows the peer again when its packets
//    keep coming from the failed address. quiche 0.30.0 made that path active but left it marked
//    failed, which does not count as working: the connection had no active path, and the next
//    packet closed it with PROTOCOL_VIOLATION (0xa). Now the path's validation starts again.
// 8. A PATH_RESPONSE waits for room instead of being dropped. quiche 0.30.0 took a received
//    PATH_CHALLENGE off its queue before it knew whether the response fitted in the packet being
//    built, and a packet limited by the congestion window (an ACK-only packet, while the sender's
//    window is full) had no room: the response was never sent. A server that followed a NAT
//    rebinding of a client in the middle of an upload then never saw its new path validated
//    (nquic's integration/rebind-nat test: 2 path changes counted for 3 rebindings, in about 1 of
//    6 runs with UDP GRO on, which makes the client's transfer fill its window more often). Now
//    the challenge leaves the queue only once its response is in a packet (RFC 9000 §8.2.2: a
//    PATH_RESPONSE may be delayed by congestion control, not dropped).
// 9. A challenge that gets no response is sent again. quiche 0.30.0 counted a PATH_CHALLENGE as
//    lost only when a probe timeout fired. While the connection is busy its packets are
//    acknowledged and no probe timeout fires, so when the PATH_RESPONSE was lost (or the packet
//    with the challenge was declared lost by the packet threshold), the challenge stayed in flight
//    for good: the new path stayed unvalidated, limited to three times the bytes received on it
//    (RFC 9000 §8.1). Now a challenge without a response for three probe timeouts counts as a lost
//    probe, as a probe timeout would count it: another challenge goes out, and after three losses
//    the validation fails (RFC 9000 §8.2.4 abandons a validation on a timer of about three PTOs).
//    The connection's timer includes these deadlines; a path given up or not under validation
//    has none. nquic's chaos harness (rebindings every 2-5 exchanges, 5% loss both ways) stalled
//    7 transfers of 60 without it, none with it.
//
// The crate comes from the Cargo cache; when it is not there, cargo itself fetches it (so any
// registry mirror or proxy cargo is configured with applies), and as a last resort it is downloaded
// from static.crates.io. Whatever the source, it must match the SHA-256 crates.io publishes.

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const VERSION = '0.30.0';
const CRATE_SHA256 = '52b35a721a2a56797347929745fa783fc99e680d9484b80324ce40106b75493a';
const ROOT = path.join(__dirname, '..');
const DEST = path.join(ROOT, 'deps', 'quiche');
const STAMP = path.join(DEST, '.nquic-patched');

/** Exact edits: each `find` must occur exactly once in its file. */
const EDITS = [
  // 4. quiche#1433: an application close leaves in a 1-RTT packet as soon as it can.
  {
    file: 'src/lib.rs',
    find: '            return Ok(Type::from_epoch(epoch));\n        }\n\n        for &epoch in packet::Epoch::epochs(\n',
    replace:
      '            return Ok(Type::from_epoch(epoch));\n        }\n\n' +
      '        // An application close can only be sent in 1-RTT packets: send it\n' +
      '        // there as soon as possible, or pending Handshake ACKs or probes\n' +
      '        // would keep it from ever leaving (nquic patch, quiche#1433).\n' +
      '        if self.local_error.as_ref().is_some_and(|e| e.is_app) &&\n' +
      '            self.crypto_ctx[packet::Epoch::Application].crypto_seal.is_some()\n' +
      '        {\n            return Ok(Type::Short);\n        }\n\n' +
      '        for &epoch in packet::Epoch::epochs(\n',
  },

  // 1. quiche#2525: a stream's sending side is complete only once its FIN is acknowledged.
  {
    file: 'src/stream/send_buf.rs',
    find: '    /// The error code received via STOP_SENDING.\n    error: Option<u64>,\n}',
    replace:
      '    /// The error code received via STOP_SENDING.\n    error: Option<u64>,\n\n' +
      '    /// The peer acknowledged a frame carrying the FIN, or a reset made the\n' +
      '    /// final size known another way (nquic patch, quiche#2525).\n' +
      '    fin_acked: bool,\n}',
  },
  {
    file: 'src/stream/send_buf.rs',
    find: '        // Drop all buffered data.\n        self.data.clear();\n',
    replace:
      '        // Drop all buffered data.\n        self.data.clear();\n\n' +
      '        // RESET_STREAM carries the final size: no FIN needs acknowledging.\n' +
      '        self.fin_acked = true;\n',
  },
  {
    file: 'src/stream/send_buf.rs',
    find: '    pub fn is_complete(&self) -> bool {\n        if let Some(fin_off) = self.fin_off {',
    replace:
      '    pub fn is_complete(&self) -> bool {\n' +
      '        // A FIN sent alone carries no bytes, so acknowledged bytes say\n' +
      '        // nothing about it.\n' +
      '        if !self.fin_acked {\n            return false;\n        }\n\n' +
      '        if let Some(fin_off) = self.fin_off {',
  },
  {
    file: 'src/stream/send_buf.rs',
    find: '    /// Increments the acked data offset.\n',
    replace:
      '    /// Records that a frame carrying the FIN was acknowledged.\n' +
      '    pub fn ack_fin(&mut self) {\n        self.fin_acked = true;\n    }\n\n' +
      '    /// Increments the acked data offset.\n',
  },
  {
    file: 'src/lib.rs',
    find:
      '                    frame::Frame::StreamHeader {\n                        stream_id,\n' +
      '                        offset,\n                        length,\n                        ..\n' +
      '                    } => {\n                        // Emit qlog before checking if the stream still exists.',
    replace:
      '                    frame::Frame::StreamHeader {\n                        stream_id,\n' +
      '                        offset,\n                        length,\n                        fin,\n' +
      '                    } => {\n                        // Emit qlog before checking if the stream still exists.',
  },
  {
    file: 'src/lib.rs',
    find: '                        let dropped = stream.send.ack_and_drop(offset, length);\n',
    replace:
      '                        let dropped = stream.send.ack_and_drop(offset, length);\n' +
      '                        if fin {\n                            stream.send.ack_fin();\n                        }\n',
  },

  // 2. quiche#2452: an ACK of other paths' packets drives this path's loss detection. Two edits
  // per recovery module: bbr2 (gcongestion) and cubic/reno (congestion).
  {
    file: 'src/recovery/gcongestion/recovery.rs',
    find:
      '        if self.newly_acked.is_empty() {\n            return Ok(OnAckReceivedOutcome {\n' +
      '                acked_bytes,\n                spurious_losses,\n                ..Default::default()\n' +
      '            });\n        }\n',
    replace:
      '        if self.newly_acked.is_empty() {\n' +
      '            let (lost_packets, lost_bytes) = self.on_ack_of_other_paths(\n' +
      '                peer_sent_ack_ranges,\n                epoch,\n                handshake_status,\n' +
      '                now,\n            );\n' +
      '            return Ok(OnAckReceivedOutcome {\n                lost_packets,\n                lost_bytes,\n' +
      '                acked_bytes,\n                spurious_losses,\n            });\n        }\n',
  },
  {
    file: 'src/recovery/gcongestion/recovery.rs',
    find: '    fn set_loss_detection_timer(\n',
    replace:
      '    /// An ACK that acknowledges none of this path\'s packets: all paths share\n' +
      '    /// the packet numbers, so its largest still tells which packets of this\n' +
      '    /// path are lost (nquic patch, quiche#2452: packets left in flight on a\n' +
      '    /// path the connection moved away from were never declared lost).\n' +
      '    fn on_ack_of_other_paths(\n' +
      '        &mut self, ranges: &RangeSet, epoch: packet::Epoch,\n' +
      '        handshake_status: HandshakeStatus, now: Instant,\n' +
      '    ) -> (usize, usize) {\n' +
      '        let largest = ranges.last().unwrap_or(0);\n' +
      '        let e = &mut self.epochs[epoch];\n' +
      '        if e.pkts_in_flight == 0 || e.largest_acked_packet >= Some(largest) {\n' +
      '            return (0, 0);\n        }\n' +
      '        e.largest_acked_packet = Some(largest);\n\n' +
      '        let prior_in_flight = self.bytes_in_flight.get();\n' +
      '        let (lost_bytes, lost_packets) =\n' +
      '            self.detect_and_remove_lost_packets(epoch, now);\n' +
      '        if lost_packets > 0 {\n' +
      '            self.pacer.on_congestion_event(\n' +
      '                false,\n                prior_in_flight,\n                self.bytes_in_flight.get(),\n' +
      '                now,\n                &[],\n                &self.lost_reuse,\n' +
      '                self.epochs[epoch].least_unacked(),\n                &self.rtt_stats,\n' +
      '                &mut self.recovery_stats,\n            );\n' +
      '            self.lost_count += lost_packets;\n        }\n' +
      '        self.set_loss_detection_timer(handshake_status, now);\n\n' +
      '        (lost_packets, lost_bytes)\n    }\n\n' +
      '    fn set_loss_detection_timer(\n',
  },
  {
    file: 'src/recovery/congestion/recovery.rs',
    find: '        if self.newly_acked.is_empty() {\n            return Ok(OnAckReceivedOutcome::default());\n        }\n',
    replace:
      '        if self.newly_acked.is_empty() {\n' +
      '            let (lost_packets, lost_bytes) = self.on_ack_of_other_paths(\n' +
      '                peer_sent_ack_ranges,\n                epoch,\n                handshake_status,\n' +
      '                now,\n                trace_id,\n            );\n' +
      '            return Ok(OnAckReceivedOutcome {\n                lost_packets,\n                lost_bytes,\n' +
      '                ..Default::default()\n            });\n        }\n',
  },
  {
    file: 'src/recovery/congestion/recovery.rs',
    find: '    fn detect_lost_packets(\n        &mut self, epoch: Epoch, now: Instant, trace_id: &str,\n    ) -> (usize, usize) {\n',
    replace:
      '    /// An ACK that acknowledges none of this path\'s packets: all paths share\n' +
      '    /// the packet numbers, so its largest still tells which packets of this\n' +
      '    /// path are lost (nquic patch, quiche#2452: packets left in flight on a\n' +
      '    /// path the connection moved away from were never declared lost).\n' +
      '    fn on_ack_of_other_paths(\n' +
      '        &mut self, ranges: &RangeSet, epoch: Epoch,\n' +
      '        handshake_status: HandshakeStatus, now: Instant, trace_id: &str,\n' +
      '    ) -> (usize, usize) {\n' +
      '        let largest = ranges.last().unwrap_or(0);\n' +
      '        let e = &mut self.epochs[epoch];\n' +
      '        if e.in_flight_count == 0 || e.largest_acked_packet >= Some(largest) {\n' +
      '            return (0, 0);\n        }\n' +
      '        e.largest_acked_packet = Some(largest);\n\n' +
      '        let lost = self.detect_lost_packets(epoch, now, trace_id);\n' +
      '        self.set_loss_detection_timer(handshake_status, now);\n\n' +
      '        lost\n    }\n\n' +
      '    fn detect_lost_packets(\n        &mut self, epoch: Epoch, now: Instant, trace_id: &str,\n    ) -> (usize, usize) {\n',
  },

  // 5. quiche#1833: a RETIRE_CONNECTION_ID sent again, for an ID already retired, is ignored.
  {
    file: 'src/cid.rs',
    find: '        let pid = if let Some(e) = self.scids.remove(seq)? {\n',
    replace:
      '        // A RETIRE_CONNECTION_ID sent again names an ID already retired:\n' +
      '        // nothing to do, even with a single ID left (nquic patch,\n' +
      '        // quiche#1833).\n' +
      '        if self.scids.get(seq).is_none() {\n            return Ok(None);\n        }\n\n' +
      '        let pid = if let Some(e) = self.scids.remove(seq)? {\n',
  },

  // 3. quiche#2743: paths the connection left give up their connection IDs and are replaced.
  {
    file: 'src/path.rs',
    find: '    pub needs_ack_eliciting: bool,\n}',
    replace:
      '    pub needs_ack_eliciting: bool,\n\n' +
      '    /// The connection left this path and gave up its destination\n' +
      '    /// Connection ID (nquic patch, quiche#2743).\n' +
      '    pub left: bool,\n}',
  },
  {
    file: 'src/path.rs',
    find: '            needs_ack_eliciting: false,\n        }',
    replace: '            needs_ack_eliciting: false,\n            left: false,\n        }',
  },
  {
    file: 'src/path.rs',
    find: '        // FIXME: we should check that there is nothing in the sent queue.\n' +
      '        !self.active() && self.active_dcid_seq.is_none()\n',
    replace:
      '        // Nothing of it may be in flight or waiting to be sent again.\n' +
      '        !self.active() &&\n            self.active_dcid_seq.is_none() &&\n' +
      '            self.recovery.bytes_in_flight() == 0 &&\n' +
      '            !self\n                .recovery\n' +
      '                .has_lost_frames(crate::packet::Epoch::Application)\n',
  },
  {
    file: 'src/path.rs',
    find: '        new_active_path.active = true;\n',
    replace: '        new_active_path.active = true;\n        new_active_path.left = false;\n',
  },
  {
    file: 'src/lib.rs',
    find: '            .filter(|(_, p)| p.active_dcid_seq.is_none());\n',
    replace: '            .filter(|(_, p)| p.active_dcid_seq.is_none() && !p.left);\n',
  },
  {
    file: 'src/lib.rs',
    find: '    /// Processes path-specific events.\n',
    replace:
      '    /// Gives up the paths other than the active one (nquic patch,\n' +
      '    /// quiche#2743): each loses its destination Connection ID, retired\n' +
      '    /// unless the active path uses it too, and gets no new one, so that\n' +
      '    /// the next new path can replace it once nothing of it is in flight.\n' +
      '    /// Call once the active path has proved itself.\n' +
      '    pub fn retire_left_paths(&mut self) {\n        self.give_up_paths(false);\n    }\n\n' +
      '    /// Gives up, as `retire_left_paths` does, the paths other than the\n' +
      '    /// active one whose validation failed (nquic patch): such a path kept\n' +
      '    /// its Connection ID and its slot, and once every slot was held so,\n' +
      '    /// packets from the peer\'s next address found no path.\n' +
      '    pub fn retire_failed_paths(&mut self) {\n        self.give_up_paths(true);\n    }\n\n' +
      '    fn give_up_paths(&mut self, failed_only: bool) {\n' +
      '        let Ok(active) = self.paths.get_active_path_id() else {\n            return;\n        };\n' +
      '        let active_seq = self.paths.get(active).ok().and_then(|p| p.active_dcid_seq);\n' +
      '        let now = Instant::now();\n' +
      '        for (pid, path) in self.paths.iter_mut() {\n' +
      '            if pid == active || (failed_only && !path.validation_failed()) {\n' +
      '                continue;\n            }\n' +
      '            if !path.left {\n' +
      '                // Nothing sent on it will be acknowledged on it any more:\n' +
      '                // its frames go out again on the active path.\n' +
      '                let (lost_packets, lost_bytes) =\n' +
      '                    path.recovery.on_path_abandoned(now, &self.trace_id);\n' +
      '                self.lost_count += lost_packets;\n' +
      '                self.lost_bytes += lost_bytes as u64;\n            }\n' +
      '            path.left = true;\n' +
      '            if let Some(seq) = path.active_dcid_seq.take() {\n' +
      '                if Some(seq) != active_seq && !self.ids.zero_length_dcid() {\n' +
      '                    // Only an unknown sequence number fails here.\n' +
      '                    let _ = self.ids.retire_dcid(seq);\n' +
      '                }\n            }\n        }\n    }\n\n' +
      '    /// Processes path-specific events.\n',
  },
  // 6. A path given up has nothing in flight: its packets are declared lost (see 3 above).
  {
    file: 'src/recovery/mod.rs',
    find: '        &mut self, epoch: packet::Epoch, now: Instant, _trace_id: &str,\n    ) -> (usize, usize);\n',
    replace:
      '        &mut self, epoch: packet::Epoch, now: Instant, _trace_id: &str,\n    ) -> (usize, usize);\n' +
      '    /// Declares every packet still in flight lost, so that their frames are\n' +
      '    /// sent again elsewhere: the connection gave up this path (nquic patch).\n' +
      '    fn on_path_abandoned(&mut self, now: Instant, trace_id: &str) -> (usize, usize);\n',
  },
  {
    file: 'src/recovery/gcongestion/recovery.rs',
    find: '            self.detect_and_remove_lost_packets(epoch, now);\n\n        (lost_packets, lost_bytes)\n    }\n',
    replace:
      '            self.detect_and_remove_lost_packets(epoch, now);\n\n        (lost_packets, lost_bytes)\n    }\n\n' +
      '    fn on_path_abandoned(&mut self, now: Instant, _trace_id: &str) -> (usize, usize) {\n' +
      '        let (mut packets, mut bytes) = (0, 0);\n' +
      '        for &epoch in packet::Epoch::epochs(\n            packet::Epoch::Initial..=packet::Epoch::Application,\n        ) {\n' +
      '            // As if a packet sent after all of them had been acknowledged.\n' +
      '            let largest = self.epochs[epoch].largest_acked_packet.replace(u64::MAX);\n' +
      '            let (lost_bytes, lost_packets) =\n                self.detect_and_remove_lost_packets(epoch, now);\n' +
      '            self.epochs[epoch].largest_acked_packet = largest;\n' +
      '            packets += lost_packets;\n            bytes += lost_bytes;\n        }\n' +
      '        (packets, bytes)\n    }\n',
  },
  {
    file: 'src/recovery/congestion/recovery.rs',
    find: '        // Time threshold loss detection.\n        self.detect_lost_packets(epoch, now, trace_id)\n    }\n',
    replace:
      '        // Time threshold loss detection.\n        self.detect_lost_packets(epoch, now, trace_id)\n    }\n\n' +
      '    fn on_path_abandoned(&mut self, now: Instant, trace_id: &str) -> (usize, usize) {\n' +
      '        let (mut packets, mut bytes) = (0, 0);\n' +
      '        for &epoch in Epoch::epochs(Epoch::Initial..=Epoch::Application) {\n' +
      '            // As if a packet sent after all of them had been acknowledged.\n' +
      '            let largest = self.epochs[epoch].largest_acked_packet.replace(u64::MAX);\n' +
      '            let (lost_packets, lost_bytes) =\n                self.detect_lost_packets(epoch, now, trace_id);\n' +
      '            self.epochs[epoch].largest_acked_packet = largest;\n' +
      '            packets += lost_packets;\n            bytes += lost_bytes;\n        }\n' +
      '        (packets, bytes)\n    }\n',
  },
  {
    file: 'src/path.rs',
    find: '    fn validation_failed(&self) -> bool {\n',
    replace: '    pub fn validation_failed(&self) -> bool {\n',
  },

  // 7. A path the peer moves back to after its validation failed is validated again.
  {
    file: 'src/path.rs',
    find: '                new_active_path.migrating = true;\n\n',
    replace:
      '                new_active_path.migrating = true;\n\n' +
      '                // A path whose validation failed before starts again: while\n' +
      '                // marked failed it is not working, so the connection would\n' +
      '                // have no active path (nquic patch).\n' +
      '                if new_active_path.validation_failed() {\n' +
      '                    new_active_path.state = PathState::Unknown;\n' +
      '                    new_active_path.probing_lost = 0;\n' +
      '                    new_active_path.last_probe_lost_time = None;\n' +
      '                    new_active_path.failure_notified = false;\n                }\n\n',
  },

  // 8. A PATH_RESPONSE waits for room in a packet instead of being dropped.
  {
    file: 'src/path.rs',
    find: '    #[inline]\n    pub fn pop_received_challenge(&mut self) -> Option<[u8; 8]> {\n',
    replace:
      '    /// The oldest challenge still owed a PATH_RESPONSE, left in the queue\n' +
      '    /// (nquic patch).\n' +
      '    #[inline]\n    pub fn peek_received_challenge(&self) -> Option<[u8; 8]> {\n' +
      '        self.received_challenges.front().copied()\n    }\n\n' +
      '    #[inline]\n    pub fn pop_received_challenge(&mut self) -> Option<[u8; 8]> {\n',
  },
  {
    file: 'src/lib.rs',
    find:
      '            while let Some(challenge) = path.pop_received_challenge() {\n' +
      '                let frame = frame::Frame::PathResponse { data: challenge };\n\n' +
      '                if push_frame_to_pkt!(b, frames, frame, left) {\n',
    replace:
      '            // A response that does not fit (a packet limited by the\n' +
      '            // congestion window) stays queued for a later packet (nquic\n' +
      '            // patch: it was dropped).\n' +
      '            while let Some(challenge) = path.peek_received_challenge() {\n' +
      '                let frame = frame::Frame::PathResponse { data: challenge };\n\n' +
      '                if push_frame_to_pkt!(b, frames, frame, left) {\n' +
      '                    path.pop_received_challenge();\n',
  },

  // 9. A challenge without a response for three probe timeouts counts as lost. The challenge
  //    bookkeeping of a probe timeout moves to lose_challenges(), which expire_challenges()
  //    shares: first the end of on_loss_detection_timeout() becomes the end of the new function,
  //    then the function is split where the bookkeeping starts.
  {
    file: 'src/path.rs',
    find: '        }\n\n        // Track PTO timeout event\n        self.total_pto_count += 1;\n\n        outcome\n    }\n',
    replace: '        }\n    }\n',
  },
  {
    file: 'src/path.rs',
    find: '            trace_id,\n        );\n\n        let mut lost_probe_time = None;\n',
    replace:
      '            trace_id,\n        );\n\n' +
      '        self.lose_challenges(now, is_server);\n\n' +
      '        // Track PTO timeout event\n        self.total_pto_count += 1;\n\n        outcome\n    }\n\n' +
      '    /// When the challenges in flight on a path under validation count as\n' +
      '    /// lost if no response came: the oldest one\'s packet may have been\n' +
      '    /// acknowledged, or declared lost without a probe timeout, so no\n' +
      '    /// probe timeout would fire for it (nquic patch).\n' +
      '    pub fn challenge_deadline(&self) -> Option<Instant> {\n' +
      '        if self.left || !self.under_validation() {\n            return None;\n        }\n' +
      '        let oldest = self.in_flight_challenges.iter().map(|(_, _, sent)| *sent).min()?;\n' +
      '        Some(oldest + self.recovery.pto() * CHALLENGE_TIMEOUT_PTOS)\n    }\n\n' +
      '    /// Past the deadline, counts the challenges in flight as lost, as a\n' +
      '    /// probe timeout does (nquic patch).\n' +
      '    pub fn expire_challenges(&mut self, now: Instant, is_server: bool) {\n' +
      '        if self.challenge_deadline().is_some_and(|deadline| deadline <= now) {\n' +
      '            self.lose_challenges(now, is_server);\n        }\n    }\n\n' +
      '    /// Counts the challenges in flight as lost probes: another challenge\n' +
      '    /// is requested, or the validation fails (nquic patch: the former\n' +
      '    /// end of `on_loss_detection_timeout`).\n' +
      '    fn lose_challenges(&mut self, now: Instant, is_server: bool) {\n' +
      '        let mut lost_probe_time = None;\n',
  },
  {
    file: 'src/path.rs',
    find: 'use crate::recovery::RecoveryOps;\n',
    replace:
      'use crate::recovery::RecoveryOps;\n\n' +
      '/// Probe timeouts a PATH_CHALLENGE may go without a response before it\n' +
      '/// counts as lost (nquic patch; RFC 9000 §8.2.4).\n' +
      'const CHALLENGE_TIMEOUT_PTOS: u32 = 3;\n',
  },
  {
    file: 'src/lib.rs',
    find: '                .filter_map(|(_, p)| p.recovery.loss_detection_timer())\n',
    replace:
      '                .filter_map(|(_, p)| {\n' +
      '                    // And when a challenge goes without a response too\n' +
      '                    // long (nquic patch).\n' +
      '                    let loss = p.recovery.loss_detection_timer();\n' +
      '                    loss.into_iter().chain(p.challenge_deadline()).min()\n' +
      '                })\n',
  },
  {
    file: 'src/lib.rs',
    find: '        for (_, p) in self.paths.iter_mut() {\n            if let Some(timer) = p.recovery.loss_detection_timer() {\n',
    replace:
      '        for (_, p) in self.paths.iter_mut() {\n' +
      '            // A challenge whose response never came (nquic patch).\n' +
      '            p.expire_challenges(now, self.is_server);\n\n' +
      '            if let Some(timer) = p.recovery.loss_detection_timer() {\n',
  },
];

function fail(message) {
  console.error(`patch-quiche: ${message}`);
  process.exit(1);
}

const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
const wanted = sha256(JSON.stringify({ VERSION, CRATE_SHA256, EDITS }));

function cachedCrate() {
  const cache = path.join(process.env.CARGO_HOME || path.join(os.homedir(), '.cargo'), 'registry', 'cache');
  let registries = [];
  try {
    registries = fs.readdirSync(cache);
  } catch {
    return undefined;
  }
  for (const registry of registries) {
    const file = path.join(cache, registry, `quiche-${VERSION}.crate`);
    if (fs.existsSync(file)) {
      const data = fs.readFileSync(file);
      if (sha256(data) === CRATE_SHA256) return data;
    }
  }
  return undefined;
}

/** Lets cargo download quiche (and its dependencies, needed for the build anyway) into its cache. */
function fetchWithCargo() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nquic-quiche-fetch-'));
  try {
    fs.mkdirSync(path.join(dir, 'src'));
    fs.writeFileSync(path.join(dir, 'src', 'lib.rs'), '');
    fs.writeFileSync(
      path.join(dir, 'Cargo.toml'),
      `[package]\nname = "quiche-fetch"\nversion = "0.0.0"\nedition = "2021"\n\n[workspace]\n\n` +
        `[dependencies]\nquiche = { version = "=${VERSION}", features = ["boringssl-boring-crate"] }\n`,
    );
    const cargo = spawnSync('cargo', ['fetch', '--quiet', '--manifest-path', path.join(dir, 'Cargo.toml')], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    return cargo.status === 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function downloadCrate() {
  const url = `https://static.crates.io/crates/quiche/quiche-${VERSION}.crate`;
  const response = await fetch(url);
  if (!response.ok) fail(`cannot download ${url}: HTTP ${response.status}`);
  const data = Buffer.from(await response.arrayBuffer());
  const got = sha256(data);
  if (got !== CRATE_SHA256) fail(`${url} has SHA-256 ${got}, expected ${CRATE_SHA256}`);
  return data;
}

function applyEdits(dir) {
  for (const { file, find, replace } of EDITS) {
    const target = path.join(dir, file);
    const text = fs.readFileSync(target, 'utf8');
    const count = text.split(find).length - 1;
    if (count !== 1) fail(`${file}: expected the text to patch once, found it ${count} times:\n${find}`);
    fs.writeFileSync(target, text.replace(find, () => replace));
  }
}

async function main() {
  if (fs.existsSync(STAMP) && fs.readFileSync(STAMP, 'utf8') === wanted) return;
  const crate = cachedCrate() ?? (fetchWithCargo() ? cachedCrate() : undefined) ?? (await downloadCrate());
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nquic-quiche-'));
  try {
    const archive = path.join(work, 'quiche.crate');
    fs.writeFileSync(archive, crate);
    const tar = spawnSync('tar', ['-xzf', archive, '-C', work], { stdio: 'inherit' });
    if (tar.status !== 0) fail(`tar could not unpack ${archive}`);
    const unpacked = path.join(work, `quiche-${VERSION}`);
    applyEdits(unpacked);
    fs.rmSync(DEST, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(DEST), { recursive: true });
    fs.cpSync(unpacked, DEST, { recursive: true });
    fs.writeFileSync(STAMP, wanted);
    console.error(`patch-quiche: deps/quiche is quiche ${VERSION} with ${EDITS.length} edits (quiche#2525, quiche#2452, quiche#2743, quiche#1433, quiche#1833)`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => fail(err instanceof Error ? err.message : String(err)));
