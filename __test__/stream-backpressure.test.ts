// Backpressure: a writer that honours 'drain' against a reader that does not
// read is held back by QUIC flow control (bounded bytes accepted, bounded
// memory), and everything arrives intact once the reader resumes.
import { createHash } from 'node:crypto';
import { MiB, QuicStream, nextEvent, pair, readAll, sleep, withTimeout } from './helpers';

const WINDOW = 256 * 1024;
const NODE_HWM = 256 * 1024;
const CHUNK = 16 * 1024;
const TRY_MS = 1000;

/** Deterministic chunk content so that the receiver's checksum can be compared. */
function chunkFor(i: number): Buffer {
  const b = Buffer.allocUnsafe(CHUNK);
  let x = (i * 2654435761) >>> 0;
  for (let k = 0; k < CHUNK; k += 4) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    b.writeUInt32LE(x, k);
  }
  return b;
}

function drainOrTimeout(s: QuicStream, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (v: boolean): void => {
      clearTimeout(t);
      s.off('drain', onDrain);
      resolve(v);
    };
    const onDrain = (): void => done(true);
    const t = setTimeout(() => done(false), ms);
    s.on('drain', onDrain);
  });
}

describe.each([
  ['never attaches a data listener', 'no-listener'],
  ["attaches 'data' then calls pause()", 'pause'],
])('a reader that %s', (_label, mode) => {
  test('holds a drain-honouring writer back by flow control; resuming delivers everything intact', async () => {
    const { client, serverConn } = await pair({ server: { streamWindow: WINDOW } });
    const serverStream = nextEvent<QuicStream>(serverConn, 'stream', 5000, "server 'stream' event");

    const s = await withTimeout(client.openStream(), 5000, 'openStream()');
    const hash = createHash('sha256');
    let offered = 0; // bytes handed to write()
    let accepted = 0; // bytes whose write callback ran (taken by the transport)
    let drains = 0;
    let i = 0;

    // Write the first chunk so the server sees the stream, then stop its reader.
    const first = chunkFor(i++);
    hash.update(first);
    offered += first.length;
    s.write(first, () => (accepted += first.length));
    const remote = await serverStream;
    // The server never writes on this stream: the teardown's close ends it
    // with its write side open, which is an error on it.
    remote.on('error', () => {});
    const received: Buffer[] = [];
    if (mode === 'pause') {
      remote.on('data', (d: Buffer) => received.push(d));
      remote.pause();
    }

    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const until = Date.now() + TRY_MS;
    let stalled = false;
    while (Date.now() < until && i < 100000) {
      const chunk = chunkFor(i++);
      hash.update(chunk);
      offered += chunk.length;
      const ok = s.write(chunk, (err) => {
        if (!err) accepted += chunk.length;
      });
      if (!ok) {
        const drained = await drainOrTimeout(s, Math.max(1, until - Date.now()));
        if (drained) drains++;
        else stalled = true;
      }
    }
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    const stats = { offered, accepted, drains, stalled, rssGrowthMiB: +(rssGrowth / MiB).toFixed(1) };

    // The writer made real progress, was then stopped, and stayed within bounds.
    expect(stats.stalled).toBe(true);
    expect(s.writableNeedDrain).toBe(true);
    expect(accepted).toBeGreaterThanOrEqual(WINDOW / 2);
    expect(accepted).toBeLessThan(2 * MiB);
    expect(offered).toBeLessThan(2 * MiB + NODE_HWM + CHUNK);
    expect(rssGrowth).toBeLessThan(64 * MiB);

    // Accepted stays put while the reader is stopped.
    const acceptedThen = accepted;
    await sleep(200);
    expect(accepted).toBe(acceptedThen);

    // Resume: everything arrives, in order, intact.
    s.end();
    let data: Buffer;
    if (mode === 'pause') {
      const ended = nextEvent<void>(remote, 'end', 15000, "server stream 'end'");
      remote.resume();
      await ended;
      data = Buffer.concat(received);
    } else {
      data = await withTimeout(readAll(remote, 64 * MiB), 15000, 'reading everything after resuming');
    }
    expect(data.length).toBe(offered);
    expect(createHash('sha256').update(data).digest('hex')).toBe(hash.digest('hex'));
    // eslint-disable-next-line no-console
    console.log(`stream-backpressure (${mode}): ${JSON.stringify(stats)}`);
  });
});

test('the same holds server -> client on a server-opened uni stream', async () => {
  const { client, serverConn } = await pair({ client: { streamWindow: WINDOW } });
  const clientStream = nextEvent<QuicStream>(client, 'stream', 5000, "client 'stream' event");
  const s = await withTimeout(serverConn.openStream({ unidirectional: true }), 5000, 'server openStream()');
  const hash = createHash('sha256');
  let offered = 0;
  let i = 0;
  const first = chunkFor(i++);
  hash.update(first);
  offered += first.length;
  s.write(first);
  const remote = await clientStream;

  const until = Date.now() + TRY_MS;
  let stalled = false;
  while (Date.now() < until && i < 100000) {
    const chunk = chunkFor(i++);
    hash.update(chunk);
    offered += chunk.length;
    if (!s.write(chunk)) {
      if (!(await drainOrTimeout(s, Math.max(1, until - Date.now())))) stalled = true;
    }
  }
  expect(stalled).toBe(true);
  expect(offered).toBeLessThan(2 * MiB + NODE_HWM + CHUNK);
  s.end();
  const data = await withTimeout(readAll(remote, 64 * MiB), 15000, 'client reading after resuming');
  expect(data.length).toBe(offered);
  expect(createHash('sha256').update(data).digest('hex')).toBe(hash.digest('hex'));
});
