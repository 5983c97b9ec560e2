// reset(code) / stopSending(code) / destroy(err) reach the peer with the right
// error code and appCode, in both directions, on bidirectional and
// unidirectional streams; and the streams involved settle afterwards.
import { QuicError } from '../lib';
import { Pair, QuicConnection, QuicStream, nextEvent, pair, sleep, withTimeout } from './helpers';

type Side = 'client' | 'server';

function conns(p: Pair): Record<Side, QuicConnection> {
  return { client: p.client, server: p.serverConn };
}

const other = (side: Side): Side => (side === 'client' ? 'server' : 'client');

/**
 * Opens a stream from `opener` and returns both ends once the peer has seen
 * it (a first chunk is written so that it does).
 */
async function streamPair(p: Pair, opener: Side, unidirectional: boolean): Promise<Record<Side, QuicStream>> {
  const c = conns(p);
  const seen = nextEvent<QuicStream>(c[other(opener)], 'stream', 5000, `${other(opener)} 'stream' event`);
  const local = await withTimeout(c[opener].openStream({ unidirectional }), 5000, `${opener} openStream()`);
  local.write('hello');
  const remote = await seen;
  expect(remote.id).toBe(local.id);
  return { [opener]: local, [other(opener)]: remote } as Record<Side, QuicStream>;
}

/** The first 'error' of `s`; also drains it so a paused reader cannot hide the error. */
function firstError(s: QuicStream, label: string, ms = 5000): Promise<unknown> {
  return withTimeout(
    new Promise<unknown>((resolve) => {
      s.once('error', resolve);
      if (s.readable) s.resume();
    }),
    ms,
    label,
  );
}

function closed(s: QuicStream, label: string, ms = 3000): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => (s.closed ? resolve() : s.once('close', () => resolve()))),
    ms,
    label,
  );
}

async function countsSettle(c: QuicConnection, label: string, ms = 1000): Promise<void> {
  const deadline = Date.now() + ms;
  let counts = c.streamCounts();
  while ((counts.js !== 0 || counts.native !== 0) && Date.now() < deadline) {
    await sleep(20);
    counts = c.streamCounts();
  }
  if (counts.js !== 0 || counts.native !== 0) {
    throw new Error(`${label}: streamCounts() is ${JSON.stringify(counts)} after ${ms} ms, expected { js: 0, native: 0 }`);
  }
}

// [kind, initiator, side calling reset]
const resetCases: Array<[string, Side, Side]> = [
  ['bidi', 'client', 'client'],
  ['bidi', 'client', 'server'],
  ['bidi', 'server', 'server'],
  ['bidi', 'server', 'client'],
  ['uni', 'client', 'client'],
  ['uni', 'server', 'server'],
];

// [kind, initiator, side calling stopSending (the receiver)]
const stopCases: Array<[string, Side, Side]> = [
  ['bidi', 'client', 'server'],
  ['bidi', 'client', 'client'],
  ['bidi', 'server', 'client'],
  ['bidi', 'server', 'server'],
  ['uni', 'client', 'server'],
  ['uni', 'server', 'client'],
];

