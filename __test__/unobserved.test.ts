// Nothing a peer does can raise an 'error' on an object the application was
// never handed (issue #14, kind 1). A peer-opened stream on a connection with
// no 'stream' listener is refused (STOP_SENDING / RESET_STREAM with
// STREAM_REFUSED, counted in stats().streamsRefused); streams that arrive
// before the application has the connection wait for it.
//
// The matrix of peer actions runs in a child process of its own
// (support/peer-actions-child.js, loading lib/ as jest does) so that every
// uncaught exception is counted process-wide; the rest runs here.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { QuicStream, STREAM_REFUSED, connect } from '../lib';
import { certFor, connectTo, nextEvent, pair, readAll, sleep, startServer, trackClient, withTimeout, type QuicConnection } from './helpers';

const LIB = path.resolve(__dirname, '..', 'lib', 'index.ts');
const CHILD = path.join(__dirname, 'support', 'peer-actions-child.js');

interface ScenarioResult {
  name: string;
  uncaught: string[];
  peerCodes?: Array<number | string>;
  refused?: number;
  error?: string;
  [key: string]: unknown;
}

function runMatrix(): Promise<ScenarioResult[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CHILD, LIB], { timeout: 120000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const results = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as ScenarioResult);
      if (err && results.length === 0) reject(new Error(`peer-actions child failed: ${err.message}\n${stderr}`));
      else resolve(results);
    });
  });
}

describe('peer actions against apps that listen to nothing beyond connection (child process)', () => {
  let results: ScenarioResult[] = [];
  beforeAll(async () => {
    results = await runMatrix();
  }, 130000);

  const names = [
    'client opens a bidi stream and writes',
    'client opens a uni stream, writes and ends',
    'client writes, then resets',
    'client writes, then stops sending',
    'client writes, then closes the connection cleanly',
    'client writes, then closes with an application error',
    'client floods 300 streams (end, reset, stopSending)',
    'client vanishes: the server idles out',
    'no listener at all: client writes then resets',
    'no listener at all: client writes then closes',
    'no listener at all: client vanishes, the server idles out',
    '0-RTT stream data on a resumed connection',
    'streams arriving while the server closes',
    'connection refused by verify, client writes early',
    'streams on a connection to a relay',
    'streams on a relayed connection to a passive target',
    'server opens a bidi stream and writes',
    'server opens a uni stream, writes and ends',
    'server writes, then resets',
    'server writes, then closes the connection',
    'server floods 300 streams',
    'server vanishes: the client idles out',
  ];

  test.each(names)('%s: no uncaught exception', (name) => {
    const r = results.find((x) => x.name === name);
    expect(r).toBeDefined();
    expect({ name, uncaught: r!.uncaught, error: r!.error }).toEqual({ name, uncaught: [], error: undefined });
  });

  test('refused streams are counted, and the peer sees STREAM_REFUSED (not its own code)', () => {
    const by = (name: string): ScenarioResult => results.find((x) => x.name === name)!;
    for (const name of ['client opens a bidi stream and writes', 'client writes, then resets', 'client writes, then stops sending', 'server opens a bidi stream and writes']) {
      expect({ name, refused: by(name).refused }).toEqual({ name, refused: 1 });
    }
    expect(by('client opens a bidi stream and writes').peerCodes).toEqual([STREAM_REFUSED]);
    expect(by('server opens a bidi stream and writes').peerCodes).toEqual([STREAM_REFUSED]);
    expect(by('client floods 300 streams (end, reset, stopSending)').refused).toBe(301); // and the scenario's first stream
    expect(by('0-RTT stream data on a resumed connection')).toMatchObject({ resumed: true, refused: 1, peerCodes: [STREAM_REFUSED] });
    expect(by('streams on a connection to a relay').refused).toBe(4);
    expect(by('streams on a relayed connection to a passive target').refused).toBe(4);
    expect(by('connection refused by verify, client writes early')).toMatchObject({ connections: 0, closeCode: 'ERR_QUIC_CERT_REJECTED' });
    expect(by('client vanishes: the server idles out').serverConnections).toBe(0);
    expect(by('no listener at all: client vanishes, the server idles out').serverConnections).toBe(0);
  });
});

