//! Streams: what the application may still do with each one, and the
//! commands and events that change it — open with credit, write with
//! backpressure, shut down either direction with an application code, pause
//! reading, priorities. A stream's entry is dropped as soon as both of its
//! directions are done, so [`StreamTable::len`] counts live streams.

use std::collections::HashMap;

use crate::connection::Connection;
use crate::datagram_pool;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::events::{self, EventSink};

/// Result of [`Connection::stream_write`] when the stream can take no more
/// data ever (stopped by the peer, reset locally, or finished).
pub const WRITE_CLOSED: i64 = -1;
/// Result of [`Connection::stream_write`] when the peer's STOP_SENDING has
/// just been found; a `STREAM_STOPPED` event with its code follows.
pub const WRITE_STOPPED: i64 = -3;
/// Result of [`Connection::stream_write`] when nothing (not even a FIN) could
/// be taken now; a `STREAM_WRITABLE` event follows.
pub const WRITE_BLOCKED: i64 = -2;

/// The largest stream chunk handed out in one event, so that many streams
/// share one batch fairly. Below glibc's default mmap threshold (128 KiB):
/// a larger chunk is a fresh `mmap` each, its pages zeroed by the kernel on
/// first touch, and unmapped when V8 collects it; at this size freed chunks
/// return to the heap, where the next ones find them (page faults in the
/// first 64 MiB received: 285 per MB at 256 KiB, 148 at 120 KiB).
const MAX_STREAM_CHUNK: usize = 120 * 1024;
/// A blocked writer is woken once about a packet's worth of capacity (or all
/// it wanted) is available, so it does not trickle out tiny writes. It must
/// stay below the smallest congestion window (two packets): capacity is
/// also limited by the window, and an idle connection's window never grows.
const WRITABLE_LOW_WATER: usize = 1200;
/// RFC 9218's default urgency; streams are incremental (round-robin) unless
/// the application says otherwise.
pub const DEFAULT_URGENCY: u8 = 3;

/// Whether a stream ID was opened by the server (RFC 9000 §2.1).
fn opened_by_server(id: u64) -> bool {
    id & 1 == 1
}

fn is_bidi(id: u64) -> bool {
    id & 2 == 0
}

#[derive(Debug, Default, Clone)]
pub struct StreamState {
    /// The application still writes (no FIN, reset or STOP_SENDING yet).
    pub send_open: bool,
    /// The peer may still send (no FIN, reset, or STOP_SENDING from us yet).
    pub recv_open: bool,
    /// Reading is paused by backpressure: data stays in quiche.
    pub paused: bool,
    /// Bytes left over when the last write was cut short by flow control.
    pub blocked: Option<usize>,
    /// The last byte of the latest write, not yet given to quiche.
    pub held: Option<u8>,
    /// The WebTransport session this stream belongs to (HTTP/3 connections).
    pub session: Option<u64>,
}

impl StreamState {
    /// The send side is done for good (reset by us, or stopped by the peer):
    /// nothing waits for credit and no byte is held back any more.
    fn end_sending(&mut self) {
        self.send_open = false;
        self.blocked = None;
        self.held = None;
    }
}

/// Live streams of one connection.
#[derive(Default)]
pub struct StreamTable {
    map: HashMap<u64, StreamState>,
    /// Streams that may hold a byte back (see `stream_write`).
    held: Vec<u64>,
}

