//! HTTP/3 frames (RFC 9114 §7.1) taken out of a stream's bytes as they
//! arrive, with a bound on what may be buffered. The frame and integer
//! encodings are web-transport-proto's.

use web_transport_proto::VarInt;

/// One complete frame: its type, and its bytes (type and length included,
/// as the codecs of web-transport-proto expect them).
pub struct Frame {
    pub typ: u64,
    pub raw: Vec<u8>,
    /// Where the payload starts in `raw`.
    pub payload_at: usize,
}

impl Frame {
    pub fn payload(&self) -> &[u8] {
        &self.raw[self.payload_at..]
    }
}

/// The peer announced a frame larger than this reader accepts.
#[derive(Debug, PartialEq, Eq)]
pub struct TooLarge;

/// Bytes of one stream not yet parsed into frames.
///
/// Frames are taken from a read position rather than off the front of the
/// buffer: removing each frame would move everything behind it, and a peer
/// sending a window of tiny frames in one flight would make that quadratic.
/// The unread rest moves at most once per [`push`](Self::push).
pub struct FrameReader {
    buf: Vec<u8>,
    /// Where the unread bytes start in `buf`.
    read: usize,
    limit: usize,
    /// Bytes moved by compaction (tests check that it stays linear).
    #[cfg(test)]
    moved: usize,
}

/// Decodes a QUIC variable-length integer at the start of `bytes`: its
/// value and length, or `None` when `bytes` ends first.
pub fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut rest = bytes;
    let v = VarInt::decode(&mut rest).ok()?;
    Some((v.into_inner(), bytes.len() - rest.len()))
}

/// Encodes `value` (below 2^62) as a QUIC variable-length integer.
pub fn put_varint(out: &mut Vec<u8>, value: u64) {
    if let Ok(v) = VarInt::from_u64(value) {
        v.encode(out);
    }
}

impl FrameReader {
    /// A reader that refuses frames (type and length included) above `limit` bytes.
    pub fn new(limit: usize) -> Self {
        FrameReader {
            buf: Vec::new(),
            read: 0,
            limit,
            #[cfg(test)]
            moved: 0,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.read > 0 {
            #[cfg(test)]
            {
                self.moved += self.buf.len() - self.read;
            }
            self.buf.drain(..self.read);
            self.read = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Whether bytes of an unfinished frame are buffered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.read == self.buf.len()
    }

    /// Bytes moved inside the buffer so far.
    #[cfg(test)]
    pub fn moved(&self) -> usize {
        self.moved
    }

    /// The next complete frame, `Ok(None)` while it is incomplete.
    pub fn next(&mut self) -> Result<Option<Frame>, TooLarge> {
        let unread = &self.buf[self.read..];
        let Some((typ, n1)) = varint(unread) else {
            return Ok(None);
        };
        let Some((len, n2)) = varint(&unread[n1..]) else {
            return Ok(None);
        };
        let payload_at = n1 + n2;
        let total = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(payload_at))
            .filter(|t| *t <= self.limit)
            .ok_or(TooLarge)?;
        if unread.len() < total {
            return Ok(None);
        }
        let raw = unread[..total].to_vec();
        self.read += total;
        if self.read == self.buf.len() {
            self.buf.clear();
            self.read = 0;
        }
        Ok(Some(Frame {
            typ,
            raw,
            payload_at,
        }))
    }
}

/// Frame types (RFC 9114 §7.2; draft-ietf-webtrans-http3 §4.2 for 0x41).
pub mod types {
    pub const DATA: u64 = 0x00;
    pub const HEADERS: u64 = 0x01;
    pub const SETTINGS: u64 = 0x04;
    pub const PUSH_PROMISE: u64 = 0x05;
    pub const GOAWAY: u64 = 0x07;
    /// Frame types of HTTP/2 that HTTP/3 reserves (RFC 9114 §7.2.8).
    pub fn is_http2_reserved(typ: u64) -> bool {
        matches!(typ, 0x02 | 0x06 | 0x08 | 0x09)
    }
}

/// Appends one frame of type `typ` carrying `payload`.
pub fn put_frame(out: &mut Vec<u8>, typ: u64, payload: &[u8]) {
    put_varint(out, typ);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_out_whole_and_in_order() {
        let mut wire = Vec::new();
        put_frame(&mut wire, types::DATA, b"hello");
        put_frame(&mut wire, 0x21, &[0; 70]); // GREASE, two-byte length
        let mut reader = FrameReader::new(1024);
        for byte in &wire[..wire.len() - 1] {
            reader.push(&[*byte]);
        }
        let first = reader.next().expect("ok").expect("data frame");
        assert_eq!((first.typ, first.payload()), (types::DATA, &b"hello"[..]));
        assert!(
            reader.next().expect("ok").is_none(),
            "second frame is one byte short"
        );
        reader.push(&wire[wire.len() - 1..]);
        let second = reader.next().expect("ok").expect("grease frame");
        assert_eq!((second.typ, second.payload().len()), (0x21, 70));
        assert!(reader.is_empty());
    }

    #[test]
    fn an_announced_frame_above_the_limit_is_refused_before_it_arrives() {
        let mut reader = FrameReader::new(100);
        let mut wire = Vec::new();
        put_varint(&mut wire, types::HEADERS);
        put_varint(&mut wire, 1 << 40);
        reader.push(&wire);
        assert_eq!(reader.next().err(), Some(TooLarge));
    }
}
