// The per-packet native calls (src/fast_calls.rs, lib/fast-calls.ts) are raw
// Node-API functions: they check their own arguments. Bad input is a coded
// error, never a crash, and the functions keep their endpoint alive.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { native } from '../lib';
import dgram from 'node:dgram';
import { fastCalls, RECV_QUEUED } from '../lib/fast-calls';
import { descriptorOf, readsOf } from '../lib/io/descriptor';
import { fromNative } from '../lib/errors';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (fromNative(err) as Error & { code?: string }).code;
  }
  return undefined;
}

function endpoint() {
  return new native.NativeEndpoint('127.0.0.1', 4433);
}

describe('fast calls', () => {
  test('each one checks its arguments: wrong types, missing arguments and out-of-range numbers are coded errors', () => {
    const fast = fastCalls(endpoint());
    const buf = Buffer.alloc(64);
    const meta = new Uint32Array(9 * 8);
    const records = new Float64Array(7);
    const loose = fast as unknown as Record<string, (...args: unknown[]) => number>;
    expect(codeOf(() => loose.recv(123, '127.0.0.1', 1, -1))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => loose.recv(buf, 5, 1, -1))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => loose.recv(buf, 'x'.repeat(200), 1, -1))).toBe('ERR_INVALID_ARG_VALUE');
    expect(codeOf(() => loose.recv(buf, 'not an ip', 1, -1))).toBe('ERR_INVALID_ARG_VALUE');
    expect(codeOf(() => loose.recv(buf, '127.0.0.1', 70000, -1))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => loose.recv(buf, '127.0.0.1', 1, 'fd'))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => loose.recv(buf, '127.0.0.1', 1, 2.5))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => loose.recv(buf, '127.0.0.1', 1))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => loose.recv(buf))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => loose.pollEvents(buf, new Uint32Array(7)))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => loose.pollEvents(buf, new Float64Array(0)))).toBe('ERR_INVALID_ARG_VALUE');
    expect(codeOf(() => loose.flush(buf, new Float64Array(72), -1, 0))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => loose.flush(buf, meta, 1.5, 0))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => loose.flush(buf, meta, -1, -1))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => loose.flush(buf, new Uint32Array(3), -1, 0))).toBe('ERR_INVALID_ARG_VALUE');
    expect(codeOf(() => loose.openStream('1', true))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => loose.openStream(1, 'yes'))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => loose.streamWrite(1, -4, buf, false))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => loose.sendDatagram(1, 'text'))).toBe('ERR_INVALID_ARG_TYPE');
    // Well-formed calls on an endpoint without connections.
    expect(fast.pollEvents(buf, records)).toBe(0);
    expect(fast.flush(buf, meta, -1, 0)).toBe(0);
    expect(codeOf(() => fast.openStream(99, true))).toMatch(/^ERR_/);
  });

  test('a datagram that is not QUIC is dropped (outcome 3), in a Buffer or a plain Uint8Array', () => {
    const fast = fastCalls(endpoint());
    expect(fast.recv(Buffer.from([0x40, 1, 2, 3]), '127.0.0.1', 5000, -1)).toBe(3);
    expect(fast.recv(new Uint8Array([0xc0, 0, 0, 0, 1]) as Buffer, '::1', 5000, -1)).toBe(3);
    expect(fast.recv(Buffer.alloc(0), '127.0.0.1', 5000, -1)).toBe(3);
  });

  (process.platform === 'linux' ? test : test.skip)('given the socket descriptor, recv says whether more datagrams wait on it (RECV_QUEUED)', async () => {
    const fast = fastCalls(endpoint());
    const rx = dgram.createSocket('udp4');
    const tx = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => rx.bind(0, '127.0.0.1', resolve));
      // libuv stops reading, so what arrives stays queued in the kernel.
      const reads = readsOf(rx);
      expect(reads?.stop()).toBe(true);
      const fd = descriptorOf(rx);
      expect(fd).toBeGreaterThanOrEqual(0);
      const garbage = Buffer.from([0x40, 1, 2, 3]);
      expect(fast.recv(garbage, '127.0.0.1', 5000, fd)).toBe(3);
      await new Promise<void>((resolve, reject) => tx.send(Buffer.from('queued'), rx.address().port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
      // Loopback delivery is done once the send completes.
      expect(fast.recv(garbage, '127.0.0.1', 5000, fd)).toBe(3 | RECV_QUEUED);
      // Without a descriptor nothing is asked.
      expect(fast.recv(garbage, '127.0.0.1', 5000, -1)).toBe(3);
      // Read again, the queued datagram arrives as a 'message' and the queue is empty.
      const got = new Promise<Buffer>((resolve) => rx.once('message', resolve));
      reads?.start();
      expect((await got).toString()).toBe('queued');
      expect(fast.recv(garbage, '127.0.0.1', 5000, fd)).toBe(3);
    } finally {
      rx.close();
      tx.close();
    }
  });

  test('the functions keep their endpoint alive after the endpoint object is collected', () => {
    const root = path.resolve(__dirname, '..');
    // The endpoint object is collected first (the registry says so), then
    // the functions are still called: they own a reference to its state.
    const script = `
      const { native } = require(${JSON.stringify(path.join(root, 'dist'))});
      let collected = false;
      const registry = new FinalizationRegistry(() => { collected = true; });
      let fast = (() => { const e = new native.NativeEndpoint('127.0.0.1', 4433); registry.register(e, 1); return e.fastCalls(); })();
      (async () => {
        for (let i = 0; i < 20 && !collected; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
        const rows = fast.pollEvents(Buffer.alloc(64), new Float64Array(7));
        const packets = fast.flush(Buffer.alloc(64), new Uint32Array(72), -1, 0);
        fast = null;
        for (let i = 0; i < 5; i++) globalThis.gc();
        console.log(JSON.stringify({ collected, rows, packets }));
      })();
    `;
    const run = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ collected: true, rows: 0, packets: 0 });
  });
});
