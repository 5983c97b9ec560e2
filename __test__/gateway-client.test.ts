// The page's module (lib/gateway/udp-gateway-client.ts): UdpGatewayClient
// over a WebTransport-shaped pair of streams, and the standalone ES module
// build that the package exports as `nquic/udp-gateway-client`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ReadableStream, WritableStream } from 'node:stream/web';
import type { ReadableStreamDefaultController } from 'node:stream/web';
import { encodeDatagram, UdpGatewayClient, UdpMessageEvent } from '../lib/gateway/udp-gateway-client';
import type { WebTransportLike } from '../lib/gateway/udp-gateway-client';

const ROOT = path.resolve(__dirname, '..');

/** A WebTransport's datagrams as the client sees them: `push` feeds the readable, `written` collects the writable. */
function fakeTransport(maxDatagramSize?: number): { transport: WebTransportLike; push(d: Uint8Array): void; end(): void; written: Uint8Array[] } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  const written: Uint8Array[] = [];
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      written.push(chunk);
    },
  });
  const datagrams = { readable, writable, maxDatagramSize } as unknown as WebTransportLike['datagrams'];
  return { transport: { datagrams }, push: (d) => controller.enqueue(d), end: () => controller.close(), written };
}

function nextMessage(client: UdpGatewayClient): Promise<UdpMessageEvent> {
  return new Promise((resolve) => client.addEventListener('message', (e) => resolve(e as UdpMessageEvent), { once: true }));
}

describe('UdpGatewayClient', () => {
  test('send() writes one datagram in the format', async () => {
    const fake = fakeTransport();
    const client = new UdpGatewayClient(fake.transport);
    await client.send('192.0.2.1', 53, Uint8Array.of(1, 2, 3));
    await client.send('2001:db8::5', 443, Uint8Array.of());
    expect(fake.written.map((d) => [...d])).toEqual([
      [4, 192, 0, 2, 1, 0, 53, 1, 2, 3],
      [6, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1, 0xbb],
    ]);
  });

  test('send() throws synchronously for bad arguments', () => {
    const client = new UdpGatewayClient(fakeTransport().transport);
    expect(() => client.send('example.com', 53, Uint8Array.of())).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => client.send('192.0.2.1', 0, Uint8Array.of())).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  test("datagrams from the gateway are 'message' events (and onmessage calls) with the source; malformed ones are counted", async () => {
    const fake = fakeTransport();
    const client = new UdpGatewayClient(fake.transport);
    const seen: UdpMessageEvent[] = [];
    client.onmessage = (e) => seen.push(e);
    const first = nextMessage(client);
    fake.push(Uint8Array.of(9, 9, 9));
    fake.push(encodeDatagram('203.0.113.9', 9000, Uint8Array.of(7, 7)));
    const event = await first;
    expect(event).toBeInstanceOf(UdpMessageEvent);
    expect({ type: event.type, address: event.address, port: event.port, family: event.family, data: [...event.data] }).toEqual({
      type: 'message',
      address: '203.0.113.9',
      port: 9000,
      family: 'IPv4',
      data: [7, 7],
    });
    expect(seen).toEqual([event]);
    expect(client.malformed).toBe(1);
  });

  test('maxPayloadSize() is the datagram limit minus the header', () => {
    expect(new UdpGatewayClient(fakeTransport(1200).transport).maxPayloadSize()).toBe(1193);
    expect(new UdpGatewayClient(fakeTransport(1200).transport).maxPayloadSize('IPv6')).toBe(1181);
    expect(new UdpGatewayClient(fakeTransport().transport).maxPayloadSize()).toBeUndefined();
  });

  test('a send after the transport closed rejects, and an ignored rejection is not unhandled', async () => {
    const fake = fakeTransport();
    await fake.transport.datagrams.writable.abort(new Error('closed'));
    const client = new UdpGatewayClient({ datagrams: { readable: fakeTransport().transport.datagrams.readable, writable: fake.transport.datagrams.writable } });
    await expect(client.send('192.0.2.1', 1, Uint8Array.of())).rejects.toThrow('closed');
    void client.send('192.0.2.1', 1, Uint8Array.of());
  });
});

describe('nquic/udp-gateway-client, the ES module for pages', () => {
  test('is an exported, dependency-free ES module with the same codec', () => {
    const file = path.join(ROOT, 'dist', 'browser', 'udp-gateway-client.js');
    const source = fs.readFileSync(file, 'utf8');
    expect(source).not.toMatch(/\brequire\(|^import /m);
    const script = `
      import { UdpGatewayClient, encodeDatagram, decodeDatagram } from 'nquic/udp-gateway-client';
      const d = decodeDatagram(encodeDatagram('::ffff:10.0.0.1', 7, new Uint8Array([1])));
      console.log(JSON.stringify({ client: typeof UdpGatewayClient, address: d.address, port: d.port }));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ client: 'function', address: '10.0.0.1', port: 7 });
  });

  test('package.json exports it and ships it', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.exports['./udp-gateway-client']).toEqual({ types: './dist/browser/udp-gateway-client.d.ts', default: './dist/browser/udp-gateway-client.js' });
    expect(pkg.files).toEqual(expect.arrayContaining(['dist/**/*.js', 'dist/**/*.d.ts', 'dist/browser/package.json']));
  });
});
