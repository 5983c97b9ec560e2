//! Event records handed to JavaScript in batches.
//!
//! `pollEvents(inbox, records)` fills `records` (a `Float64Array`) with rows of
//! [`STRIDE`] numbers `[kind, connection, a, b, c, d]` and copies payload bytes
//! (stream data, datagrams) into `inbox` (a reused `Buffer`). Row layouts:
//!
//! | kind | a | b | c | d |
//! |---|---|---|---|---|
//! | `ESTABLISHED` | – | – | – | – |
//! | `CLOSED` | – | – | – | – |
//! | `STREAM_DATA` | stream id | inbox offset | length | fin (0/1) |
//! | `STREAM_RESET` | stream id | application code | – | – |
//! | `STREAM_STOPPED` | stream id | application code | – | – |
//! | `STREAM_WRITABLE` | stream id | – | – | – |
//! | `DATAGRAM` | inbox offset | length | – | – |
//! | `STREAMS_AVAILABLE` | bidi credit | uni credit | – | – |
//! | `VERIFY` | – | – | – | – |
//! | `KEYLOG` | inbox offset | length | – | – |
//! | `EARLY_DATA` | – | – | – | – |
//! | `SESSION_TICKET` | – | – | – | – |
//! | `QLOG` | inbox offset | length | – | – |
//! | `RELAY_REQUEST` | flow key | target connection | – | – |
//! | `RELAY_REGISTERED` | outcome (0 ok, 1 no certificate, 2 no answer) | – | – | – |
//! | `SIGNAL` | inbox offset | length | – | – |
//! | `WT_REQUEST` | session | inbox offset | length | – |
//! | `WT_RESPONSE` | session | HTTP status (0: no WebTransport offered) | – | – |
//! | `WT_STREAM` | stream id | session | – | – |
//! | `WT_DATAGRAM` | inbox offset | length | session | – |
//! | `WT_CLOSED` | session | WebTransport code | inbox offset | length |
//! | `WT_RESET` | session | – | – | – |
//! | `WT_DRAINING` | session | – | – | – |
//!
//! `KEYLOG` carries NSS key-log lines (newline-terminated). `EARLY_DATA`:
//! a resuming client may send 0-RTT data now. `SESSION_TICKET`: a (new)
//! ticket for resumption is available. `QLOG`: the next piece of the
//! connection's qlog (JSON-SEQ), in order.
//!
//! `VERIFY` asks the application to decide about the peer's certificate
//! (`peerCheck`, then `setVerdict`); it may come before `ESTABLISHED`, for a
//! server connection the application has not seen yet.
//!
//! `RELAY_REQUEST` (relay side; its connection is the dialer's) asks the
//! `allow` policy about a new flow: answer with `relayVerdict(key, allow)`.
//! `RELAY_REGISTERED` answers `relayRegister`. `SIGNAL` carries one
//! rendezvous signalling message (`p2p::channel`), in order, once.
//!
//! The `WT_*` rows belong to WebTransport over HTTP/3 (`webtransport/`):
//! `WT_REQUEST` (server) carries a session's CONNECT request as
//! `name\0value\0` pairs, pseudo-headers first; answer with `wtRespond`.
//! `WT_RESPONSE` (client) answers `wtConnect`. `WT_STREAM` announces a peer's
//! stream of a session before its first `STREAM_DATA`. `WT_CLOSED` (reason
//! in the inbox) and `WT_RESET` end a session, cleanly or abruptly; after a
//! local close, `WT_CLOSED` says the peer finished too. `WT_DRAINING`: the
//! peer asks to wind the session down.
//!
//! Numbers above 2^53 (possible only for application codes) lose precision.

pub const STRIDE: usize = 6;

