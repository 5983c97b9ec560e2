// The UDP gateway's datagram format (lib/gateway/udp-gateway-client.ts):
// exact bytes both ways, strict rejection of anything else, and IP address
// text parsed and written as Node and the WHATWG URL parser do.
import { isIP } from 'node:net';
import * as fc from 'fast-check';
import { decodeDatagram, encodeDatagram, formatIp, parseIp } from '../lib/gateway/udp-gateway-client';

const payload = Uint8Array.from([0xde, 0xad, 0xbe, 0xef]);

describe('encodeDatagram / decodeDatagram', () => {
  test('IPv4: byte 0 = 4, the 4 address bytes, the port big-endian, the payload', () => {
    const datagram = encodeDatagram('192.0.2.7', 0x2328, payload);
    expect([...datagram]).toEqual([4, 192, 0, 2, 7, 0x23, 0x28, 0xde, 0xad, 0xbe, 0xef]);
    expect(decodeDatagram(datagram)).toEqual({ family: 'IPv4', address: '192.0.2.7', port: 9000, data: payload });
  });

  test('IPv6: byte 0 = 6, the 16 address bytes, the port, the payload', () => {
    const datagram = encodeDatagram('2001:db8::1:0:0:1', 443, payload);
    expect([...datagram]).toEqual([6, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0x01, 0xbb, 0xde, 0xad, 0xbe, 0xef]);
    expect(decodeDatagram(datagram)).toEqual({ family: 'IPv6', address: '2001:db8::1:0:0:1', port: 443, data: payload });
  });

  test('an empty payload is a datagram too', () => {
    expect(decodeDatagram(encodeDatagram('::1', 1, new Uint8Array(0)))).toEqual({ family: 'IPv6', address: '::1', port: 1, data: new Uint8Array(0) });
  });

  test('IPv4-mapped IPv6 addresses are IPv4, when encoding and when decoding', () => {
    expect([...encodeDatagram('::ffff:10.1.2.3', 53, new Uint8Array(0))]).toEqual([4, 10, 1, 2, 3, 0, 53]);
    const mapped = Uint8Array.from([6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1, 0, 53, 9]);
    expect(decodeDatagram(mapped)).toEqual({ family: 'IPv4', address: '127.0.0.1', port: 53, data: Uint8Array.of(9) });
  });

  test.each([
    ['empty', []],
    ['family 0', [0, 1, 2, 3, 4, 0, 1]],
    ['family 5', [5, 1, 2, 3, 4, 0, 1]],
    ['family 41 (ASCII 4)', [0x34, 1, 2, 3, 4, 0, 1]],
    ['IPv4 address cut short', [4, 1, 2, 3]],
    ['IPv4 port cut short', [4, 1, 2, 3, 4, 0]],
    ['IPv6 address cut short', [6, ...new Array(15).fill(1)]],
    ['IPv6 port cut short', [6, ...new Array(16).fill(1), 0]],
    ['an IPv4 header given family 6', [6, 1, 2, 3, 4, 0, 1]],
    ['port 0', [4, 1, 2, 3, 4, 0, 0, 7]],
    ['unspecified 0.0.0.0', [4, 0, 0, 0, 0, 0, 53]],
    ['unspecified ::', [6, ...new Array(16).fill(0), 0, 53]],
    ['unspecified ::ffff:0.0.0.0', [6, ...new Array(10).fill(0), 0xff, 0xff, 0, 0, 0, 0, 0, 53]],
  ])('rejects %s', (_name, bytes) => {
    expect(decodeDatagram(Uint8Array.from(bytes))).toBeNull();
  });

  test('rejects a payload over 65507 bytes, takes one of 65507', () => {
    const header = [4, 1, 2, 3, 4, 0, 9];
    const big = new Uint8Array(header.length + 65508);
    big.set(header);
    expect(decodeDatagram(big)).toBeNull();
    expect(decodeDatagram(big.subarray(0, big.length - 1))?.data.byteLength).toBe(65507);
  });

  test.each([
    ['a host name', 'localhost', 53, 'ERR_INVALID_ARG_VALUE'],
    ['an address with a zone', 'fe80::1%eth0', 53, 'ERR_INVALID_ARG_VALUE'],
    ['a bracketed address', '[::1]', 53, 'ERR_INVALID_ARG_VALUE'],
    ['the unspecified address', '0.0.0.0', 53, 'ERR_INVALID_ARG_VALUE'],
    ['a non-string address', 7, 53, 'ERR_INVALID_ARG_TYPE'],
    ['port 0', '192.0.2.1', 0, 'ERR_OUT_OF_RANGE'],
    ['port 65536', '192.0.2.1', 65536, 'ERR_OUT_OF_RANGE'],
    ['a fractional port', '192.0.2.1', 1.5, 'ERR_OUT_OF_RANGE'],
    ['a string port', '192.0.2.1', '53', 'ERR_INVALID_ARG_TYPE'],
  ])('encode refuses %s', (_name, address, port, code) => {
    expect(() => encodeDatagram(address as string, port as number, payload)).toThrow(expect.objectContaining({ code }));
  });

  test('encode refuses data that is not a Uint8Array or longer than 65507 bytes', () => {
    expect(() => encodeDatagram('192.0.2.1', 1, 'text' as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => encodeDatagram('192.0.2.1', 1, new Uint8Array(65508))).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', name: 'RangeError' }));
  });

  test('any datagram decodes to null or to what encodes back to the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(4, 6, 5), (body, family) => {
        const datagram = Uint8Array.from([family, ...body]);
        const decoded = decodeDatagram(datagram);
        if (decoded === null) return;
        const again = encodeDatagram(decoded.address, decoded.port, decoded.data);
        const mapped = family === 6 && body.subarray(0, 12).every((b, i) => b === (i >= 10 ? 0xff : 0));
        // A mapped address comes back as IPv4; everything else byte for byte.
        if (!mapped) expect([...again]).toEqual([...datagram]);
        else expect(decodeDatagram(again)).toEqual(decoded);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseIp / formatIp', () => {
  test.each([
    ['0.0.0.0', [0, 0, 0, 0]],
    ['255.255.255.255', [255, 255, 255, 255]],
    ['::', new Array(16).fill(0)],
    ['::1', [...new Array(15).fill(0), 1]],
    ['1::', [0, 1, ...new Array(14).fill(0)]],
    ['1:2:3:4:5:6:7::', [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0]],
    ['::2:3:4:5:6:7:8', [0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]],
    ['::ffff:1.2.3.4', [1, 2, 3, 4]],
    ['::FFFF:102:304', [1, 2, 3, 4]],
    ['64:ff9b::192.0.2.33', [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 33]],
    ['ABCD:ef01:2345:6789:abcd:EF01:2345:6789', [0xab, 0xcd, 0xef, 1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 1, 0x23, 0x45, 0x67, 0x89]],
  ])('%s', (text, bytes) => {
    expect([...(parseIp(text) ?? [])]).toEqual(bytes);
  });

  test.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.256',
    '1.2.3.-1',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '0x1.2.3.4',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8',
    '12345::',
    ':1::',
    '1::2:',
    '1.2.3.4::',
    '::1.2.3.4:5',
    '::ffff:1.2.3',
    'fe80::1%eth0',
    '[::1]',
    'localhost',
  ])('rejects %j', (text) => {
    expect(parseIp(text)).toBeNull();
  });

  test('accepts exactly what node:net isIP accepts (without zone indexes)', () => {
    const groups = fc.oneof(fc.constantFrom('0', '1', 'ffff', 'FFFF', '00000', 'g', '', '255', '256', '01', '1.2.3.4', '::'), fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'.split('')), maxLength: 5 }));
    const candidate = fc.oneof(
      fc.array(groups, { maxLength: 10 }).map((parts) => parts.join(':')),
      fc.array(fc.constantFrom('0', '1', '9', '10', '255', '256', '01', '00', ''), { minLength: 3, maxLength: 5 }).map((parts) => parts.join('.')),
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.'.split('')), maxLength: 45 }),
    );
    fc.assert(
      fc.property(candidate, (text) => {
        expect({ text, valid: parseIp(text) !== null }).toEqual({ text, valid: isIP(text) !== 0 });
      }),
      { numRuns: 5000 },
    );
  });

  test('writes IPv6 as the WHATWG URL parser serialises hosts (RFC 5952 compression)', () => {
    const words = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });
    fc.assert(
      fc.property(words, (ws) => {
        const bytes = new Uint8Array(16);
        ws.forEach((w, i) => {
          bytes[2 * i] = w >> 8;
          bytes[2 * i + 1] = w & 0xff;
        });
        const text = formatIp(bytes);
        expect(text).toBe(new URL(`http://[${text}]/`).hostname.slice(1, -1));
        expect(new URL(`http://[${ws.map((w) => w.toString(16)).join(':')}]/`).hostname.slice(1, -1)).toBe(text);
        // And it reads back to the same bytes (IPv4-mapped ones read as IPv4).
        const back = parseIp(text)!;
        expect([...back]).toEqual(back.length === 4 ? [...bytes.subarray(12)] : [...bytes]);
      }),
      { numRuns: 3000 },
    );
  });
});
