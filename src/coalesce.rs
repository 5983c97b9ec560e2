//! Splitting a UDP datagram into its coalesced QUIC packets (RFC 9000 §12.2).
//!
//! quiche stops reading a datagram at the first packet it cannot decrypt, so
//! a 1-RTT packet coalesced behind a Handshake packet whose keys are already
//! discarded would be lost. The endpoint hands quiche one packet at a time.

/// Reads a QUIC variable-length integer; returns `(value, bytes used)`.
fn varint(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(..len)?;
    let mut value = u64::from(first & 0x3f);
    for b in &bytes[1..] {
        value = (value << 8) | u64::from(*b);
    }
    Some((value, len))
}

/// Length of the long-header packet at the start of `buf`, when its header
/// can be read and it carries a Length field (not Retry or Version
/// Negotiation).
fn long_packet_len(buf: &[u8]) -> Option<usize> {
    let version = u32::from_be_bytes(buf.get(1..5)?.try_into().ok()?);
    if version == 0 {
        return None;
    }
    let packet_type = (buf[0] & 0x30) >> 4;
    if packet_type == 3 {
        return None; // Retry: no length, fills the datagram
    }
    let mut off = 5;
    let dcid_len = usize::from(*buf.get(off)?);
    off += 1 + dcid_len;
    let scid_len = usize::from(*buf.get(off)?);
    off += 1 + scid_len;
    if packet_type == 0 {
        let (token_len, n) = varint(buf.get(off..)?)?;
        off += n + usize::try_from(token_len).ok()?;
    }
    let (payload_len, n) = varint(buf.get(off..)?)?;
    let end = off
        .checked_add(n)?
        .checked_add(usize::try_from(payload_len).ok()?)?;
    (end <= buf.len()).then_some(end)
}

/// The end offsets of the packets coalesced in `datagram`. The last packet
/// always ends at the datagram's end (a short-header packet, or anything
/// whose length cannot be read, takes the rest).
pub fn packet_ends(datagram: &[u8], ends: &mut Vec<usize>) {
    ends.clear();
    let mut start = 0;
    while start < datagram.len() {
        let rest = &datagram[start..];
        let is_long = rest[0] & 0x80 != 0;
        match is_long.then(|| long_packet_len(rest)).flatten() {
            Some(len) if len > 0 && start + len < datagram.len() => {
                start += len;
                ends.push(start);
            }
            _ => break,
        }
    }
    ends.push(datagram.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_packet(packet_type: u8, payload: usize) -> Vec<u8> {
        let mut p = vec![0xc0 | (packet_type << 4), 0, 0, 0, 1, 4, 1, 2, 3, 4, 0];
        if packet_type == 0 {
            p.push(0); // empty token
        }
        p.extend_from_slice(&[0x40 | (payload >> 8) as u8, payload as u8]);
        p.extend(std::iter::repeat_n(0xaa, payload));
        p
    }

    #[test]
    fn splits_long_then_short() {
        let mut d = long_packet(2, 30);
        let first = d.len();
        d.extend_from_slice(&[0x40, 1, 2, 3, 4, 5, 6]);
        let mut ends = Vec::new();
        packet_ends(&d, &mut ends);
        assert_eq!(ends, vec![first, d.len()]);
    }

    #[test]
    fn single_packets_and_garbage_are_one_piece() {
        let mut ends = Vec::new();
        let d = long_packet(0, 100);
        packet_ends(&d, &mut ends);
        assert_eq!(ends, vec![d.len()]);
        packet_ends(&[0xc0, 0, 0], &mut ends);
        assert_eq!(ends, vec![3]);
        // A length pointing past the end is not trusted.
        let mut bad = long_packet(2, 10);
        bad.truncate(bad.len() - 3);
        packet_ends(&bad, &mut ends);
        assert_eq!(ends, vec![bad.len()]);
    }
}
