// The UDP gateway's datagram format and the page's side of it. This file has
// no imports and uses no Node API: it is compiled twice, into the CommonJS
// build (the gateway encodes and decodes with it) and, by
// tsconfig.browser.json, into the standalone ES module that pages import as
// `nquic/udp-gateway-client` (dist/browser/udp-gateway-client.js).
//
// Format (both directions), one WebTransport datagram each:
//   byte 0         4 or 6 (the address family)
//   bytes 1..      the IPv4 (4 bytes) or IPv6 (16 bytes) address
//   next 2 bytes   the UDP port, big-endian
//   the rest       the UDP payload
// Page → gateway: the destination. Gateway → page: the source.

/** An address family of the format: its first byte. */
export type UdpGatewayFamily = 4 | 6;

/** One decoded datagram of the format. */
export interface UdpGatewayDatagram {
  /** `'IPv4'` or `'IPv6'`; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) decodes as the IPv4 address. */
  family: 'IPv4' | 'IPv6';
  /** The address as text: dotted IPv4, or IPv6 in RFC 5952 form (lower case, longest zero run as `::`). */
  address: string;
  /** UDP port, 1-65535. */
  port: number;
  /** The UDP payload (a view into the datagram, not a copy). */
  data: Uint8Array;
}

/** Header bytes before the payload: family byte + address + 2-byte port. */
export const HEADER_SIZE = { IPv4: 1 + 4 + 2, IPv6: 1 + 16 + 2 } as const;
/** The largest UDP payload (65535 minus the 8-byte UDP and 20-byte IPv4 headers). */
export const MAX_UDP_PAYLOAD = 65507;

function argError(message: string, code: string, Kind: typeof TypeError | typeof RangeError = TypeError): Error {
  return Object.assign(new Kind(message), { code });
}

const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIPv4Into(text: string, out: Uint8Array, at: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    if (!DECIMAL_OCTET.test(parts[i])) return false;
    const value = Number(parts[i]);
    if (value > 255) return false;
    out[at + i] = value;
  }
  return true;
}

/** The 16-bit groups of one side of `::` (the dotted IPv4 tail as two groups), or null. */
function ipv6Groups(text: string, v4TailAllowed: boolean): number[] | null {
  if (text === '') return [];
  const parts = text.split(':');
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (v4TailAllowed && i === parts.length - 1 && part.includes('.')) {
      const v4 = new Uint8Array(4);
      if (!parseIPv4Into(part, v4, 0)) return null;
      groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else {
      if (!HEX_GROUP.test(part)) return null;
      groups.push(parseInt(part, 16));
    }
  }
  return groups;
}

function parseIPv6(text: string): Uint8Array | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = ipv6Groups(halves[0], halves.length === 1);
  const tail = halves.length === 2 ? ipv6Groups(halves[1], true) : [];
  if (head === null || tail === null) return null;
  const count = head.length + tail.length;
  // Without `::` all 8 groups are written; `::` stands for at least one.
  if (halves.length === 1 ? count !== 8 : count > 7) return null;
  const groups = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

function isMapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * An IP address as bytes: 4 for IPv4 (dotted decimal, no leading zeros), 16
 * for IPv6 (RFC 4291 §2.2 text forms, no zone index); an IPv4-mapped IPv6
 * address gives its 4 IPv4 bytes. Null for anything else (host names too).
 */
export function parseIp(text: string): Uint8Array | null {
  if (typeof text !== 'string' || text.length > 45) return null;
  if (!text.includes(':')) {
    const bytes = new Uint8Array(4);
    return parseIPv4Into(text, bytes, 0) ? bytes : null;
  }
  const bytes = parseIPv6(text);
  if (bytes === null) return null;
  return isMapped(bytes) ? bytes.slice(12) : bytes;
}

/** 4 or 16 address bytes as text: dotted IPv4, or IPv6 as RFC 5952 §4 writes it (hex groups only). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // The first longest run of two or more zero groups becomes `::`.
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLength) {
      bestAt = i;
      bestLength = end - i;
    }
    i = end;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestAt === -1) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLength, 8)}`;
}

/**
 * The header of a datagram to or from `address` (4 or 16 bytes, as from
 * {@link parseIp}) and `port`: family byte, address, port big-endian.
 */