pub const ESTABLISHED: f64 = 1.0;
pub const CLOSED: f64 = 2.0;
pub const STREAM_DATA: f64 = 3.0;
pub const STREAM_RESET: f64 = 4.0;
pub const STREAM_STOPPED: f64 = 5.0;
pub const STREAM_WRITABLE: f64 = 6.0;
pub const DATAGRAM: f64 = 7.0;
pub const STREAMS_AVAILABLE: f64 = 8.0;
pub const VERIFY: f64 = 9.0;
pub const KEYLOG: f64 = 10.0;
pub const EARLY_DATA: f64 = 11.0;
pub const SESSION_TICKET: f64 = 12.0;
pub const QLOG: f64 = 13.0;
pub const RELAY_REQUEST: f64 = 14.0;
pub const RELAY_REGISTERED: f64 = 15.0;
pub const SIGNAL: f64 = 16.0;
pub const WT_REQUEST: f64 = 32.0;
pub const WT_RESPONSE: f64 = 33.0;
pub const WT_STREAM: f64 = 34.0;
pub const WT_DATAGRAM: f64 = 35.0;
pub const WT_CLOSED: f64 = 36.0;
pub const WT_RESET: f64 = 37.0;
pub const WT_DRAINING: f64 = 38.0;

/// Stream data of at least this many bytes goes out as a chunk of its own
/// when the sink takes chunks (see [`EventSink::with_chunks`]).
pub const CHUNK_MIN: usize = 64 * 1024;
/// Chunk bytes one poll hands over at most (then the inbox bounds it), so a
/// batch stays about the inbox's size.
const CHUNK_BUDGET: usize = 4 * 1024 * 1024;

/// Writes event rows and payloads into caller-owned buffers.
pub struct EventSink<'a> {
    inbox: &'a mut [u8],
    records: &'a mut [f64],
    bytes: usize,
    rows: usize,
    chunks: Option<&'a mut Vec<Vec<u8>>>,
    chunk_bytes: usize,
}

impl<'a> EventSink<'a> {
    pub fn new(inbox: &'a mut [u8], records: &'a mut [f64]) -> Self {
        EventSink {
            inbox,
            records,
            bytes: 0,
            rows: 0,
            chunks: None,
            chunk_bytes: 0,
        }
    }

    /// A sink that hands large stream data ([`CHUNK_MIN`] bytes or more) over
    /// as buffers of its own, collected in `chunks`, instead of copying it
    /// through the inbox: its `STREAM_DATA` row's inbox offset is then
    /// `-1 - index` into `chunks`. JavaScript takes them as they are
    /// (`takeChunks`), so their bytes are copied once, from quiche.
    pub fn with_chunks(
        inbox: &'a mut [u8],
        records: &'a mut [f64],
        chunks: &'a mut Vec<Vec<u8>>,
    ) -> Self {
        EventSink {
            chunks: Some(chunks),
            ..EventSink::new(inbox, records)
        }
    }

    /// Whether large stream data goes out as chunks (within this poll's budget).
    pub fn takes_chunks(&self) -> bool {
        self.chunks.is_some() && self.chunk_bytes < CHUNK_BUDGET
    }

    /// Keeps `chunk`; returns the offset its row carries (`-1 - index`).
    pub fn push_chunk(&mut self, chunk: Vec<u8>) -> f64 {
        match self.chunks.as_mut() {
            Some(chunks) => {
                self.chunk_bytes += chunk.len();
                chunks.push(chunk);
                -(chunks.len() as f64)
            }
            None => 0.0,
        }
    }

    /// How many rows have been written.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Whether `n` more rows fit.
    pub fn has_rows(&self, n: usize) -> bool {
        (self.rows + n) * STRIDE <= self.records.len()
    }

    /// Appends one row; the caller checked [`has_rows`](Self::has_rows).
    pub fn push(&mut self, kind: f64, conn: u32, a: f64, b: f64, c: f64, d: f64) {
        let at = self.rows * STRIDE;
        if let Some(row) = self.records.get_mut(at..at + STRIDE) {
            row.copy_from_slice(&[kind, f64::from(conn), a, b, c, d]);
            self.rows += 1;
        }
    }

    /// The unused part of the inbox, and its offset.
    pub fn payload_space(&mut self) -> (usize, &mut [u8]) {
        let at = self.bytes;
        (at, &mut self.inbox[at..])
    }

    /// Marks `len` bytes of [`payload_space`](Self::payload_space) as used.
    pub fn commit_payload(&mut self, len: usize) {
        self.bytes = (self.bytes + len).min(self.inbox.len());
    }
}
