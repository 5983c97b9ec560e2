//! Stream commands: open with credit, write with backpressure, shut down
//! either direction with an application code, pause reading.

use crate::connection::Connection;
use crate::error::{CoreError, CoreResult, ErrorCode};
use crate::events;

/// Result of [`Connection::stream_write`] when the stream can take no more
/// data ever (stopped by the peer, reset locally, or finished).
pub const WRITE_CLOSED: i64 = -1;
/// Result of [`Connection::stream_write`] when nothing (not even a FIN) could
/// be taken now; a `STREAM_WRITABLE` event follows.
pub const WRITE_BLOCKED: i64 = -2;

impl Connection {
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
        match self.quic.stream_priority(id, 127, true) {
            Ok(()) => {}
            Err(quiche::Error::StreamLimit) => return Ok(None),
            Err(e) => {
                return Err(CoreError::new(
                    ErrorCode::InvalidStreamState,
                    format!("cannot open stream {id}: {e}"),
                ))
            }
        }
        self.writing.insert(id);
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
    /// [`WRITE_BLOCKED`] when nothing was taken, or [`WRITE_CLOSED`] when the
    /// stream's send side is gone. When all of `data` is taken, so is the FIN.
    pub fn stream_write(&mut self, stream: u64, data: &[u8], fin: bool) -> CoreResult<i64> {
        if self.is_ended() {
            return Err(closed());
        }
        match self.quic.stream_send(stream, data, fin) {
            Ok(n) => {
                if n < data.len() {
                    self.blocked.insert(stream, data.len() - n);
                } else if fin {
                    self.writing.remove(&stream);
                }
                Ok(n as i64)
            }
            Err(quiche::Error::Done) => {
                self.blocked.insert(stream, data.len());
                Ok(WRITE_BLOCKED)
            }
            Err(quiche::Error::StreamStopped(code)) => {
                self.writing.remove(&stream);
                self.blocked.remove(&stream);
                if self.stopped_reported.insert(stream) {
                    self.pending.push((events::STREAM_STOPPED, stream, code));
                }
                Ok(WRITE_CLOSED)
            }
            Err(quiche::Error::FinalSize) | Err(quiche::Error::InvalidStreamState(_)) => {
                Ok(WRITE_CLOSED)
            }
            Err(e) => Err(CoreError::new(
                ErrorCode::InvalidStreamState,
                format!("cannot write to stream {stream}: {e}"),
            )),
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
        if write {
            self.blocked.remove(&stream);
            self.writing.remove(&stream);
        } else {
            self.paused.remove(&stream);
        }
        match self.quic.stream_shutdown(stream, direction, code) {
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
        if paused {
            self.paused.insert(stream);
        } else {
            self.paused.remove(&stream);
        }
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
        match self.quic.dgram_send(data) {
            Ok(()) => Ok(true),
            Err(quiche::Error::Done) => Ok(false),
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

    /// The largest datagram payload that can be sent now (0 when none).
    pub fn max_datagram_size(&self) -> usize {
        if !self.datagrams {
            return 0;
        }
        self.quic.dgram_max_writable_len().unwrap_or(0)
    }
}

fn closed() -> CoreError {
    CoreError::new(ErrorCode::ConnectionClosed, "the connection is closed")
}