describe('reset / stopSending reach the peer', () => {
  test.each(resetCases)('%s stream opened by the %s: %s calls reset(code)', async (kind, opener, resetter) => {
    const p = await pair();
    const ends = await streamPair(p, opener, kind === 'uni');
    const code = 1000 + Math.floor(Math.random() * 1000);
    const local = ends[resetter];
    const remote = ends[other(resetter)];
    local.on('error', () => {});
    if (resetter !== opener) local.write('some data from the non-opener');

    const err = firstError(remote, `${other(resetter)} stream 'error' after reset(${code})`);
    local.reset(code);
    const e = await err;
    expect(e).toBeInstanceOf(QuicError);
    expect(e).toMatchObject({ code: 'ERR_QUIC_STREAM_RESET', appCode: code });

    // Writing after reset fails instead of sending anything.
    const writeErr = await withTimeout(
      new Promise<unknown>((resolve) => {
        if (local.destroyed || !local.writable) return resolve('not writable');
        local.write('after reset', (er) => resolve(er ?? null));
      }),
      2000,
      'write() after reset()',
    );
    expect(writeErr).not.toBeNull();

    // Both ends of the stream settle and nothing is left behind.
    await closed(remote, `${other(resetter)} stream 'close' after the reset`);
    await closed(local, `${resetter} stream 'close' after its reset(${code})`);
    await countsSettle(p.client, 'client');
    await countsSettle(p.serverConn, 'server');
  });

  test.each(stopCases)('%s stream opened by the %s: %s calls stopSending(code)', async (kind, opener, stopper) => {
    const p = await pair();
    const ends = await streamPair(p, opener, kind === 'uni');
    const code = 2000 + Math.floor(Math.random() * 1000);
    const receiver = ends[stopper];
    const sender = ends[other(stopper)];
    receiver.on('error', () => {});
    receiver.resume();

    // The sender is not writing when STOP_SENDING arrives: it must still learn of it.
    const err = firstError(sender, `${other(stopper)} stream 'error' after the peer's stopSending(${code})`);
    receiver.stopSending(code);
    const e = await err;
    expect(e).toBeInstanceOf(QuicError);
    expect(e).toMatchObject({ code: 'ERR_QUIC_STREAM_STOPPED', appCode: code });

    await closed(sender, `${other(stopper)} stream 'close' after STOP_SENDING`);
    if (kind === 'bidi' && receiver.writable) receiver.end();
    await closed(receiver, `${stopper} stream 'close' after its stopSending(${code})`);
    await countsSettle(p.client, 'client');
    await countsSettle(p.serverConn, 'server');
  });

  test('stopSending() while the sender keeps writing: the write callback fails with ERR_QUIC_STREAM_STOPPED', async () => {
    const p = await pair({ server: { streamWindow: 64 * 1024 } });
    const { client: sender, server: receiver } = await streamPair(p, 'client', false);
    sender.on('error', () => {});
    receiver.on('error', () => {});
    // Fill the flow-control window so that a write is pending when STOP_SENDING lands.
    receiver.pause();
    const big = Buffer.alloc(1024 * 1024, 7);
    const cb = new Promise<unknown>((resolve) => sender.write(big, (er) => resolve(er ?? null)));
    await sleep(100);
    receiver.stopSending(77);
    const e = await withTimeout(cb, 3000, 'pending write callback after STOP_SENDING');
    expect(e).toMatchObject({ code: 'ERR_QUIC_STREAM_STOPPED', appCode: 77 });
  });

  test.each([
    ['uni', true],
    ['bidi', false],
  ])('%s: reset(code) reaches a reader that has paused (its buffer is full)', async (_kind, uni) => {
    const p = await pair({ server: { streamWindow: 64 * 1024 } });
    const { client: sender, server: receiver } = await streamPair(p, 'client', uni as boolean);
    sender.on('error', () => {});
    // The receiver never reads: its buffer fills and the native stream is paused.
    let receiverError: unknown;
    receiver.on('error', (err) => {
      receiverError = err;
    });
    sender.write(Buffer.alloc(1024 * 1024, 3));
    await sleep(300);
    sender.reset(55);
    const deadline = Date.now() + 3000;
    while (receiverError === undefined && Date.now() < deadline) await sleep(10);
    expect(receiverError).toMatchObject({ code: 'ERR_QUIC_STREAM_RESET', appCode: 55 });
  });
});

describe('streams settle after reset() without further calls', () => {
  test('a local uni stream whose peer saw it closes after reset(code)', async () => {
    const p = await pair();
    const { client: local, server: remote } = await streamPair(p, 'client', true);
    local.on('error', () => {});
    const err = firstError(remote, "server stream 'error' after reset(21)");
    local.reset(21);
    expect(await err).toMatchObject({ code: 'ERR_QUIC_STREAM_RESET', appCode: 21 });
    await closed(remote, "server stream 'close'");
    await closed(local, "client uni stream 'close' after its own reset(21)");
    await countsSettle(p.client, 'client');
  });

  test('a local bidi stream closes after reset(code) once the peer answers', async () => {
    const p = await pair();
    const { client: local, server: remote } = await streamPair(p, 'client', false);
    local.on('error', () => {});
    const err = firstError(remote, "server stream 'error' after reset(22)");
    local.reset(22);
    expect(await err).toMatchObject({ code: 'ERR_QUIC_STREAM_RESET', appCode: 22 });
    await closed(local, "client bidi stream 'close' after its own reset(22)");
    await countsSettle(p.client, 'client');
    await countsSettle(p.serverConn, 'server');
  });
});

