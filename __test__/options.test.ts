// Every numeric option is checked against what can work (issue #14, kind 5):
// a value that could never work throws synchronously, RangeError
// ERR_OUT_OF_RANGE (or TypeError ERR_INVALID_ARG_TYPE for a non-number),
// naming the dotted option path; the smallest values that can work do.
import { connect, generateCertificate, listen, QuicSocket } from '../lib';
import { ALPN, MiB, certFor, connectTo, nextEvent, pair, readAll, startServer, trackServer, withTimeout, type QuicStream } from './helpers';

const creds = certFor();
const client = (over: Record<string, unknown>) => () => connect({ host: '127.0.0.1', port: 4433, alpn: [ALPN], ca: creds.cert, ...over } as never);
const server = (over: Record<string, unknown>) => () => listen({ address: '127.0.0.1', port: 0, alpn: [ALPN], key: creds.key, cert: creds.cert, ...over } as never);

/** What `fn` threw synchronously (a returned promise fails the test). */
function thrown(fn: () => unknown): { code?: string; message: string; name: string } {
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    return err as { code?: string; message: string; name: string };
  }
  void Promise.resolve(result).then((x) => (x as { close?: () => unknown } | undefined)?.close?.(), () => undefined);
  throw new Error('expected a synchronous throw');
}

// [dotted path, option object, out-of-range values, smallest value that works]
type Row = [string, (v: unknown) => Record<string, unknown>, unknown[], number];
const common: Row[] = [
  ['idleTimeout', (v) => ({ idleTimeout: v }), [-1, 2 ** 32, 1.5], 0],
  ['keepAlive', (v) => ({ keepAlive: v }), [-1, 2 ** 32, 0.5], 0],
  ['timeout', (v) => ({ timeout: v }), [0, -5, 2 ** 32], 1],
  ['maxStreamsBidi', (v) => ({ maxStreamsBidi: v }), [-1, 2 ** 53, 2.5], 0],
  ['maxStreamsUni', (v) => ({ maxStreamsUni: v }), [-1, 2 ** 53], 0],
  ['streamWindow', (v) => ({ streamWindow: v }), [0, 1, -1, 2 ** 53, 3.5], 2],
  ['connectionWindow', (v) => ({ connectionWindow: v }), [0, 1, 2 ** 53], 2],
  ['datagramQueueLength', (v) => ({ datagramQueueLength: v }), [0, 2 ** 20 + 1], 1],
];
const serverOnly: Row[] = [
  ['handshakeRateLimit', (v) => ({ handshakeRateLimit: v }), [-1, 1_000_001], 0],
  ['maxConnections', (v) => ({ maxConnections: v }), [0, 2 ** 32], 1],
  ['relay.maxFlows', (v) => ({ relay: { maxFlows: v } }), [0, 1_000_001], 1],
  ['relay.maxFlowRate', (v) => ({ relay: { maxFlowRate: v } }), [-1, 1, 1260, 2 ** 53], 0],
  ['port', (v) => ({ port: v }), [-1, 65536], 0],
];

