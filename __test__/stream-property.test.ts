// Property test (fast-check): random operations across a few streams of one
// connection — writes, end, reset, stopSending, pauses, and sometimes a
// connection close — must keep these invariants:
//   * every byte a receiver sees is a prefix of what was written (no
//     corruption, no reordering, nothing invented);
//   * a stream nobody reset/stopped (and no close) delivers everything, with
//     'end' and no error, in both directions;
//   * every stream object on both sides settles ('close') in bounded time;
//   * afterwards streamCounts() is { js: 0, native: 0 } on both connections.
import fc from 'fast-check';
import { Pair, QuicConnection, QuicStream, pair, sleep, withTimeout } from './helpers';

type Side = 'client' | 'server';
type Op =
  | { t: 'write'; side: Side; k: number; size: number; seed: number }
  | { t: 'end'; side: Side; k: number }
  | { t: 'reset'; side: Side; k: number; code: number }
  | { t: 'stop'; side: Side; k: number; code: number }
  | { t: 'wait'; ms: number };
interface Scenario {
  kinds: boolean[]; // unidirectional?
  ops: Op[];
  close: { side: Side; code: number } | null;
}

const NUM_RUNS = Number(process.env.NQUIC_FC_RUNS ?? 25);
const SETTLE_MS = 1500;

interface Direction {
  sent: Buffer[];
  received: Buffer[];
  ended: boolean; // end() called by the sender
  gotEnd: boolean; // 'end' seen by the receiver
}
interface Tracked {
  id: number;
  uni: boolean;
  client: QuicStream;
  server?: QuicStream;
  c2s: Direction;
  s2c: Direction;
  aborted: boolean; // a reset/stopSending op touched it
  errors: Array<{ side: Side; code: unknown }>;
  closed: Record<Side, boolean>;
}

const dir = (): Direction => ({ sent: [], received: [], ended: false, gotEnd: false });

function bytes(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761 + size) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    b[i] = x & 0xff;
  }
  return b;
}