describe('destroy(err) maps err.appCode to RESET_STREAM / STOP_SENDING', () => {
  test('bidi: destroy(err with appCode 33) makes the peer see ERR_QUIC_STREAM_RESET with appCode 33', async () => {
    const p = await pair();
    const { client, server } = await streamPair(p, 'client', false);
    const err = firstError(server, "server stream 'error' after the client's destroy(err)");
    client.on('error', () => {});
    client.destroy(Object.assign(new Error('app failure'), { appCode: 33 }));
    const e = await err;
    expect(e).toBeInstanceOf(QuicError);
    expect(e).toMatchObject({ code: 'ERR_QUIC_STREAM_RESET', appCode: 33 });
    await closed(server, "server stream 'close'");
    await countsSettle(p.client, 'client');
    await countsSettle(p.serverConn, 'server');
  });

  test('server-opened uni: destroy(err with appCode 33) on the sender resets with 33', async () => {
    const p = await pair();
    const { client, server } = await streamPair(p, 'server', true);
    const err = firstError(client, "client stream 'error' after the server's destroy(err)");
    server.on('error', () => {});
    server.destroy(Object.assign(new Error('app failure'), { appCode: 33 }));
    expect(await err).toMatchObject({ code: 'ERR_QUIC_STREAM_RESET', appCode: 33 });
  });

  test('destroy(err with appCode 33) on the receiver of a uni stream sends STOP_SENDING 33', async () => {
    const p = await pair();
    const { client, server } = await streamPair(p, 'client', true);
    const err = firstError(client, "client stream 'error' after the server's destroy(err)");
    server.on('error', () => {});
    server.destroy(Object.assign(new Error('not interested'), { appCode: 33 }));
    expect(await err).toMatchObject({ code: 'ERR_QUIC_STREAM_STOPPED', appCode: 33 });
  });

  test('destroy() without an error uses code 0', async () => {
    const p = await pair();
    const { client, server } = await streamPair(p, 'client', false);
    const err = firstError(server, "server stream 'error' after destroy()");
    client.destroy();
    expect(await err).toMatchObject({ code: 'ERR_QUIC_STREAM_RESET', appCode: 0 });
  });

  test('reset(code) validates its argument synchronously', async () => {
    const p = await pair();
    const s = await p.client.openStream();
    expect(() => s.reset(-1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => s.reset(1.5)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => s.reset('1' as unknown as number)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => s.stopSending(2 ** 62 as number)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});

describe('a stream reset before the peer saw any of its data', () => {
  test.each([
    ['bidi', false],
    ['uni', true],
  ])('%s: open, write, reset at once — both ends settle and no state is left', async (_kind, uni) => {
    const p = await pair();
    const seen: QuicStream[] = [];
    p.serverConn.on('stream', (s: QuicStream) => {
      seen.push(s);
      s.on('error', () => {});
      s.resume();
    });
    const s = await p.client.openStream({ unidirectional: uni as boolean });
    s.on('error', () => {});
    s.write('never mind');
    s.reset(12);
    const deadline = Date.now() + 3000;
    while (!s.closed && Date.now() < deadline) await sleep(10);
    await sleep(100);
    const state = {
      clientStreamClosed: s.closed,
      serverSawStream: seen.length,
      client: p.client.streamCounts(),
      server: p.serverConn.streamCounts(),
    };
    expect(state).toEqual({
      clientStreamClosed: true,
      serverSawStream: state.serverSawStream,
      client: { js: 0, native: 0 },
      server: { js: 0, native: 0 },
    });
    // Whatever the server saw of it (if anything) was an error, not data.
    for (const r of seen) await closed(r, "server stream 'close'");
  });
});
