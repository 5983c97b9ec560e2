import { randomBytes } from 'node:crypto';
import { QuicError } from '../lib';
import {
  MiB,
  QuicStream,
  nextEvent,
  pair,
  readAll,
  sha256Hex,
  withTimeout,
} from './helpers';

describe('QuicStream', () => {
  test('a 4 MiB buffer echoed over a bidirectional stream arrives byte-identical', async () => {
    const { client, serverConn } = await pair();
    serverConn.on('stream', (s: QuicStream) => s.pipe(s));

    const payload = randomBytes(4 * MiB);
    const stream = await withTimeout(client.openStream(), 5000, 'openStream()');
    const received = readAll(stream, 8 * MiB);
    stream.end(payload);
    const echoed = await withTimeout(received, 20000, 'reading the 4 MiB echo');

    expect(echoed.length).toBe(payload.length);
    expect(sha256Hex(echoed)).toBe(sha256Hex(payload));
    expect(echoed.equals(payload)).toBe(true);
  });

  test('end(chunk) ends with its chunk last, also behind writes that flow control holds back, corked writes and a string chunk', async () => {
    // A small window: the first write waits for credit, so end()'s chunk queues behind it.
    const { client, serverConn } = await pair({ server: { streamWindow: 64 * 1024 } });
    const got = new Map<number, Promise<Buffer>>();
    serverConn.on('stream', (s: QuicStream) => {
      got.set(s.id, readAll(s, 4 * MiB));
      s.end(); // no answer: both directions end, so nothing is left open at the close
    });
    const big = randomBytes(512 * 1024);
    const tail = randomBytes(1000);
    const finished: Array<Promise<unknown>> = [];
    const open = async (): Promise<QuicStream> => {
      const s = await client.openStream();
      s.resume();
      finished.push(withTimeout(new Promise((r) => s.once('finish', r)), 10_000, `finish of stream ${s.id}`));
      finished.push(withTimeout(new Promise((r) => s.once('close', r)), 10_000, `close of stream ${s.id}`));
      return s;
    };
    const blocked = await open();
    blocked.write(big);
    blocked.end(tail);
    const corked = await open();
    corked.cork();
    corked.write(Buffer.from('a'));
    corked.write(Buffer.from('b'));
    corked.end(Buffer.from('c'));
    const text = await open();
    text.end('text', 'utf8');
    const alone = await open();
    alone.end(tail);
    await Promise.all(finished);
    const deadline = Date.now() + 5000;
    while (got.size < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(await withTimeout(got.get(blocked.id)!, 10_000, 'blocked')).toEqual(Buffer.concat([big, tail]));
    expect((await got.get(corked.id)!).toString()).toBe('abc');
    expect((await got.get(text.id)!).toString()).toBe('text');
    expect(await got.get(alone.id)!).toEqual(tail);
  });

  test('unidirectional streams: client -> server arrives intact, server replies on its own uni stream', async () => {
    const { client, serverConn } = await pair();
    const request = randomBytes(200 * 1024);

    // Server: read the client's uni stream, answer with its SHA-256 + the bytes reversed.
    const serverSaw = new Promise<{ id: number; data: Buffer }>((resolve, reject) => {
      serverConn.once('stream', (s: QuicStream) => {
        readAll(s, 1 * MiB)
          .then(async (data) => {
            const reply = await serverConn.openStream({ unidirectional: true });
            reply.end(Buffer.concat([Buffer.from(sha256Hex(data), 'hex'), Buffer.from(data).reverse()]));
            resolve({ id: s.id, data });
          })
          .catch(reject);
      });
    });
    const replyStream = nextEvent<QuicStream>(client, 'stream', 10000, "client 'stream' event (server's uni reply)");

    const out = await withTimeout(client.openStream({ unidirectional: true }), 5000, 'openStream({ unidirectional })');
    expect(out.bidirectional).toBe(false);
    expect(out.initiator).toBe('local');
    expect(out.id).toBe(2); // first client-initiated unidirectional stream
    out.end(request);

    const { id, data } = await withTimeout(serverSaw, 10000, 'server reading the uni stream');
    expect(id).toBe(2);
    expect(data.length).toBe(request.length);
    expect(data.equals(request)).toBe(true);

    const back = await replyStream;
    expect(back.bidirectional).toBe(false);
    expect(back.initiator).toBe('remote');
    expect(back.id).toBe(3); // first server-initiated unidirectional stream
    const reply = await withTimeout(readAll(back, 1 * MiB), 10000, "reading the server's uni reply");
    expect(reply.length).toBe(32 + request.length);
    expect(reply.subarray(0, 32).toString('hex')).toBe(sha256Hex(request));
    expect(reply.subarray(32).equals(Buffer.from(request).reverse())).toBe(true);
  });

  test('stream id, bidirectional and initiator are right on both sides', async () => {
    const { client, serverConn } = await pair();
    const seenByServer: Array<{ id: number; bidirectional: boolean; initiator: string; data: string }> = [];
    const allSeen = new Promise<void>((resolve, reject) => {
      serverConn.on('stream', (s: QuicStream) => {
        const info = { id: s.id, bidirectional: s.bidirectional, initiator: s.initiator };
        readAll(s, 1024)
          .then((data) => {
            seenByServer.push({ ...info, data: data.toString() });
            if (s.bidirectional) s.end(`ack ${info.id}`);
            if (seenByServer.length === 5) resolve();
          })
          .catch(reject);
      });
    });

    const opened: QuicStream[] = [];
    for (const uni of [false, false, false, true, true]) {
      const s = await withTimeout(client.openStream({ unidirectional: uni }), 5000, 'openStream()');
      opened.push(s);
      s.end(`hello from ${s.id}`);
    }
    expect(opened.map((s) => s.id)).toEqual([0, 4, 8, 2, 6]);
    expect(opened.map((s) => s.bidirectional)).toEqual([true, true, true, false, false]);
    expect(opened.every((s) => s.initiator === 'local')).toBe(true);

    await withTimeout(allSeen, 10000, 'server seeing all five streams');
    seenByServer.sort((a, b) => a.id - b.id);
    expect(seenByServer).toEqual([
      { id: 0, bidirectional: true, initiator: 'remote', data: 'hello from 0' },
      { id: 2, bidirectional: false, initiator: 'remote', data: 'hello from 2' },
      { id: 4, bidirectional: true, initiator: 'remote', data: 'hello from 4' },
      { id: 6, bidirectional: false, initiator: 'remote', data: 'hello from 6' },
      { id: 8, bidirectional: true, initiator: 'remote', data: 'hello from 8' },
    ]);

    // The bidirectional ones carry the server's answer back.
    const acks = await withTimeout(
      Promise.all(opened.slice(0, 3).map((s) => readAll(s, 1024))),
      10000,
      'reading the acks',
    );
    expect(acks.map((b) => b.toString())).toEqual(['ack 0', 'ack 4', 'ack 8']);

    // A server-initiated bidirectional stream: id 1, seen by the client as remote.
    const fromServer = nextEvent<QuicStream>(client, 'stream', 5000, "client 'stream' event");
    const sb = await withTimeout(serverConn.openStream(), 5000, 'server openStream()');
    expect(sb.id).toBe(1);
    expect(sb.bidirectional).toBe(true);
    expect(sb.initiator).toBe('local');
    sb.end('server bidi');
    const cs = await fromServer;
    expect({ id: cs.id, bidirectional: cs.bidirectional, initiator: cs.initiator }).toEqual({
      id: 1,
      bidirectional: true,
      initiator: 'remote',
    });
    expect((await withTimeout(readAll(cs, 1024), 5000, 'reading server bidi')).toString()).toBe('server bidi');
    cs.end('client answer');
    expect((await withTimeout(readAll(sb, 1024), 5000, "reading the client's answer")).toString()).toBe(
      'client answer',
    );
  });

  test('a remote unidirectional stream is read-only and a local one is write-only', async () => {
    const { client, serverConn } = await pair();
    const remote = nextEvent<QuicStream>(serverConn, 'stream', 5000, "server 'stream' event");
    const local = await withTimeout(client.openStream({ unidirectional: true }), 5000, 'openStream()');
    expect(local.readable).toBe(false);
    local.end('only one way');

    const s = await remote;
    expect(s.bidirectional).toBe(false);
    expect(s.initiator).toBe('remote');
    expect(s.writable).toBe(false);
    expect((await withTimeout(readAll(s, 1024), 5000, 'reading the uni stream')).toString()).toBe('only one way');

    // Writing anyway must fail (synchronously or through the callback), never be sent.
    s.on('error', () => {});
    const writeError = await withTimeout(
      new Promise<unknown>((resolve) => {
        try {
          s.write(Buffer.from('nope'), (err) => resolve(err ?? null));
        } catch (err) {
          resolve(err);
        }
      }),
      2000,
      'write() on a remote uni stream',
    );
    // (Node's own stream errors come from another realm than jest's `Error`.)
    expect(Object.prototype.toString.call(writeError)).toBe('[object Error]');
    expect((writeError as Error).message).toEqual(expect.any(String));

    // And nothing arrives at the client as a stream.
    let clientGotStream = false;
    client.on('stream', () => {
      clientGotStream = true;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(clientGotStream).toBe(false);
  });
  test('reset(code) makes the peer stream fail with ERR_QUIC_STREAM_RESET and appCode', async () => {
    const { client, serverConn } = await pair();
    const serverStream = nextEvent<QuicStream>(serverConn, 'stream', 5000, "server 'stream' event");
    const s = await withTimeout(client.openStream(), 5000, 'openStream()');
    s.on('error', () => {});
    s.write('partial data, then abandoned');

    const remote = await serverStream;
    const err = await withTimeout(
      new Promise<unknown>((resolve) => {
        remote.once('error', resolve);
        remote.resume();
        s.reset(7);
      }),
      5000,
      "server stream 'error' after reset(7)",
    );
    expect(err).toBeInstanceOf(QuicError);
    expect(err).toMatchObject({ code: 'ERR_QUIC_STREAM_RESET', appCode: 7 });
  });

  test('stopSending(code) makes the peer stream fail with ERR_QUIC_STREAM_STOPPED and appCode', async () => {
    const { client, serverConn } = await pair();
    const serverStream = nextEvent<QuicStream>(serverConn, 'stream', 5000, "server 'stream' event");
    const s = await withTimeout(client.openStream(), 5000, 'openStream()');
    s.write('first chunk');
    const remote = await serverStream;
    remote.on('error', () => {});

    const err = await withTimeout(
      new Promise<unknown>((resolve) => {
        s.once('error', resolve);
        remote.stopSending(9);
        // Keep writing (bounded) until the STOP_SENDING lands.
        let n = 0;
        const timer = setInterval(() => {
          if (s.destroyed || n++ >= 100) return clearInterval(timer);
          s.write(Buffer.alloc(1000, n));
        }, 10);
      }),
      5000,
      "client stream 'error' after the peer's stopSending(9)",
    );
    expect(err).toBeInstanceOf(QuicError);
    expect(err).toMatchObject({ code: 'ERR_QUIC_STREAM_STOPPED', appCode: 9 });
  });
});
