// Stream lifecycle: many sequential short streams leave no state behind;
// toWeb(); setPriority() validation; half-close in each direction; and the
// FIN of an end() that follows already-delivered data is not lost.
import { randomBytes } from 'node:crypto';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { MiB, QuicConnection, QuicStream, pair, readAll, sleep, within, withTimeout } from './helpers';

const SEQ_STREAMS = Number(process.env.NQUIC_SEQ_STREAMS ?? 100000);

/** A gc() function: the global one under --expose-gc, else one obtained through V8 flags. */
function getGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn = vm.runInNewContext('gc') as unknown;
    return typeof fn === 'function' ? (fn as () => void) : undefined;
  } catch {
    return undefined;
  }
}

async function heapAfterGc(gc: () => void): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

async function readWeb(readable: ReadableStream<Uint8Array>, limit: number): Promise<Buffer> {
  const reader = readable.getReader();
  const parts: Buffer[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!(value instanceof Uint8Array)) throw new Error('web readable produced a non-Uint8Array chunk');
    total += value.byteLength;
    if (total > limit) throw new Error(`web readable produced more than ${limit} bytes`);
    parts.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return Buffer.concat(parts);
}

async function countsSettle(c: QuicConnection, label: string, ms = 1000): Promise<void> {
  const deadline = Date.now() + ms;
  let counts = c.streamCounts();
  while ((counts.js !== 0 || counts.native !== 0) && Date.now() < deadline) {
    await sleep(20);
    counts = c.streamCounts();
  }
  expect({ label, counts }).toEqual({ label, counts: { js: 0, native: 0 } });
}