describe('numeric options that can never work are refused synchronously, naming the option', () => {
  test.each([...common.map((r) => ['connect', ...r] as const), ...common.map((r) => ['listen', ...r] as const), ...serverOnly.map((r) => ['listen', ...r] as const)])(
    '%s: options.%s',
    (entry, path, make, bad) => {
      const call = entry === 'connect' ? client : server;
      for (const value of bad) {
        const err = thrown(call(make(value)));
        expect({ value, code: err.code, name: err.name }).toEqual({ value, code: 'ERR_OUT_OF_RANGE', name: 'RangeError' });
        expect(err.message).toContain(`"options.${path}"`);
      }
      const err = thrown(call(make('7')));
      expect({ code: err.code, name: err.name }).toEqual({ code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' });
      expect(err.message).toContain(`"options.${path}"`);
    },
  );

  test('connect({ port: 0 }) is refused: nothing can be reached at port 0 (listen and bind take 0 as "any")', () => {
    expect(thrown(client({ port: 0 }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('"options.port"') });
  });

  test('socket methods: send/punch/stun ports and punch/stun options', async () => {
    const socket = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'socket');
    const cases: Array<[() => unknown, string]> = [
      [() => socket.send(Buffer.from([1]), 0, '127.0.0.1'), '"port"'],
      [() => socket.punch(0, '127.0.0.1'), '"port"'],
      [() => socket.stun(0, '127.0.0.1'), '"port"'],
      [() => socket.punch(9, '127.0.0.1', { count: 0 }), '"options.count"'],
      [() => socket.punch(9, '127.0.0.1', { count: 1001 }), '"options.count"'],
      [() => socket.punch(9, '127.0.0.1', { interval: -1 }), '"options.interval"'],
      [() => socket.punch(9, '127.0.0.1', { ttl: 0 }), '"options.ttl"'],
      [() => socket.punch(9, '127.0.0.1', { ttl: 256 }), '"options.ttl"'],
      [() => socket.stun(9, '127.0.0.1', { timeout: 0 }), '"options.timeout"'],
    ];
    for (const [call, path] of cases) expect(thrown(call)).toMatchObject({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining(path) });
  });

  test('close codes, stream codes, priorities and certificate lifetimes', async () => {
    const p = await pair();
    const s = await p.client.openStream();
    const cases: Array<[() => unknown, string, string]> = [
      [() => p.client.close({ code: -1 }), '"options.code"', 'ERR_OUT_OF_RANGE'],
      [() => p.client.close({ code: 2 ** 53 }), '"options.code"', 'ERR_OUT_OF_RANGE'],
      [() => p.client.close({ reason: 'x'.repeat(1001) }), '"options.reason"', 'ERR_INVALID_ARG_VALUE'],
      [() => s.reset(-1), '"code"', 'ERR_OUT_OF_RANGE'],
      [() => s.stopSending(2 ** 53), '"code"', 'ERR_OUT_OF_RANGE'],
      [() => s.setPriority({ urgency: 8 }), '"options.urgency"', 'ERR_OUT_OF_RANGE'],
      [() => generateCertificate({ days: 0 }), '"options.days"', 'ERR_OUT_OF_RANGE'],
    ];
    for (const [call, path, code] of cases) expect(thrown(call)).toMatchObject({ code, message: expect.stringContaining(path) });
  });
});

describe('the smallest values that work do', () => {
  test.each([
    ['streamWindow', { streamWindow: 2 }],
    ['connectionWindow', { connectionWindow: 2 }],
  ])('%s: 2 bytes (the smallest window quiche ever grows) carry 1 MiB both ways', async (_name, opts) => {
    const p = await pair({ server: opts, client: opts });
    p.serverConn.on('stream', (s: QuicStream) => s.pipe(s));
    const s = await p.client.openStream();
    const payload = Buffer.alloc(1 * MiB, 9);
    const back = readAll(s, 2 * MiB);
    s.end(payload);
    expect((await withTimeout(back, 10000, 'echo through 2-byte windows')).equals(payload)).toBe(true);
  });

  test('a writer whose peer grants less than a packet of credit at a time is still woken (peer streamWindow 500)', async () => {
    const server = await startServer(creds, { streamWindow: 500, connectionWindow: 700 });
    const seen = nextEvent<QuicStream>(server, 'connection', 3000).then((c) => nextEvent<QuicStream>(c as never, 'stream', 3000));
    const conn = await connectTo(server, creds.cert);
    const s = await conn.openStream({ unidirectional: true });
    const payload = Buffer.alloc(300 * 1024, 4);
    s.end(payload);
    const got = await withTimeout(readAll(await seen, MiB), 10000, 'reading through a 500-byte window');
    expect(got.equals(payload)).toBe(true);
  });

  test('maxStreamsBidi: 0 refuses every peer stream: openStream() waits, and rejects when the connection closes', async () => {
    const p = await pair({ server: { maxStreamsBidi: 0 } });
    const opening = p.client.openStream();
    const outcome = Promise.race([opening.then(() => 'opened', (e: { code?: string }) => e.code), new Promise((r) => setTimeout(() => r('waiting'), 200))]);
    expect(await outcome).toBe('waiting');
    await p.client.close();
    await expect(opening).rejects.toMatchObject({ code: 'ERR_QUIC_CONNECTION_CLOSED' });
  });
});