export function encodeHeader(address: Uint8Array, port: number): Uint8Array {
  const header = new Uint8Array(1 + address.length + 2);
  header[0] = address.length === 4 ? 4 : 6;
  header.set(address, 1);
  header[1 + address.length] = port >> 8;
  header[2 + address.length] = port & 0xff;
  return header;
}

/**
 * One datagram of the format: `data` for `address:port`. Throws a
 * `TypeError` (`code` `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE`) when
 * `address` is not an IP address or is unspecified (`0.0.0.0`, `::`), a `RangeError` (`ERR_OUT_OF_RANGE`) when
 * `port` is not 1-65535 or `data` is longer than 65507 bytes.
 */
export function encodeDatagram(address: string, port: number, data: Uint8Array): Uint8Array {
  if (typeof address !== 'string') throw argError('The "address" argument must be of type string', 'ERR_INVALID_ARG_TYPE');
  const bytes = parseIp(address);
  if (bytes === null || bytes.every((b) => b === 0)) {
    throw argError(`The "address" argument must be a specified IPv4 or IPv6 address. Received '${address.slice(0, 50)}'`, 'ERR_INVALID_ARG_VALUE');
  }
  if (typeof port !== 'number') throw argError('The "port" argument must be of type number', 'ERR_INVALID_ARG_TYPE');
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw argError(`The value of "port" is out of range. It must be an integer >= 1 and <= 65535. Received ${port}`, 'ERR_OUT_OF_RANGE', RangeError);
  }
  if (!(data instanceof Uint8Array)) throw argError('The "data" argument must be an instance of Uint8Array', 'ERR_INVALID_ARG_TYPE');
  if (data.byteLength > MAX_UDP_PAYLOAD) {
    throw argError(`The value of "data.byteLength" is out of range. It must be <= ${MAX_UDP_PAYLOAD}. Received ${data.byteLength}`, 'ERR_OUT_OF_RANGE', RangeError);
  }
  const header = encodeHeader(bytes, port);
  const datagram = new Uint8Array(header.length + data.byteLength);
  datagram.set(header);
  datagram.set(data, header.length);
  return datagram;
}

/**
 * Reads one datagram of the format, strictly: null unless byte 0 is 4 or 6,
 * the address and port are complete, the port is not 0, the address is not
 * unspecified (`0.0.0.0`, `::`), and the payload is at most 65507 bytes. An
 * IPv4-mapped IPv6 address reads as IPv4.
 */
export function decodeDatagram(datagram: Uint8Array): UdpGatewayDatagram | null {
  const family = datagram[0];
  const size = family === 4 ? 4 : family === 6 ? 16 : 0;
  if (size === 0 || datagram.byteLength < 1 + size + 2) return null;
  const port = (datagram[1 + size] << 8) | datagram[2 + size];
  if (port === 0 || datagram.byteLength - (3 + size) > MAX_UDP_PAYLOAD) return null;
  let address = datagram.subarray(1, 1 + size);
  if (size === 16 && isMapped(address)) address = address.subarray(12);
  if (address.every((b) => b === 0)) return null;
  return {
    family: address.length === 4 ? 'IPv4' : 'IPv6',
    address: formatIp(address),
    port,
    data: datagram.subarray(3 + size),
  };
}

/**
 * The W3C `WebTransport` members {@link UdpGatewayClient} uses: a browser's
 * `WebTransport` and nquic's own both fit.
 */
export interface WebTransportLike {
  /** The session's datagrams (W3C `WebTransportDatagramDuplexStream`). */
  readonly datagrams: {
    readonly readable: ReadableStream<Uint8Array>;
    readonly writable: WritableStream<Uint8Array>;
    /** The largest datagram the session can send now, bytes (absent in some browsers). */
    readonly maxDatagramSize?: number;
  };
}