impl StreamTable {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, id: u64) -> Option<&StreamState> {
        self.map.get(&id)
    }

    fn note_held(&mut self, id: u64) {
        // Repeated writes to one stream are the common case; other duplicates
        // are harmless (the byte is released once).
        if self.held.last() != Some(&id) {
            self.held.push(id);
        }
    }

    fn take_held(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.held)
    }

    fn insert(&mut self, id: u64, send_open: bool, recv_open: bool) {
        self.map.insert(
            id,
            StreamState {
                send_open,
                recv_open,
                ..Default::default()
            },
        );
    }

    /// Applies `f` to a stream's state, then forgets the stream if both of
    /// its directions are done.
    fn update(&mut self, id: u64, f: impl FnOnce(&mut StreamState)) {
        if let Some(state) = self.map.get_mut(&id) {
            f(state);
            if !state.send_open && !state.recv_open {
                self.map.remove(&id);
            }
        }
    }

    /// Ties a stream not bound to a session yet to `session`; `false` if
    /// there is no such stream.
    pub(crate) fn set_session(&mut self, id: u64, session: u64) -> bool {
        match self.map.get_mut(&id) {
            Some(s) if s.session.is_none() => {
                s.session = Some(session);
                true
            }
            _ => false,
        }
    }

    fn ids_where(&self, pred: impl Fn(&StreamState) -> bool) -> Vec<u64> {
        self.map
            .iter()
            .filter(|(_, s)| pred(s))
            .map(|(id, _)| *id)
            .collect()
    }
}

impl crate::webtransport::SessionStreams for StreamTable {
    fn adopt(&mut self, quic: &mut quiche::Connection, stream: u64, session: u64) {
        let _ = quic.stream_priority(stream, DEFAULT_URGENCY, true);
        self.insert(stream, is_bidi(stream), true);
        self.update(stream, |s| s.session = Some(session));
    }

    fn take_session(&mut self, session: u64) -> Vec<u64> {
        let ids = self.ids_where(|s| s.session == Some(session));
        for id in &ids {
            self.map.remove(id);
        }
        ids
    }
}

impl Connection {
    pub(crate) fn is_local_stream(&self, id: u64) -> bool {
        opened_by_server(id) == self.is_server
    }

    /// Opens a locally initiated stream if the peer's stream limit allows,
    /// returning its ID, or `None` when out of credit (wait for
    /// `STREAMS_AVAILABLE`).
    pub fn stream_open(&mut self, bidirectional: bool) -> CoreResult<Option<u64>> {
        if self.is_ended() {
            return Err(closed());
        }
        let credit = if bidirectional {
            self.quic.peer_streams_left_bidi()
        } else {
            self.quic.peer_streams_left_uni()
        };
        if credit == 0 {
            return Ok(None);
        }
        let id = if bidirectional {
            self.next_bidi
        } else {
            self.next_uni
        };
        // Setting a priority creates the stream in quiche, which counts it
        // against the peer's limit right away.
        match self.quic.stream_priority(id, DEFAULT_URGENCY, true) {
            Ok(()) => {}
            Err(quiche::Error::StreamLimit) => return Ok(None),
            Err(e) => {
                return Err(CoreError::new(
                    ErrorCode::InvalidStreamState,
                    format!("cannot open stream {id}: {e}"),
                ))
            }
        }
        self.streams.insert(id, true, bidirectional);
        if bidirectional {
            self.next_bidi += 4;
        } else {
            self.next_uni += 4;
        }
        Ok(Some(id))
    }

