//! Outgoing packets handed to JavaScript in batches.
//!
//! `flush(out, meta)` writes packets back to back into `out` (a reused
//! `Buffer`) and one row of [`STRIDE`] `u32`s per packet into `meta` (a
//! `Uint32Array`): `[offset, length, port, family, w0, w1, w2, w3]`, where the
//! destination IP is `w0` for IPv4 and `w0..w3` (network order) for IPv6.

use std::net::SocketAddr;

use crate::addr;
use crate::config::MAX_SEND_UDP_PAYLOAD;

pub const STRIDE: usize = 8;

/// Where a connection writes the packets it sends.
pub trait PacketSink {
    /// Room for one more packet, if any.
    fn space(&mut self) -> Option<&mut [u8]>;
    /// Records that `len` bytes written into [`space`](Self::space) go to `to`.
    fn commit(&mut self, len: usize, to: &SocketAddr);
}

/// Writes packets and their destinations into caller-owned buffers.
pub struct TransmitSink<'a> {
    out: &'a mut [u8],
    meta: &'a mut [u32],
    bytes: usize,
    packets: usize,
}

impl<'a> TransmitSink<'a> {
    pub fn new(out: &'a mut [u8], meta: &'a mut [u32]) -> Self {
        TransmitSink {
            out,
            meta,
            bytes: 0,
            packets: 0,
        }
    }

    pub fn packets(&self) -> usize {
        self.packets
    }

    /// Copies a ready-made packet (version negotiation and the like).
    pub fn push_copy(&mut self, packet: &[u8], to: &SocketAddr) -> bool {
        match self.space() {
            Some(space) if packet.len() <= space.len() => {
                space[..packet.len()].copy_from_slice(packet);
                self.commit(packet.len(), to);
                true
            }
            _ => false,
        }
    }
}

impl PacketSink for TransmitSink<'_> {
    /// Room for one more full-sized packet, if any.
    fn space(&mut self) -> Option<&mut [u8]> {
        let row_fits = (self.packets + 1) * STRIDE <= self.meta.len();
        let end = self.bytes + MAX_SEND_UDP_PAYLOAD;
        if row_fits && end <= self.out.len() {
            Some(&mut self.out[self.bytes..end])
        } else {
            None
        }
    }

    fn commit(&mut self, len: usize, to: &SocketAddr) {
        let at = self.packets * STRIDE;
        let row = &mut self.meta[at..at + STRIDE];
        row[0] = self.bytes as u32;
        row[1] = len as u32;
        row[2] = u32::from(to.port());
        addr::encode(to, &mut row[3..8]);
        self.bytes += len;
        self.packets += 1;
    }
}