const sideArb = fc.constantFrom<Side>('client', 'server');
const opArb = (streams: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ t: fc.constant('write' as const), side: sideArb, k: fc.nat(streams - 1), size: fc.integer({ min: 1, max: 20000 }), seed: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('end' as const), side: sideArb, k: fc.nat(streams - 1) }) },
    // NQUIC_FC_NO_RESET=1 leaves reset out (to look past a known reset bug).
    { weight: process.env.NQUIC_FC_NO_RESET ? 0 : 1, arbitrary: fc.record({ t: fc.constant('reset' as const), side: sideArb, k: fc.nat(streams - 1), code: fc.integer({ min: 0, max: 1 << 20 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('stop' as const), side: sideArb, k: fc.nat(streams - 1), code: fc.integer({ min: 0, max: 1 << 20 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 20 }) }) },
  );
const scenarioArb: fc.Arbitrary<Scenario> = fc
  .integer({ min: 1, max: 3 })
  .chain((n) =>
    fc.record({
      kinds: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      ops: fc.array(opArb(n), { maxLength: 25 }),
      close: fc.option(fc.record({ side: sideArb, code: fc.integer({ min: 0, max: 1000 }) }), { freq: 4 }),
    }),
  );

function settledPromise(s: QuicStream): Promise<void> {
  return new Promise((resolve) => (s.closed ? resolve() : s.once('close', () => resolve())));
}

async function pollCounts(c: QuicConnection, ms: number): Promise<{ js: number; native: number }> {
  const deadline = Date.now() + ms;
  let counts = c.streamCounts();
  while ((counts.js !== 0 || counts.native !== 0) && Date.now() < deadline) {
    await sleep(20);
    counts = c.streamCounts();
  }
  return counts;
}

function watch(t: Tracked, side: Side, s: QuicStream): void {
  s.on('error', (err: { code?: unknown }) => t.errors.push({ side, code: err?.code }));
  s.once('close', () => (t.closed[side] = true));
  const incoming = side === 'server' ? t.c2s : t.s2c;
  if (s.readable) {
    s.on('data', (d: Buffer) => incoming.received.push(d));
    s.once('end', () => (incoming.gotEnd = true));
  }
}

async function runScenario(sc: Scenario): Promise<void> {
  const p: Pair = await pair();
  const { client, serverConn } = p;
  const streams: Tracked[] = [];
  const byId = new Map<number, Tracked>();
  serverConn.on('stream', (s: QuicStream) => {
    const t = byId.get(s.id);
    if (!t) throw new Error(`server saw unexpected stream ${s.id}`);
    t.server = s;
    watch(t, 'server', s);
  });

  try {
    // Open the streams; a first client write makes each known to the server.
    for (const uni of sc.kinds) {
      const s = await withTimeout(client.openStream({ unidirectional: uni }), 2000, 'openStream()');
      const t: Tracked = { id: s.id, uni, client: s, c2s: dir(), s2c: dir(), aborted: false, errors: [], closed: { client: false, server: false } };
      streams.push(t);
      byId.set(s.id, t);
      watch(t, 'client', s);
      const first = bytes(1 + (s.id % 7), s.id);
      t.c2s.sent.push(first);
      s.write(first);
    }
    const seenBy = Date.now() + 2000;
    while (streams.some((t) => !t.server) && Date.now() < seenBy) await sleep(2);
    const unseen = streams.filter((t) => !t.server).map((t) => t.id);
    if (unseen.length) throw new Error(`server never saw streams ${unseen.join(', ')}`);

    for (const op of sc.ops) {
      if (op.t === 'wait') {
        await sleep(op.ms);
        continue;
      }
      const t = streams[op.k];
      const me = op.side === 'client' ? t.client : t.server!;
      // The direction this side sends on / receives on.
      const out = op.side === 'client' ? t.c2s : t.s2c;
      const canSend = !t.uni || op.side === 'client';
      const canRecv = !t.uni || op.side === 'server';
      if (op.t === 'write' && canSend && !out.ended && !me.destroyed && me.writable) {
        const b = bytes(op.size, op.seed);
        out.sent.push(b);
        me.write(b);
      } else if (op.t === 'end' && canSend && !out.ended && !me.destroyed) {
        out.ended = true;
        me.end();
      } else if (op.t === 'reset' && canSend && !me.destroyed) {
        t.aborted = true;
        me.reset(op.code);
      } else if (op.t === 'stop' && canRecv && !me.destroyed) {
        t.aborted = true;
        me.stopSending(op.code);
      }
      await Promise.resolve();
    }

    if (sc.close) {
      const conn = sc.close.side === 'client' ? client : serverConn;
      void conn.close({ code: sc.close.code });
      await withTimeout(Promise.all([client.closed, serverConn.closed]), 3000, 'both connections closed');
    } else {
      // Finish every direction that is still open.
      for (const t of streams) {
        if (!t.c2s.ended && !t.client.destroyed && t.client.writable) {
          t.c2s.ended = true;
          t.client.end();
        }
        if (!t.uni && !t.s2c.ended && t.server && !t.server.destroyed && t.server.writable) {
          t.s2c.ended = true;
          t.server.end();
        }
      }
    }

    // Every stream object on both sides settles.
    const all = streams.flatMap((t) => [settledPromise(t.client), ...(t.server ? [settledPromise(t.server)] : [])]);
    const settled = await Promise.race([Promise.all(all).then(() => true), sleep(SETTLE_MS).then(() => false)]);

    const problems: string[] = [];
    for (const t of streams) {
      for (const [name, d] of [['c2s', t.c2s], ['s2c', t.s2c]] as const) {
        const sent = Buffer.concat(d.sent);
        const got = Buffer.concat(d.received);
        if (got.length > sent.length || !got.equals(sent.subarray(0, got.length))) {
          problems.push(`stream ${t.id} ${name}: received ${got.length} bytes that are not a prefix of the ${sent.length} written`);
        }
        const intact = !t.aborted && !sc.close && (name === 'c2s' || !t.uni);
        if (intact && d.ended && (got.length !== sent.length || !d.gotEnd)) {
          problems.push(`stream ${t.id} ${name}: ended without reset but delivered ${got.length}/${sent.length} bytes, 'end' ${d.gotEnd}`);
        }
      }
      if (!t.aborted && !sc.close && t.errors.length) {
        problems.push(`stream ${t.id}: errors without any reset/stop/close: ${JSON.stringify(t.errors)}`);
      }
      if (!t.closed.client || !t.closed.server) {
        problems.push(
          `stream ${t.id} (${t.uni ? 'uni' : 'bidi'}${t.aborted ? ', aborted' : ''}) did not settle within ${SETTLE_MS} ms: ` +
            `client closed ${t.closed.client}, server closed ${t.closed.server}, errors ${JSON.stringify(t.errors)}`,
        );
      }
    }
    const clientCounts = await pollCounts(client, 1000);
    const serverCounts = await pollCounts(serverConn, 1000);
    if (clientCounts.js || clientCounts.native) problems.push(`client streamCounts ${JSON.stringify(clientCounts)}`);
    if (serverCounts.js || serverCounts.native) problems.push(`server streamCounts ${JSON.stringify(serverCounts)}`);
    if (!settled && problems.length === 0) problems.push('not all streams settled');
    if (problems.length) throw new Error(problems.join('\n'));
  } finally {
    await withTimeout(client.close(), 3000, 'client.close()').catch(() => {});
    await withTimeout(p.server.close(), 3000, 'server.close()').catch(() => {});
  }
}

describe('stream operations (property)', () => {
  test('random writes/end/reset/stopSending/close keep the stream invariants', async () => {
    const seed = process.env.NQUIC_FC_SEED ? Number(process.env.NQUIC_FC_SEED) : undefined;
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (sc) => {
        await runScenario(sc);
      }),
      { numRuns: NUM_RUNS, seed, interruptAfterTimeLimit: 100000, markInterruptAsFailure: false, verbose: 1 },
    );
    // eslint-disable-next-line no-console
    console.log(`stream-property: ${NUM_RUNS} runs in ${Date.now() - started} ms`);
  }, 150000);

  test('stopSending on a bidi stream, then a large write from the other side: both ends settle', async () => {
    // The case fast-check found (CI, under load): quiche forgot the stopped
    // stream when its FIN was read, and the server's stream never closed.
    for (let i = 0; i < 20; i++) {
      await runScenario({
        kinds: [false, false],
        ops: [
          { t: 'stop', side: 'client', k: 1, code: 0 },
          { t: 'write', side: 'server', k: 1, size: 16049, seed: 0 },
        ],
        close: null,
      });
    }
  });

  test('a stream finished in a later turn than its last write (a lone FIN) still ends on the other side', async () => {
    // Found by fast-check: quiche 0.30 forgot a FIN sent on its own when the
    // peer's FIN was read first (cloudflare/quiche#2525, patched in deps/quiche).
    for (let i = 0; i < 20; i++) {
      await runScenario({
        kinds: [false, false, false],
        ops: [
          { t: 'write', side: 'client', k: 0, size: 13152, seed: 0 },
          { t: 'end', side: 'client', k: 0 },
          { t: 'write', side: 'client', k: 1, size: 4729, seed: 921029447 },
        ],
        close: null,
      });
    }
  });

  test('no close: with every stream ended normally, counts on both sides go to zero', async () => {
    // A fixed, non-random case of the property: all directions written and ended.
    await runScenario({
      kinds: [false, true, false],
      ops: [
        { t: 'write', side: 'client', k: 0, size: 5000, seed: 1 },
        { t: 'write', side: 'server', k: 0, size: 7000, seed: 2 },
        { t: 'write', side: 'client', k: 1, size: 3000, seed: 3 },
        { t: 'wait', ms: 10 },
        { t: 'write', side: 'server', k: 2, size: 9000, seed: 4 },
        { t: 'end', side: 'client', k: 0 },
      ],
      close: null,
    });
  });
});