    /// Queues `data` (and FIN when `fin`) on a stream. Returns how many bytes
    /// were taken — fewer than offered when flow control is exhausted, in
    /// which case a `STREAM_WRITABLE` event follows once credit returns —,
    /// [`WRITE_BLOCKED`] when nothing was taken, or [`WRITE_CLOSED`] (or
    /// [`WRITE_STOPPED`]) when the stream's send side is gone. When all of
    /// `data` is taken, so is the FIN.
    ///
    /// The last byte of a write without FIN is held back until the next
    /// write, FIN or `flush` (`release_held_bytes`),
    /// so that a FIN following in the same turn travels in the same STREAM
    /// frame as the data. (A lone FIN is safe too: quiche is patched so that
    /// it keeps a stream until its FIN is acknowledged, see
    /// scripts/patch-quiche.js.)
    pub fn stream_write(&mut self, stream: u64, data: &[u8], fin: bool) -> CoreResult<i64> {
        if self.is_ended() {
            return Err(closed());
        }
        let Some(state) = self.streams.get(stream).filter(|s| s.send_open) else {
            return Ok(self.write_refused(stream));
        };
        if let Some(byte) = state.held {
            let with_fin = fin && data.is_empty();
            match self.send_part(stream, &[byte], with_fin, data.len().max(1))? {
                Some(1) => self.streams.update(stream, |s| s.held = None),
                Some(_) => return Ok(WRITE_BLOCKED),
                None => return Ok(self.write_refused(stream)),
            }
            if with_fin {
                self.streams.update(stream, |s| s.send_open = false);
                return Ok(0);
            }
        }
        let (body, hold) = match data.split_last() {
            Some((last, body)) if !fin => (body, Some(*last)),
            _ => (data, None),
        };
        let Some(n) = self.send_part(stream, body, fin, data.len())? else {
            return Ok(self.write_refused(stream));
        };
        if n < body.len() {
            return Ok(if n == 0 { WRITE_BLOCKED } else { n as i64 });
        }
        match hold {
            Some(byte) => {
                self.streams.update(stream, |s| s.held = Some(byte));
                self.streams.note_held(stream);
            }
            None if fin => self.streams.update(stream, |s| s.send_open = false),
            None => {}
        }
        Ok(data.len() as i64)
    }

    /// Why a write to a stream whose send side is gone takes nothing.
    fn write_refused(&self, stream: u64) -> i64 {
        if self.stops_unreported.iter().any(|&(s, _)| s == stream) {
            WRITE_STOPPED
        } else {
            WRITE_CLOSED
        }
    }

    /// One `stream_send`, with its outcome folded into the stream's state:
    /// `Some(bytes taken)`, or `None` when the send side is gone. `offered`
    /// is what the caller waits to write when nothing was taken.
    fn send_part(
        &mut self,
        stream: u64,
        part: &[u8],
        fin: bool,
        offered: usize,
    ) -> CoreResult<Option<usize>> {
        match self.quic.stream_send(stream, part, fin) {
            Ok(n) => {
                // A write cut short waits for a `STREAM_WRITABLE` event; a
                // complete one leaves an earlier wait in place.
                let left = part.len() - n;
                if left > 0 {
                    self.streams.update(stream, |s| s.blocked = Some(left));
                }
                Ok(Some(n))
            }
            Err(quiche::Error::Done) => {
                self.streams
                    .update(stream, |s| s.blocked = Some(offered.max(1)));
                Ok(Some(0))
            }
            Err(quiche::Error::StreamStopped(code)) => {
                self.note_stopped(stream, code);
                Ok(None)
            }
            Err(quiche::Error::FinalSize) | Err(quiche::Error::InvalidStreamState(_)) => {
                self.streams.update(stream, |s| {
                    s.send_open = false;
                    s.held = None;
                });
                Ok(None)
            }
            Err(e) => Err(CoreError::new(
                ErrorCode::InvalidStreamState,
                format!("cannot write to stream {stream}: {e}"),
            )),
        }
    }

    /// Sends the bytes held back by [`stream_write`](Self::stream_write):
    /// called before every `flush`, so holding never delays data.
    pub(crate) fn release_held_bytes(&mut self) {
        for stream in self.streams.take_held() {
            let Some(byte) = self.streams.get(stream).and_then(|s| s.held) else {
                continue;
            };
            match self.send_part(stream, &[byte], false, 1) {
                Ok(Some(1)) => self.streams.update(stream, |s| s.held = None),
                // No credit: it waits for the next write or flush.
                Ok(Some(_)) => self.streams.note_held(stream),
                _ => {}
            }
        }
    }