/** The `'message'` event of {@link UdpGatewayClient}: one UDP datagram that reached the gateway's socket for this page. */
export class UdpMessageEvent extends Event {
  /** The UDP payload. */
  readonly data: Uint8Array;
  /** The sender's address (an address the page sent to). */
  readonly address: string;
  /** The sender's UDP port. */
  readonly port: number;
  /** `'IPv4'` or `'IPv6'`. */
  readonly family: 'IPv4' | 'IPv6';

  /** Made by {@link UdpGatewayClient} for each datagram it decodes. */
  constructor(datagram: UdpGatewayDatagram) {
    super('message');
    this.data = datagram.data;
    this.address = datagram.address;
    this.port = datagram.port;
    this.family = datagram.family;
  }
}

/**
 * A page's UDP socket through an nquic UDP gateway (`nquic gateway`,
 * `createUdpGateway`), over a WebTransport session to the gateway's path.
 * `send()` sends a UDP datagram from the gateway's UDP socket for this
 * session; datagrams that come back to that socket (only from addresses the
 * page has sent to) arrive as `'message'` events ({@link UdpMessageEvent}).
 * UDP rules apply: datagrams may be lost, duplicated or reordered, and the
 * gateway drops what its policy or rate limits refuse, without telling.
 *
 * ```js
 * import { UdpGatewayClient } from 'nquic/udp-gateway-client';
 * const wt = new WebTransport('https://gateway.example:4433/udp', {
 *   serverCertificateHashes: [{ algorithm: 'sha-256', value: hashBytes }],
 * });
 * await wt.ready;
 * const udp = new UdpGatewayClient(wt);
 * udp.addEventListener('message', (e) => console.log(e.address, e.port, e.data));
 * await udp.send('192.0.2.7', 9000, new TextEncoder().encode('hello'));
 * ```
 */
export class UdpGatewayClient extends EventTarget {
  /** Called with each {@link UdpMessageEvent}, like `addEventListener('message', …)`. */
  onmessage: ((event: UdpMessageEvent) => void) | null = null;
  /** Datagrams from the gateway that were not in the format (ignored; a correct gateway sends none). */
  malformed = 0;
  readonly #transport: WebTransportLike;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;

  /**
   * Takes over `transport`'s datagrams (it locks their readable and
   * writable); the transport may still be used for streams, and closing it
   * ends this client.
   */
  constructor(transport: WebTransportLike) {
    super();
    this.#transport = transport;
    this.#writer = transport.datagrams.writable.getWriter();
    void this.#read(transport.datagrams.readable.getReader());
  }

  /**
   * The largest payload `send()` can carry to an IPv4 / IPv6 address, bytes:
   * the session's `maxDatagramSize` minus the 7- or 19-byte header
   * (undefined when the transport does not tell). Larger ones are dropped.
   */
  maxPayloadSize(family: 'IPv4' | 'IPv6' = 'IPv4'): number | undefined {
    const max = this.#transport.datagrams.maxDatagramSize;
    return max === undefined ? undefined : Math.max(0, max - HEADER_SIZE[family]);
  }

  /**
   * Sends `data` to `address:port` (an IPv4 or IPv6 address; no host names)
   * through the gateway. Throws synchronously for bad arguments (see
   * {@link encodeDatagram}). The promise is the datagram writer's: it
   * settles when the datagram was handed on, not when it arrived, and
   * rejects once the transport is closed (a rejection nobody awaits is not
   * reported as unhandled).
   */
  send(address: string, port: number, data: Uint8Array): Promise<void> {
    const written = this.#writer.write(encodeDatagram(address, port, data));
    written.catch(() => {});
    return written;
  }

  async #read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    for (;;) {
      let chunk: { done: boolean; value?: Uint8Array };
      try {
        chunk = await reader.read();
      } catch {
        return; // the transport closed abruptly
      }
      if (chunk.done || chunk.value === undefined) return;
      const datagram = decodeDatagram(chunk.value);
      if (datagram === null) {
        this.malformed++;
        continue;
      }
      const event = new UdpMessageEvent(datagram);
      this.dispatchEvent(event);
      this.onmessage?.(event);
    }
  }
}
