// Each direction of a stream ends on its own (RFC 9000 §3; issue #14, kind
// 2): after the application's own reset() / stopSending() / destroy() the
// stream emits no 'error' for what the peer does next; a direction nquic ends
// on its own carries STREAM_ABORTED, never the peer's code; with a 'reset' /
// 'stopSending' listener (and through toWeb()) a peer's abort ends only one
// direction, so a peer that aborted its sending side still gets its answer.
import { QuicStream, STREAM_ABORTED } from '../lib';
import { Pair, nextEvent, pair, readAll, sleep, withTimeout } from './helpers';

/** Records every 'error' the stream emits (without counting as a listener). */
function errorsOf(s: QuicStream): unknown[] {
  const seen: unknown[] = [];
  const emit = s.emit.bind(s);
  s.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'error') {
      seen.push(args[0]);
      return true; // never thrown: the test asserts on `seen`
    }
    return emit(event, ...args);
  }) as QuicStream['emit'];
  return seen;
}

function closed(s: QuicStream, label: string): Promise<void> {
  return withTimeout(new Promise<void>((r) => (s.closed ? r() : s.once('close', () => r()))), 3000, label);
}

/** A bidi stream opened by the client, seen from both ends (the server saw its first bytes). */
async function bidi(p: Pair): Promise<{ client: QuicStream; server: QuicStream }> {
  const seen = nextEvent<QuicStream>(p.serverConn, 'stream', 3000, "server 'stream'");
  const client = await p.client.openStream();
  client.write('request part 1;');
  return { client, server: await seen };
}

describe("after the application's own abort, the peer's next moves raise no 'error'", () => {
  test('reset(42): the peer answers with its default (error, destroy); our stream closes quietly and sees STREAM_ABORTED, not 42', async () => {
    const p = await pair();
    const { client, server } = await bidi(p);
    const clientErrors = errorsOf(client);
    const resets: number[] = [];
    client.on('reset', (err: { appCode: number }) => resets.push(err.appCode));
    const serverErr = nextEvent<Error>(server, 'error', 3000, "server stream 'error'");
    client.reset(42);
    expect(await serverErr).toMatchObject({ code: 'ERR_QUIC_STREAM_RESET', appCode: 42 });
    await withTimeout((async () => { while (resets.length === 0) await sleep(10); })(), 3000, "client 'reset'");
    expect(resets).toEqual([STREAM_ABORTED]);
    client.destroy();
    await closed(client, 'client stream close');
    expect(clientErrors).toEqual([]);
  });

  test('reset(42) without a listener of any kind: the client stream closes with no error (the crash of issue #14)', async () => {
    const p = await pair();
    const { client, server } = await bidi(p);
    server.on('error', () => {});
    const clientErrors = errorsOf(client);
    client.reset(42);
    await closed(client, 'client stream close');
    await sleep(50);
    expect(clientErrors).toEqual([]);
  });

  test('stopSending(5): the peer destroys its stream; our writes are dropped and nothing errors', async () => {
    const p = await pair();
    const { client, server } = await bidi(p);
    server.on('error', () => {});
    const clientErrors = errorsOf(client);
    client.resume();
    client.stopSending(5);
    await closed(server, 'server stream close');
    const cb = await withTimeout(new Promise<unknown>((r) => client.write('after the peer left', (e) => r(e ?? null))), 3000, 'write callback');
    expect(cb).toBeNull();
    client.end();
    await closed(client, 'client stream close');
    expect(clientErrors).toEqual([]);
  });

  test('destroy(): whatever the peer answers, no error', async () => {
    const p = await pair();
    const { client, server } = await bidi(p);
    const clientErrors = errorsOf(client);
    server.on('error', () => {});
    client.destroy();
    await closed(server, 'server stream close');
    await closed(client, 'client stream close');
    expect(clientErrors).toEqual([]);
  });

  test('after reset(), a connection close by the peer raises no error on the stream either', async () => {
    const p = await pair();
    const { client, server } = await bidi(p);
    server.on('error', () => {});
    server.on('reset', () => {});
    const clientErrors = errorsOf(client);
    client.reset(3);
    await sleep(50);
    await p.serverConn.close({ code: 17 });
    await closed(client, 'client stream close');
    expect(clientErrors).toEqual([]);
  });
});

