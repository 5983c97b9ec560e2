//! Bytes nquic itself writes on HTTP/3 streams the application never sees
//! (the control stream, CONNECT streams): queued, and handed to quiche as
//! flow and congestion control allow.

use std::collections::HashMap;

#[derive(Default)]
struct Out {
    data: Vec<u8>,
    fin: bool,
}

#[derive(Default)]
pub struct Writes {
    queued: HashMap<u64, Out>,
}

impl Writes {
    pub fn queue(&mut self, stream: u64, bytes: &[u8], fin: bool) {
        let out = self.queued.entry(stream).or_default();
        out.data.extend_from_slice(bytes);
        out.fin |= fin;
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Forgets what `stream` still had to send (it was reset or stopped).
    pub fn drop_stream(&mut self, stream: u64) {
        self.queued.remove(&stream);
    }

    /// Gives quiche what it takes. Returns the streams whose sending side is
    /// gone (the peer sent STOP_SENDING, or the stream was reset).
    pub fn flush(&mut self, quic: &mut quiche::Connection) -> Vec<u64> {
        let mut failed = Vec::new();
        self.queued.retain(|&stream, out| {
            match quic.stream_send(stream, &out.data, out.fin) {
                Ok(n) => {
                    out.data.drain(..n);
                    // All taken, FIN included when asked for: done.
                    !out.data.is_empty()
                }
                Err(quiche::Error::Done) => true,
                Err(_) => {
                    failed.push(stream);
                    false
                }
            }
        });
        failed
    }
}