    /// Sends RESET_STREAM (`write == true`) or STOP_SENDING (`write == false`)
    /// with an application code. Idempotent.
    pub fn stream_shutdown(&mut self, stream: u64, write: bool, code: u64) -> CoreResult<()> {
        if self.is_ended() {
            return Ok(());
        }
        let direction = if write {
            quiche::Shutdown::Write
        } else {
            quiche::Shutdown::Read
        };
        let result = self
            .quic
            .stream_shutdown(stream, direction, self.stream_code_to_wire(code));
        self.streams.update(stream, |s| {
            if write {
                s.end_sending();
            } else {
                s.recv_open = false;
                s.paused = false;
            }
        });
        match result {
            Ok(()) | Err(quiche::Error::Done) | Err(quiche::Error::InvalidStreamState(_)) => Ok(()),
            Err(e) => Err(CoreError::new(
                ErrorCode::InvalidStreamState,
                format!("cannot shut down stream {stream}: {e}"),
            )),
        }
    }

    /// Stops (or resumes) handing out a stream's data, leaving it in quiche so
    /// that flow control holds the peer back.
    pub fn stream_set_paused(&mut self, stream: u64, paused: bool) {
        self.streams.update(stream, |s| s.paused = paused);
    }

    /// Sets a stream's scheduling priority: lower `urgency` goes first;
    /// `incremental` streams of equal urgency share bandwidth round-robin.
    pub fn stream_set_priority(
        &mut self,
        stream: u64,
        urgency: u8,
        incremental: bool,
    ) -> CoreResult<()> {
        if self.streams.get(stream).is_none() {
            return Err(CoreError::new(
                ErrorCode::InvalidStreamState,
                format!("stream {stream} is closed"),
            ));
        }
        self.quic
            .stream_priority(stream, urgency, incremental)
            .map_err(|e| {
                CoreError::new(
                    ErrorCode::InvalidStreamState,
                    format!("cannot set priority of stream {stream}: {e}"),
                )
            })
    }