describe('a direction nquic ends on its own never echoes the peer code', () => {
  test("the peer's STOP_SENDING destroys a stream that listens for neither event: its receive side is stopped with STREAM_ABORTED", async () => {
    const p = await pair();
    const { client, server } = await bidi(p);
    const serverErr = nextEvent<Error>(server, 'error', 3000, "server stream 'error'");
    const stops: number[] = [];
    client.on('stopSending', (err: { appCode: number }) => stops.push(err.appCode));
    client.on('error', () => {});
    client.resume();
    server.write('response part 1;');
    client.stopSending(64);
    expect(await serverErr).toMatchObject({ code: 'ERR_QUIC_STREAM_STOPPED', appCode: 64 });
    await withTimeout((async () => { while (stops.length === 0) await sleep(10); })(), 3000, "client 'stopSending'");
    expect(stops).toEqual([STREAM_ABORTED]);
  });
});

describe('half-close with a listener: one direction ends, the other carries on', () => {
  test("a peer that resets its sending side still receives the whole response ('reset' listener)", async () => {
    const p = await pair();
    const { client, server } = await bidi(p);
    const serverErrors = errorsOf(server);
    const clientErrors = errorsOf(client);
    const response = Buffer.alloc(300 * 1024, 7);
    server.on('reset', (err: { appCode: number }) => {
      expect(err.appCode).toBe(42);
      server.end(response); // answer anyway
    });
    const request = readAll(server);
    const reply = readAll(client);
    await sleep(20);
    client.reset(42);
    expect((await withTimeout(request, 3000, 'server read ends')).toString()).toBe('request part 1;');
    expect((await withTimeout(reply, 5000, 'client reads the response')).equals(response)).toBe(true);
    await closed(server, 'server stream close');
    await closed(client, 'client stream close');
    expect({ serverErrors, clientErrors }).toEqual({ serverErrors: [], clientErrors: [] });
  });

  test("STOP_SENDING with a 'stopSending' listener ends only the writable side: the stream still reads to the end", async () => {
    const p = await pair();
    const { client, server } = await bidi(p);
    const clientErrors = errorsOf(client);
    const stopped = nextEvent<{ code: string; appCode: number }>(client, 'stopSending', 3000, "client 'stopSending'");
    const reply = readAll(client);
    server.stopSending(9);
    expect(await stopped).toMatchObject({ code: 'ERR_QUIC_STREAM_STOPPED', appCode: 9 });
    const cb = await withTimeout(new Promise<unknown>((r) => client.write('discarded', (e) => r(e ?? null))), 3000, 'write callback');
    expect(cb).toBeNull();
    server.end('the answer');
    expect((await withTimeout(reply, 3000, 'client reads the answer')).toString()).toBe('the answer');
    client.end();
    await closed(client, 'client stream close');
    expect(clientErrors).toEqual([]);
  });

  test('toWeb(): a peer reset errors the readable while the writable still delivers', async () => {
    const p = await pair();
    const { client, server } = await bidi(p);
    const { readable, writable } = server.toWeb();
    const reader = readable.getReader();
    expect(Buffer.from((await reader.read()).value!).toString()).toBe('request part 1;');
    const reply = readAll(client);
    client.reset(13);
    await expect(withTimeout(reader.read(), 3000, 'web read after reset')).rejects.toMatchObject({ code: 'ERR_QUIC_STREAM_RESET', appCode: 13 });
    const writer = writable.getWriter();
    await writer.write(new TextEncoder().encode('still answering'));
    await writer.close();
    expect((await withTimeout(reply, 3000, 'client reads the answer')).toString()).toBe('still answering');
  });

  test("toWeb(): a peer's STOP_SENDING errors the writable while the readable still reads", async () => {
    const p = await pair();
    const { client, server } = await bidi(p);
    const { readable, writable } = client.toWeb();
    const writer = writable.getWriter();
    server.stopSending(21);
    await expect(
      withTimeout(
        (async () => {
          for (let i = 0; i < 200; i++) {
            await writer.write(new TextEncoder().encode('more;'));
            await sleep(5);
          }
        })(),
        5000,
        'web writes after STOP_SENDING',
      ),
    ).rejects.toMatchObject({ code: 'ERR_QUIC_STREAM_STOPPED', appCode: 21 });
    server.end('bye');
    const reader = readable.getReader();
    const chunks: Buffer[] = [];
    for (;;) {
      const { done, value } = await withTimeout(reader.read(), 3000, 'web read');
      if (done) break;
      chunks.push(Buffer.from(value));
    }
    expect(Buffer.concat(chunks).toString()).toBe('bye');
  });
});
