// Hole-punching packets: small datagrams that open a NAT binding toward a
// peer. They cannot be mistaken for QUIC (the fixed bit 0x40 is clear) nor
// for STUN (first byte 0x20, RFC 7983's unassigned range), and a receiving
// nquic socket reports them as 'punch' and otherwise ignores them.

const MARKER = Buffer.from([0x20, 0x6e, 0x71, 0x70, 0x75, 0x6e, 0x63, 0x68]); // 0x20 "nqpunch"
export const PUNCH_PACKET = Buffer.concat([MARKER, Buffer.alloc(8)]);

export function isPunch(data: Buffer): boolean {
  return data.length === PUNCH_PACKET.length && data.subarray(0, MARKER.length).equals(MARKER);
}
