// Stream credit: openStream() waits (FIFO) for the peer's MAX_STREAMS instead
// of failing, and waiting callers are released with an error when the
// connection goes away.
import { randomBytes } from 'node:crypto';
import { QuicError } from '../lib';
import { QuicStream, pair, readAll, rejectionOf, sha256Hex, sleep, within, withTimeout } from './helpers';

const flushMicrotasks = async (n = 20): Promise<void> => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe('stream credit', () => {
  test('1000 concurrent 10 KiB echoes over one connection limited to 50 peer streams', async () => {
    const LIMIT = 50;
    const COUNT = 1000;
    const SIZE = 10 * 1024;
    const { client, serverConn } = await pair({ server: { maxStreamsBidi: LIMIT } });

    // Server: echo, and measure how many of the client's streams it holds at once.
    let live = 0;
    let peak = 0;
    let seen = 0;
    const serverErrors: unknown[] = [];
    serverConn.on('stream', (s: QuicStream) => {
      seen++;
      live++;
      peak = Math.max(peak, live);
      s.once('close', () => live--);
      s.on('error', (err) => serverErrors.push(err));
      s.pipe(s);
    });

    const payloads = Array.from({ length: COUNT }, () => randomBytes(SIZE));
    const resolvedOrder: number[] = [];
    const opens = payloads.map((_, i) =>
      client.openStream().then((s) => {
        resolvedOrder.push(i);
        return s;
      }),
    );

    // Only the initial credit can be granted before any packet is exchanged.
    await flushMicrotasks();
    expect(resolvedOrder.length).toBe(LIMIT);

    const started = Date.now();
    let echoed = 0;
    const unfinished = new Map<number, QuicStream>();
    const echoes = opens.map(async (open, i) => {
      const s = await open;
      unfinished.set(i, s);
      const received = readAll(s, 2 * SIZE);
      s.end(payloads[i]);
      const data = await received;
      unfinished.delete(i);
      echoed++;
      return data;
    });
    const results = await withTimeout(Promise.all(echoes), 15000, '1000 echoes').catch((err: Error) => {
      const stuck = [...unfinished.values()].slice(0, 5).map((s) => ({
        id: s.id,
        writableFinished: s.writableFinished,
        readableEnded: s.readableEnded,
        readableLength: s.readableLength,
        destroyed: s.destroyed,
      }));
      throw new Error(
        `${err.message}; opened ${resolvedOrder.length}/${COUNT}, echoed ${echoed}, server saw ${seen} ` +
          `(live ${live}), client streamCounts ${JSON.stringify(client.streamCounts())}, server streamCounts ` +
          `${JSON.stringify(serverConn.streamCounts())}, stuck: ${JSON.stringify(stuck)}`,
      );
    });
    const elapsed = Date.now() - started;

    // FIFO: callers are served in call order, and ids are handed out in that order.
    expect(resolvedOrder).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    const streams = await Promise.all(opens);
    expect(streams.map((s) => s.id)).toEqual(Array.from({ length: COUNT }, (_, i) => 4 * i));

    let mismatches = 0;
    results.forEach((echo, i) => {
      if (!echo.equals(payloads[i])) mismatches++;
    });
    expect(mismatches).toBe(0);
    expect(sha256Hex(Buffer.concat(results))).toBe(sha256Hex(Buffer.concat(payloads)));

    expect(seen).toBe(COUNT);
    expect(serverErrors).toEqual([]);
    // The server never had more than its limit of client streams at once.
    // (How many it held at its peak depends on scheduling: concurrency itself
    // is shown by the 50 opens that resolve before any packet is exchanged.)
    expect(peak).toBeLessThanOrEqual(LIMIT);
    expect(peak).toBeGreaterThanOrEqual(1);
    // eslint-disable-next-line no-console
    console.log(`stream-credit: ${COUNT} echoes with limit ${LIMIT} took ${elapsed} ms, server peak ${peak}`);
  }, 45000);

  test('openStream() calls waiting for credit reject when the client closes the connection', async () => {
    const { client, serverConn } = await pair({ server: { maxStreamsBidi: 1 } });
    serverConn.on('stream', (s: QuicStream) => s.on('error', () => {}));

    const first = await withTimeout(client.openStream(), 2000, 'first openStream()');
    first.on('error', () => {});
    first.write('keeps the only stream credit busy');

    const second = client.openStream();
    const third = client.openStream();
    const settled: string[] = [];
    second.then(() => settled.push('second resolved'), () => settled.push('second rejected'));
    third.then(() => settled.push('third resolved'), () => settled.push('third rejected'));

    // They really wait: there is no credit while the first stream is open.
    await sleep(300);
    expect(settled).toEqual([]);

    const closing = client.close();
    const errs = await Promise.all([
      rejectionOf(second, 3000, 'second openStream() after close()'),
      rejectionOf(third, 3000, 'third openStream() after close()'),
    ]);
    const info = await withTimeout(closing, 3000, 'client.close()');
    const allowed = ['ERR_QUIC_CONNECTION_CLOSED', info.error?.code].filter(Boolean);
    for (const err of errs) {
      expect(err).toBeInstanceOf(QuicError);
      expect(allowed).toContain((err as QuicError).code);
    }
    // Waiters are rejected in FIFO order too.
    expect(settled).toEqual(['second rejected', 'third rejected']);

    // And new calls fail at once.
    const late = await rejectionOf(client.openStream(), 1000, 'openStream() on a closed connection');
    expect(late).toMatchObject({ code: 'ERR_QUIC_CONNECTION_CLOSED' });
    expect(client.streamCounts()).toEqual({ js: 0, native: 0 });
  });

  test('openStream() calls waiting for credit reject when the peer closes the connection', async () => {
    const { client, serverConn } = await pair({ server: { maxStreamsBidi: 1 } });
    const serverSaw = new Promise<void>((resolve) => {
      serverConn.on('stream', (s: QuicStream) => {
        s.on('error', () => {});
        resolve();
      });
    });

    const first = await withTimeout(client.openStream(), 2000, 'first openStream()');
    first.on('error', () => {});
    first.write('hold');
    await withTimeout(serverSaw, 2000, 'server seeing the first stream');

    const waiting = [client.openStream(), client.openStream({ unidirectional: false })];
    expect(await within(Promise.race(waiting), 300)).toBeUndefined();

    void serverConn.close({ code: 42, reason: 'bye' });
    const errs = await Promise.all(waiting.map((p, i) => rejectionOf(p, 3000, `waiting openStream() #${i}`)));
    const info = await withTimeout(client.closed, 3000, 'client.closed');
    expect(info.remote).toBe(true);
    const allowed = ['ERR_QUIC_CONNECTION_CLOSED', info.error?.code].filter(Boolean);
    for (const err of errs) {
      expect(err).toBeInstanceOf(QuicError);
      expect(allowed).toContain((err as QuicError).code);
    }
    // The stream holding the credit is torn down as well.
    await withTimeout(
      new Promise<void>((resolve) => (first.destroyed ? resolve() : first.once('close', () => resolve()))),
      2000,
      "first stream 'close'",
    );
    expect(client.streamCounts()).toEqual({ js: 0, native: 0 });
  });
});