    /// Hands out readable stream data (and resets) into `sink`. Returns
    /// `false` when the sink filled up first.
    pub(crate) fn poll_readable(&mut self, sink: &mut EventSink<'_>) -> bool {
        let readable: Vec<u64> = self.quic.readable().collect();
        for stream in readable {
            // On an HTTP/3 connection nquic reads its own streams, and the
            // first bytes of WebTransport streams (see `webtransport/`).
            match self.web_transport_intercept(stream, sink) {
                crate::webtransport::Intercept::Application => {}
                crate::webtransport::Intercept::Handled => continue,
                crate::webtransport::Intercept::Full => return false,
            }
            if self.streams.get(stream).is_none() && !self.is_local_stream(stream) {
                // First sight of a peer-opened stream.
                let _ = self.quic.stream_priority(stream, DEFAULT_URGENCY, true);
                self.streams.insert(stream, is_bidi(stream), true);
            }
            match self.streams.get(stream) {
                Some(s) if s.recv_open && !s.paused => {}
                Some(s) if s.recv_open && self.quic.stream_finished(stream) => {
                    // Paused, but the peer is done: a reset must still be
                    // reported. An empty read reports it without taking data.
                    if let Err(quiche::Error::StreamReset(code)) =
                        self.quic.stream_recv(stream, &mut [])
                    {
                        if !sink.has_rows(1) {
                            return false;
                        }
                        self.report_reset(sink, stream, code);
                    }
                    continue;
                }
                // Paused, or already shut down for reading: leave it.
                _ => continue,
            }
            loop {
                if !sink.has_rows(1) {
                    return false;
                }
                // Large data goes out as a chunk of its own (one copy, see
                // `EventSink::with_chunks`); the rest through the inbox.
                let large = if sink.takes_chunks() {
                    self.quic.stream_readable_len(stream, MAX_STREAM_CHUNK)
                } else {
                    0
                };
                let (read, offset, limit) = if large >= events::CHUNK_MIN {
                    // Into uninitialized memory: quiche writes the bytes it
                    // reports (a `BufMut`), so nothing is zeroed first.
                    let mut chunk: Vec<u8> = Vec::with_capacity(large);
                    match self
                        .quic
                        .stream_recv_buf(stream, &mut chunk.spare_capacity_mut()[..large])
                    {
                        Ok((n, fin)) => {
                            // SAFETY: `stream_recv_buf` initialized the first
                            // `n` bytes (at most `large`, the slice's length).
                            unsafe { chunk.set_len(n.min(large)) };
                            (Ok((n, fin)), sink.push_chunk(chunk), large)
                        }
                        Err(e) => (Err(e), 0.0, large),
                    }
                } else {
                    let (offset, space) = sink.payload_space();
                    if space.is_empty() {
                        return false;
                    }
                    let limit = space.len().min(MAX_STREAM_CHUNK);
                    let read = self.quic.stream_recv(stream, &mut space[..limit]);
                    if let Ok((n, _)) = read {
                        sink.commit_payload(n);
                    }
                    (read, offset as f64, limit)
                };
                match read {
                    Ok((n, fin)) => {
                        self.stall.data_arrived();
                        let fin_flag = if fin { 1.0 } else { 0.0 };
                        sink.push(
                            events::STREAM_DATA,
                            self.id,
                            stream as f64,
                            offset,
                            n as f64,
                            fin_flag,
                        );
                        if fin {
                            self.streams.update(stream, |s| s.recv_open = false);
                            break;
                        }
                        if n < limit {
                            break;
                        }
                    }
                    Err(quiche::Error::StreamReset(code)) => {
                        self.report_reset(sink, stream, code);
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        true
    }

    /// Reports the peer's RESET_STREAM; the caller checked there is room.
    fn report_reset(&mut self, sink: &mut EventSink<'_>, stream: u64, code: u64) {
        sink.push(
            events::STREAM_RESET,
            self.id,
            stream as f64,
            self.stream_code_from_wire(code) as f64,
            0.0,
            0.0,
        );
        self.streams.update(stream, |s| s.recv_open = false);
    }

    /// Records the peer's STOP_SENDING on a stream whose send side is open,
    /// for `poll_writable` to report.
    fn note_stopped(&mut self, stream: u64, code: u64) {
        self.stops_unreported.push_back((stream, code));
        self.streams.update(stream, StreamState::end_sending);
    }

    /// Looks for STOP_SENDING on the open streams when quiche counted a new
    /// one. This must run before streams are read: quiche frees a stopped
    /// stream, code and all, as soon as the application reads its last data.
    pub(crate) fn note_stopped_streams(&mut self) {
        let stopped_total = self.quic.stats().stopped_stream_count_remote;
        if stopped_total == self.stopped_seen {
            return;
        }
        self.stopped_seen = stopped_total;
        for stream in self.streams.ids_where(|s| s.send_open) {
            if let Err(quiche::Error::StreamStopped(code)) = self.quic.stream_capacity(stream) {
                self.note_stopped(stream, code);
            }
        }
    }

    /// Wakes blocked writers and reports STOP_SENDING. quiche's
    /// edge-triggered writable list can miss streams, so the few streams that
    /// wait for credit are checked directly.
    pub(crate) fn poll_writable(&mut self, sink: &mut EventSink<'_>) -> bool {
        for stream in self.streams.ids_where(|s| s.blocked.is_some()) {
            match self.quic.stream_capacity(stream) {
                Ok(cap) => {
                    let wanted = self.streams.get(stream).and_then(|s| s.blocked);
                    let low_water = self.writable_low_water(stream);
                    if wanted.is_some_and(|w| cap >= w.clamp(1, low_water)) {
                        if !sink.has_rows(1) {
                            return false;
                        }
                        self.streams.update(stream, |s| s.blocked = None);
                        sink.push(
                            events::STREAM_WRITABLE,
                            self.id,
                            stream as f64,
                            0.0,
                            0.0,
                            0.0,
                        );
                    }
                }
                Err(quiche::Error::StreamStopped(code)) => self.note_stopped(stream, code),
                // Gone from quiche while our side still writes: only the
                // peer's STOP_SENDING does that (`note_stopped_streams` runs
                // first so that its code is kept; this is a last resort).
                Err(_) => self.note_stopped(stream, 0),
            }
        }
        while let Some(&(stream, code)) = self.stops_unreported.front() {
            if !sink.has_rows(1) {
                return false;
            }
            sink.push(
                events::STREAM_STOPPED,
                self.id,
                stream as f64,
                self.stream_code_from_wire(code) as f64,
                0.0,
                0.0,
            );
            self.stops_unreported.pop_front();
        }
        true
    }

    /// The capacity a blocked writer of `stream` waits for: a packet's worth,
    /// or less when the peer's flow-control windows are smaller than that
    /// (their credit could then never reach a packet's worth, and the writer
    /// would wait forever).
    fn writable_low_water(&self, stream: u64) -> usize {
        let Some(params) = self.quic.peer_transport_params() else {
            return 1;
        };
        let stream_window = if !is_bidi(stream) {
            params.initial_max_stream_data_uni
        } else if self.is_local_stream(stream) {
            params.initial_max_stream_data_bidi_remote
        } else {
            params.initial_max_stream_data_bidi_local
        };
        let window = stream_window.min(params.initial_max_data);
        usize::try_from(window).map_or(WRITABLE_LOW_WATER, |w| w.clamp(1, WRITABLE_LOW_WATER))
    }

    /// Sends an unreliable datagram. `Ok(false)` when the send queue is full.
    pub fn datagram_send(&mut self, data: &[u8]) -> CoreResult<bool> {
        if self.is_ended() {
            return Err(closed());
        }
        if !self.datagrams {
            return Err(CoreError::new(
                ErrorCode::DatagramsDisabled,
                "datagrams are disabled on this connection (options.datagrams is false)",
            ));
        }
        // quiche checks the size for a direct path itself.
        let max = if self.relay_path.is_some() {
            self.max_datagram_size()
        } else {
            usize::MAX
        };
        if data.len() > max {
            // quiche would size it for a full packet; relayed packets are smaller.
            return Err(CoreError::new(
                ErrorCode::DatagramTooLarge,
                format!(
                    "a datagram of {} bytes exceeds maxDatagramSize ({max})",
                    data.len()
                ),
            ));
        }
        match self.quic.dgram_send_buf(datagram_pool::copy_of(data)) {
            Ok(()) => Ok(true),
            Err(quiche::Error::Done) => {
                self.datagrams_send_dropped += 1;
                Ok(false)
            }
            Err(quiche::Error::BufferTooShort) => Err(CoreError::new(
                ErrorCode::DatagramTooLarge,
                format!(
                    "a datagram of {} bytes exceeds maxDatagramSize ({})",
                    data.len(),
                    self.quic.dgram_max_writable_len().unwrap_or(0)
                ),
            )),
            Err(quiche::Error::InvalidState) => Err(CoreError::new(
                ErrorCode::DatagramsDisabled,
                "the peer does not accept datagrams",
            )),
            Err(e) => Err(CoreError::new(
                ErrorCode::Internal,
                format!("datagram: {e}"),
            )),
        }
    }

    /// Queues a datagram JavaScript batched (`send_datagrams` in
    /// binding.rs); one it can no longer take (too large after a path
    /// change, say) is dropped and counted like one that found the queue
    /// full.
    pub fn datagram_send_batched(&mut self, data: &[u8]) -> bool {
        match self.datagram_send(data) {
            Ok(queued) => queued,
            Err(_) => {
                self.datagrams_send_dropped += 1;
                false
            }
        }
    }

    /// The largest datagram payload that can be sent now (0 when none).
    pub fn max_datagram_size(&self) -> usize {
        if !self.datagrams {
            return 0;
        }
        let max = self.quic.dgram_max_writable_len().unwrap_or(0);
        if self.relay_path.is_some() {
            // Relayed packets are this much smaller than direct ones.
            let shrink = crate::config::MAX_SEND_UDP_PAYLOAD - crate::relay::RELAYED_PACKET_MAX;
            return max.saturating_sub(shrink);
        }
        max
    }
}

fn closed() -> CoreError {
    CoreError::new(ErrorCode::ConnectionClosed, "the connection is closed")
}
