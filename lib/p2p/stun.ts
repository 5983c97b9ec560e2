// STUN binding requests (RFC 5389) sent on a QuicSocket's own UDP socket, so
// the mapped address learned is the one the socket's NAT binding uses.
import { randomBytes } from 'node:crypto';
import type { Address } from '../types';

const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const MAGIC_COOKIE = 0x2112a442;
const XOR_MAPPED_ADDRESS = 0x0020;
const MAPPED_ADDRESS = 0x0001;
const HEADER_BYTES = 20;

/** A binding request with a fresh transaction ID. */
export function bindingRequest(): { packet: Buffer; transaction: string } {
  const packet = Buffer.alloc(HEADER_BYTES);
  packet.writeUInt16BE(BINDING_REQUEST, 0);
  packet.writeUInt16BE(0, 2);
  packet.writeUInt32BE(MAGIC_COOKIE, 4);
  randomBytes(12).copy(packet, 8);
  return { packet, transaction: packet.subarray(8, 20).toString('hex') };
}

/** Whether a datagram looks like STUN (RFC 7983: first byte 0-3, magic cookie). */
export function isStun(data: Buffer): boolean {
  return data.length >= HEADER_BYTES && data[0] < 4 && data.readUInt32BE(4) === MAGIC_COOKIE;
}

export function transactionOf(data: Buffer): string {
  return data.subarray(8, 20).toString('hex');
}

function decodeAddress(value: Buffer, xor: boolean, transaction: Buffer): Address | undefined {
  if (value.length < 8) return undefined;
  const family = value[1];
  let port = value.readUInt16BE(2);
  if (xor) port ^= MAGIC_COOKIE >>> 16;
  if (family === 0x01) {
    const raw = value.readUInt32BE(4);
    const ip = (xor ? (raw ^ MAGIC_COOKIE) >>> 0 : raw) >>> 0;
    return { address: [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.'), port, family: 'IPv4' };
  }
  if (family === 0x02 && value.length >= 20) {
    const bytes = Buffer.from(value.subarray(4, 20));
    if (xor) {
      const mask = Buffer.alloc(16);
      mask.writeUInt32BE(MAGIC_COOKIE, 0);
      transaction.copy(mask, 4);
      for (let i = 0; i < 16; i++) bytes[i] ^= mask[i];
    }
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
    return { address: groups.join(':'), port, family: 'IPv6' };
  }
  return undefined;
}

/** The mapped address in a binding success response, if it has one. */
export function parseBindingResponse(data: Buffer): Address | undefined {
  if (!isStun(data) || data.readUInt16BE(0) !== BINDING_SUCCESS) return undefined;
  const end = Math.min(data.length, HEADER_BYTES + data.readUInt16BE(2));
  const transaction = data.subarray(8, 20);
  let fallback: Address | undefined;
  for (let at = HEADER_BYTES; at + 4 <= end; ) {
    const type = data.readUInt16BE(at);
    const length = data.readUInt16BE(at + 2);
    const value = data.subarray(at + 4, Math.min(end, at + 4 + length));
    if (type === XOR_MAPPED_ADDRESS) return decodeAddress(value, true, transaction);
    if (type === MAPPED_ADDRESS) fallback = decodeAddress(value, false, transaction);
    at += 4 + Math.ceil(length / 4) * 4;
  }
  return fallback;
}

/**
 * A STUN Binding success response (RFC 8489 §3, §14.2) to `request`, carrying
 * `mapped` as XOR-MAPPED-ADDRESS: how a rendezvous peer answers
 * {@link QuicSocket.stun} on its own socket (send it back to `mapped`).
 * IPv4 only: throws for an IPv6 `mapped` address.
 *
 * {@includeCode ../../examples/p2p.mjs#rendezvous}
 */
export function bindingResponse(request: Buffer, mapped: Address): Buffer {
  const v6 = mapped.family === 'IPv6';
  const value = Buffer.alloc(v6 ? 20 : 8);
  value[1] = v6 ? 0x02 : 0x01;
  value.writeUInt16BE(mapped.port ^ (MAGIC_COOKIE >>> 16), 2);
  if (!v6) {
    const ip = mapped.address.split('.').reduce((acc, part) => (acc << 8) | Number(part), 0) >>> 0;
    value.writeUInt32BE((ip ^ MAGIC_COOKIE) >>> 0, 4);
  } else {
    throw new Error('IPv6 responses are not supported by this helper');
  }
  const packet = Buffer.alloc(HEADER_BYTES + 4 + value.length);
  packet.writeUInt16BE(BINDING_SUCCESS, 0);
  packet.writeUInt16BE(4 + value.length, 2);
  packet.writeUInt32BE(MAGIC_COOKIE, 4);
  request.copy(packet, 8, 8, 20);
  packet.writeUInt16BE(XOR_MAPPED_ADDRESS, HEADER_BYTES);
  packet.writeUInt16BE(value.length, HEADER_BYTES + 2);
  value.copy(packet, HEADER_BYTES + 4);
  return packet;
}

/** Whether a datagram (e.g. from a socket's `'message'` event) is a STUN Binding request (RFC 8489 §3: message type 0x0001, magic cookie 0x2112A442). */
export function isBindingRequest(data: Buffer): boolean {
  return isStun(data) && data.readUInt16BE(0) === BINDING_REQUEST;
}