describe('peer-opened streams nobody listens for', () => {
  test('are refused with STREAM_REFUSED in both directions and leave no state behind', async () => {
    const { client, serverConn } = await pair();
    const s = await client.openStream();
    const err = nextEvent<Error & { appCode?: number }>(s, 'error', 3000, "client stream 'error'");
    s.write('anyone there?');
    expect(await err).toMatchObject({ code: expect.stringMatching(/^ERR_QUIC_STREAM_(RESET|STOPPED)$/), appCode: STREAM_REFUSED });
    expect(serverConn.stats().streamsRefused).toBe(1);
    const deadline = Date.now() + 2000;
    while (serverConn.streamCounts().native !== 0 && Date.now() < deadline) await sleep(10);
    expect(serverConn.streamCounts()).toEqual({ js: 0, native: 0 });
  });

  test("a 'stream' listener added later gets the streams opened after it", async () => {
    const { client, serverConn } = await pair();
    const first = await client.openStream({ unidirectional: true });
    first.on('error', () => {});
    first.end('refused');
    const deadline = Date.now() + 2000;
    while (serverConn.stats().streamsRefused === 0 && Date.now() < deadline) await sleep(10);
    expect(serverConn.stats().streamsRefused).toBe(1);
    const seen = nextEvent<QuicStream>(serverConn, 'stream', 3000, "server 'stream'");
    const second = await client.openStream({ unidirectional: true });
    second.end('accepted');
    expect((await readAll(await seen)).toString()).toBe('accepted');
  });
});

describe('streams that arrive before the application has the connection wait for it', () => {
  test('server: a connection taken from the async iterator gets the streams its client opened at once', async () => {
    const creds = certFor();
    const server = await startServer(creds);
    const got = (async () => {
      for await (const conn of server) {
        const stream = await nextEvent<QuicStream>(conn, 'stream', 3000, "'stream' on the iterated connection");
        return { data: (await readAll(stream)).toString(), refused: conn.stats().streamsRefused };
      }
      return undefined;
    })();
    const client = await connectTo(server, creds.cert);
    const s = await client.openStream({ unidirectional: true });
    s.end('sent before the server app had the connection');
    expect(await withTimeout(got, 5000, 'server reading')).toEqual({ data: 'sent before the server app had the connection', refused: 0 });
  });

  test('server: a connection queued (no listener, no iterator yet) keeps its streams until it is taken', async () => {
    const creds = certFor();
    const server = await startServer(creds);
    const client = await connectTo(server, creds.cert);
    const s = await client.openStream({ unidirectional: true });
    s.end('waiting in the queue');
    await sleep(200);
    const iterator = server[Symbol.asyncIterator]();
    const { value: conn } = await withTimeout(iterator.next(), 3000, 'iterator.next()');
    const stream = await nextEvent<QuicStream>(conn as QuicConnection, 'stream', 3000, "'stream' on the dequeued connection");
    expect((await readAll(stream)).toString()).toBe('waiting in the queue');
  });

  test('server: 0-RTT stream data that arrives with the handshake reaches the iterated connection', async () => {
    const creds = certFor();
    const server = await startServer(creds, { earlyData: true });
    server.on('connection', () => {});
    const first = await connectTo(server, creds.cert);
    const ticket = first.sessionTicket ?? (await nextEvent<Uint8Array>(first, 'sessionTicket', 3000));
    await first.close();
    server.removeAllListeners('connection');
    const got = (async () => {
      for await (const conn of server) {
        if (!conn.resumed) continue;
        const stream = await nextEvent<QuicStream>(conn, 'stream', 3000, "'stream' on the resumed connection");
        return (await readAll(stream)).toString();
      }
      return undefined;
    })();
    const client = await connectTo(server, creds.cert, { sessionTicket: ticket, earlyData: true });
    const s = await client.openStream({ unidirectional: true });
    s.end('0-RTT');
    expect(await withTimeout(got, 5000, 'server reading')).toBe('0-RTT');
    expect(client.earlyDataAccepted).toBe(true);
  });

  test('client: a stream the server opens at once reaches a listener added after connect() resolved', async () => {
    const creds = certFor();
    const server = await startServer(creds);
    server.on('connection', (conn: QuicConnection) => {
      void conn.openStream({ unidirectional: true }).then((s) => s.end('pushed by the server'));
    });
    const client = trackClient(await connect({ host: '127.0.0.1', port: server.address.port, alpn: ['test'], ca: creds.cert, serverName: 'localhost' }));
    const stream = await nextEvent<QuicStream>(client, 'stream', 3000, "client 'stream'");
    expect((await readAll(stream)).toString()).toBe('pushed by the server');
    expect(client.stats().streamsRefused).toBe(0);
  });

  test("a stream reset before the application had the connection is handed out, then reports the reset", async () => {
    const creds = certFor();
    const server = await startServer(creds);
    const client = await connectTo(server, creds.cert);
    const s = await client.openStream();
    s.on('error', () => {});
    s.write('partial');
    await sleep(50);
    s.reset(77);
    await sleep(150);
    const { value: conn } = await withTimeout(server[Symbol.asyncIterator]().next(), 3000, 'iterator.next()');
    const stream = await nextEvent<QuicStream>(conn as QuicConnection, 'stream', 3000, "'stream' on the dequeued connection");
    const err = await nextEvent<Error>(stream, 'error', 3000, "'error' of the reset stream");
    expect(err).toMatchObject({ code: 'ERR_QUIC_STREAM_RESET', appCode: 77 });
  });
});