describe('stream lifecycle', () => {
  test(`${SEQ_STREAMS} sequential short streams leave no state behind`, async () => {
    const { client, serverConn } = await pair();
    let serverErrors = 0;
    serverConn.on('stream', (s: QuicStream) => {
      s.on('error', () => serverErrors++);
      s.pipe(s);
    });
    const gc = getGc();
    const payload = Buffer.from('0123456789');
    const started = Date.now();
    const checkpoint = Math.max(1, Math.floor(SEQ_STREAMS / 10));
    let heapAtCheckpoint: number | undefined;
    let lastReport = started;
    const budgetMs = Math.max(60000, SEQ_STREAMS * 3); // fails (not hangs) if far too slow

    for (let i = 0; i < SEQ_STREAMS; i++) {
      const s = await client.openStream();
      const echo = readAll(s, 64);
      s.end(payload);
      const got = await withTimeout(echo, 5000, `echo on sequential stream #${i} (id ${s.id})`);
      if (!got.equals(payload)) throw new Error(`stream #${i}: echo ${JSON.stringify(got.toString())}`);
      if (i + 1 === checkpoint && gc) heapAtCheckpoint = await heapAfterGc(gc);
      if (Date.now() - started > budgetMs) throw new Error(`only ${i + 1} streams within ${budgetMs} ms`);
      if (Date.now() - lastReport > 10000) {
        lastReport = Date.now();
        // eslint-disable-next-line no-console
        console.log(`stream-lifecycle: ${i + 1} streams after ${lastReport - started} ms`);
      }
    }
    const elapsed = Date.now() - started;
    // eslint-disable-next-line no-console
    console.log(
      `stream-lifecycle: ${SEQ_STREAMS} sequential streams in ${elapsed} ms (${((elapsed * 1000) / SEQ_STREAMS).toFixed(0)} us/stream)`,
    );

    expect(serverErrors).toBe(0);
    await countsSettle(client, 'client');
    await countsSettle(serverConn, 'server');
    expect(client.stats().streamsOpened).toBe(SEQ_STREAMS);

    if (gc && heapAtCheckpoint !== undefined) {
      const heapEnd = await heapAfterGc(gc);
      const growth = heapEnd - heapAtCheckpoint;
      // eslint-disable-next-line no-console
      console.log(`stream-lifecycle: heap growth from stream ${checkpoint} to ${SEQ_STREAMS}: ${(growth / MiB).toFixed(2)} MiB`);
      // 90% of the streams ran after the checkpoint; a leak of even ~200 bytes
      // per stream would show up at 100 000 streams.
      expect(growth).toBeLessThan(Math.max(8 * MiB, SEQ_STREAMS * 100));
    } else {
      // eslint-disable-next-line no-console
      console.log('stream-lifecycle: no gc() available, heap check skipped');
    }
  }, Math.max(120000, SEQ_STREAMS * 3 + 30000));

  test('toWeb(): WHATWG readable/writable carry the same data', async () => {
    const { client, serverConn } = await pair();
    serverConn.on('stream', (ss: QuicStream) => ss.pipe(ss));
    const s = await withTimeout(client.openStream(), 5000, 'openStream()');
    const { readable, writable } = s.toWeb();
    expect(readable).toBeInstanceOf(ReadableStream);
    expect(writable).toBeInstanceOf(WritableStream);

    const chunks = Array.from({ length: 64 }, (_, i) => randomBytes(1 + ((i * 7919) % 40000)));
    const expected = Buffer.concat(chunks);
    const reading = readWeb(readable, expected.length);
    const writer = writable.getWriter();
    for (const c of chunks) {
      await writer.ready;
      await writer.write(new Uint8Array(c));
    }
    const closing = writer.close();
    const got = await withTimeout(reading, 10000, 'reading the echo through the web readable').catch((err: Error) => {
      throw new Error(
        `${err.message}; client stream: writableFinished ${s.writableFinished}, readableEnded ${s.readableEnded}, ` +
          `client counts ${JSON.stringify(client.streamCounts())}, server counts ${JSON.stringify(serverConn.streamCounts())}`,
      );
    });
    await withTimeout(closing, 5000, 'WritableStream close()');
    expect(got.length).toBe(expected.length);
    expect(got.equals(expected)).toBe(true);
  });

  test('toWeb(): an echo through readable.pipeTo(writable) completes (the web readable ends while the writable is open)', async () => {
    const { client, serverConn } = await pair();
    let serverSide: QuicStream | undefined;
    serverConn.on('stream', (ss: QuicStream) => {
      serverSide = ss;
      const { readable, writable } = ss.toWeb();
      void readable.pipeTo(writable).catch(() => {});
    });
    const s = await withTimeout(client.openStream(), 5000, 'openStream()');
    const payload = randomBytes(100000);
    const echo = readAll(s, 1 * MiB);
    s.end(payload);
    const got = await withTimeout(echo, 5000, 'echo through the server web streams').catch((err: Error) => {
      throw new Error(
        `${err.message}; server stream: readableEnded ${serverSide?.readableEnded}, ` +
          `writableEnded ${serverSide?.writableEnded} (the server's web readable did not close after the client's FIN, ` +
          'so pipeTo never closed the writable)',
      );
    });
    expect(got.equals(payload)).toBe(true);
  });

  test('setPriority(): urgency 0..7 and incremental accepted; bad values rejected synchronously', async () => {
    const { client, serverConn } = await pair();
    serverConn.on('stream', (s: QuicStream) => s.pipe(s));
    const s = await withTimeout(client.openStream(), 5000, 'openStream()');
    for (let urgency = 0; urgency <= 7; urgency++) {
      for (const incremental of [true, false]) {
        expect(() => s.setPriority({ urgency, incremental })).not.toThrow();
      }
    }
    expect(() => s.setPriority({})).not.toThrow();
    expect(() => s.setPriority({ urgency: 9 })).toThrow(RangeError);
    expect(() => s.setPriority({ urgency: 9 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => s.setPriority({ urgency: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => s.setPriority({ urgency: 8 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => s.setPriority({ urgency: 2.5 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => s.setPriority({ urgency: '1' as unknown as number })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => s.setPriority({ incremental: 'yes' as unknown as boolean })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => s.setPriority(null as unknown as { urgency: number })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    // The stream still works after all that.
    const echo = readAll(s, 1024);
    s.end('still fine');
    expect((await withTimeout(echo, 5000, 'echo')).toString()).toBe('still fine');
  });

  test('half-close: the client ends its side, the server keeps sending, then ends', async () => {
    const { client, serverConn } = await pair();
    const serverParts = Array.from({ length: 5 }, () => randomBytes(30000));
    const serverDone = new Promise<{ request: Buffer; closedEarly: boolean }>((resolve, reject) => {
      serverConn.once('stream', (s: QuicStream) => {
        readAll(s, 1 * MiB)
          .then(async (request) => {
            // The client's side is finished; ours is still open.
            expect(s.readableEnded).toBe(true);
            expect(s.writable).toBe(true);
            let closedEarly = false;
            s.once('close', () => (closedEarly = !s.writableFinished));
            for (const part of serverParts) {
              s.write(part);
              await sleep(20);
            }
            s.end();
            resolve({ request, closedEarly });
          })
          .catch(reject);
      });
    });
    const s = await withTimeout(client.openStream(), 5000, 'openStream()');
    const request = randomBytes(50000);
    const clientFinished = new Promise<void>((resolve) => s.once('finish', () => resolve()));
    const reply = readAll(s, 1 * MiB);
    s.end(request);
    await withTimeout(clientFinished, 5000, "client 'finish'");
    // Ending our side does not close the stream: the server is still sending.
    expect(s.closed).toBe(false);
    const r = await withTimeout(serverDone, 5000, 'server side');
    expect(r.request.equals(request)).toBe(true);
    expect(r.closedEarly).toBe(false);
    const got = await withTimeout(reply, 5000, "client reading the server's data after its own end()");
    expect(got.equals(Buffer.concat(serverParts))).toBe(true);
    await withTimeout(
      new Promise<void>((resolve) => (s.closed ? resolve() : s.once('close', () => resolve()))),
      2000,
      "client 'close' after both sides ended",
    );
    await countsSettle(client, 'client');
    await countsSettle(serverConn, 'server');
  });

  test('half-close: the server ends its side first, the client keeps sending, then ends', async () => {
    const { client, serverConn } = await pair();
    const clientParts = Array.from({ length: 5 }, () => randomBytes(30000));
    const greeting = randomBytes(40000);
    const serverGot = new Promise<Buffer>((resolve, reject) => {
      serverConn.once('stream', (s: QuicStream) => {
        s.end(greeting); // the server is done sending at once
        readAll(s, 1 * MiB).then(resolve, reject);
      });
    });
    const s = await withTimeout(client.openStream(), 5000, 'openStream()');
    s.write(clientParts[0]);
    const fromServer = await withTimeout(readAll(s, 1 * MiB), 5000, "client reading the server's greeting");
    expect(fromServer.equals(greeting)).toBe(true);
    expect(s.readableEnded).toBe(true);
    expect(s.writable).toBe(true);
    for (const part of clientParts.slice(1)) {
      s.write(part);
      await sleep(20);
    }
    s.end();
    const got = await withTimeout(serverGot, 5000, "server reading the client's data after its own end()");
    expect(got.equals(Buffer.concat(clientParts))).toBe(true);
    await countsSettle(client, 'client');
    await countsSettle(serverConn, 'server');
  });

  test('end() called after the written data already reached the peer still delivers the FIN (20 streams)', async () => {
    // The peer's ACK of the data can be processed between end() queueing a
    // zero-length FIN and the next packet being built (quiche issue #2525).
    const { client, serverConn } = await pair();
    const serverStreams: QuicStream[] = [];
    serverConn.on('stream', (s: QuicStream) => serverStreams.push(s));
    const lost: number[] = [];
    for (let i = 0; i < 20; i++) {
      const s = await withTimeout(client.openStream(), 5000, 'openStream()');
      s.end('request');
      const deadline = Date.now() + 2000;
      while (serverStreams.length <= i && Date.now() < deadline) await sleep(1);
      const ss = serverStreams[i];
      expect(ss).toBeDefined();
      await withTimeout(readAll(ss, 1024), 2000, 'server reading the request');
      // Respond, and end the response as soon as the client has received it.
      s.once('data', () => ss.end());
      const response = readAll(s, 1 * MiB);
      ss.write(Buffer.alloc(3000, i));
      const got = await within(response, 500);
      if (got === undefined) lost.push(s.id);
      else expect(got.length).toBe(3000);
    }
    expect({ streamsWithoutEnd: lost }).toEqual({ streamsWithoutEnd: [] });
  });
});
