// Hole-punching packets: small datagrams that open a NAT binding toward a
// peer. They cannot be mistaken for QUIC (the fixed bit 0x40 is clear) nor
// for STUN (first byte 0x20, RFC 7983's unassigned range), and a receiving
// nquic socket reports them as 'punch' and otherwise ignores them.
//
// The last 8 bytes are a token: zero in the application's own punches
// (`socket.punch()`), the dial's random token in the punches of a dial by
// key, so each side knows which dial a punch belongs to (these never reach
// the application).
import { TOKEN_BYTES } from './signal';

const MARKER = Buffer.from([0x20, 0x6e, 0x71, 0x70, 0x75, 0x6e, 0x63, 0x68]); // 0x20 "nqpunch"
export const PUNCH_PACKET = Buffer.concat([MARKER, Buffer.alloc(TOKEN_BYTES)]);

export function isPunch(data: Buffer): boolean {
  return data.length === PUNCH_PACKET.length && data.subarray(0, MARKER.length).equals(MARKER);
}

/** A punch packet carrying a dial's token. */
export function punchPacket(token: Buffer): Buffer {
  return Buffer.concat([MARKER, token]);
}

/** The token of a punch packet (hex), or undefined for the application's own punches. */
export function punchToken(data: Buffer): string | undefined {
  const token = data.subarray(MARKER.length);
  return token.every((b) => b === 0) ? undefined : token.toString('hex');
}
