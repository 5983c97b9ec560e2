// close() leaves nothing behind (issue #14, kind 4): server.close() and
// socket.close() × who owns the socket (listen(), QuicSocket.listen(), a
// socket shared with outgoing connections) × the state of a server
// connection (handshaking, waiting for a verify verdict, established,
// closing, draining); plus connections that carry relayed ones, and
// connection.close() itself. After each: every promise settled, no native
// connection left, the peer not left believing it is connected, and no
// 'connection' after the server stopped accepting.
import { generateCertificate, QuicSocket, connect } from '../lib';
import type { QuicServer } from '../lib';
import {
  ALPN,
  QuicConnection,
  QuicStream,
  certFor,
  nextEvent,
  readAll,
  sleep,
  trackServer,
  until,
  withTimeout,
} from './helpers';

const creds = certFor();
const clientId = generateCertificate({ subjectAltNames: ['client'] });

type Ownership = 'listen()' | 'QuicSocket.listen()' | 'shared socket';
type State = 'handshaking' | 'waiting for verify' | 'established' | 'closing' | 'draining';
type Closer = 'server.close()' | 'socket.close()';

/** Settles to 'resolved' / the rejection code, or 'pending' after `ms`. */
function settled(p: Promise<unknown>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => 'resolved',
      (e: { code?: string }) => `rejected ${e.code}`,
    ),
    new Promise<string>((r) => (timer = setTimeout(() => r('pending'), ms))),
  ]).finally(() => clearTimeout(timer));
}

interface World {
  server: QuicServer;
  socket: QuicSocket;
  /** An outgoing connection on the server's own socket (shared socket only). */
  outgoing?: QuicConnection;
  elsewhere?: QuicServer;
  connecting: Promise<QuicConnection>;
  serverConn?: QuicConnection;
  connectionsAfterClose: number;
  release: () => void;
}

async function build(ownership: Ownership, state: State): Promise<World> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const serverOpts = {
    alpn: [ALPN],
    key: creds.key,
    cert: creds.cert,
    ...(state === 'waiting for verify' ? { verify: async () => (await gate, true) } : {}),
  };
  let server: QuicServer;
  let socket: QuicSocket;
  if (ownership === 'listen()') {
    const { listen } = await import('../lib');
    server = await listen({ address: '127.0.0.1', port: 0, ...serverOpts });
    socket = server.socket;
    trackServer(server);
  } else {
    socket = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'socket');
    server = socket.listen(serverOpts);
  }
  const w: World = { server, socket, connecting: undefined as never, connectionsAfterClose: 0, release };
  if (ownership === 'shared socket') {
    w.elsewhere = trackServer(await (await import('../lib')).listen({ address: '127.0.0.1', port: 0, alpn: [ALPN], key: creds.key, cert: creds.cert }));
    w.elsewhere.on('connection', (c: QuicConnection) => c.on('stream', (s: QuicStream) => s.pipe(s)));
    w.outgoing = await socket.connect({ host: '127.0.0.1', port: w.elsewhere.address.port, alpn: [ALPN], ca: creds.cert, serverName: 'localhost' });
  }
  const accepted = new Promise<QuicConnection>((r) => server.once('connection', r));
  w.connecting = connect({
    host: '127.0.0.1',
    port: socket.address.port,
    alpn: [ALPN],
    ca: creds.cert,
    serverName: 'localhost',
    key: clientId.key,
    cert: clientId.cert,
    idleTimeout: 30000, // an idle-out must not be what ends the client
    ...(state === 'handshaking' ? { verify: async () => (await gate, true) } : {}),
  });
  w.connecting.catch(() => {});
  if (state === 'handshaking' || state === 'waiting for verify') {
    // The server holds the connection natively, not yet announced.
    await until(() => socket.nativeConnectionCount > (w.outgoing ? 1 : 0), 3000);
    await sleep(30);
    return w;
  }
  w.serverConn = await withTimeout(accepted, 3000, "server 'connection'");
  const client = await w.connecting;
  if (state === 'closing') void w.serverConn.close({ code: 1 });
  if (state === 'draining') {
    await client.close();
    await sleep(5);
  }
  return w;
}

describe.each<Ownership>(['listen()', 'QuicSocket.listen()', 'shared socket'])('ownership: %s', (ownership) => {
  describe.each<Closer>(['server.close()', 'socket.close()'])('%s', (closer) => {
    test.each<State>(['handshaking', 'waiting for verify', 'established', 'closing', 'draining'])(
      'with a server connection %s: nothing left behind',
      async (state) => {
        const w = await build(ownership, state);
        let closing = false;
        w.server.on('connection', () => {
          if (closing) w.connectionsAfterClose++;
        });
        closing = true;
        const closed = closer === 'server.close()' ? w.server.close() : w.socket.close();
        w.release(); // a verdict that comes after the close changes nothing
        expect(await settled(closed, 3000)).toBe('resolved');

        // The client is not left believing it is connected.
        const connectOutcome = await settled(w.connecting, 3000);
        expect(connectOutcome).not.toBe('pending');
        if (connectOutcome === 'resolved') {
          const client = await w.connecting;
          expect(await settled(client.closed, 3000)).toBe('resolved');
        }
        if (w.serverConn) expect(await settled(w.serverConn.closed, 3000)).toBe('resolved');
        expect(w.connectionsAfterClose).toBe(0);

        // Nothing native is left, except the shared socket's own outgoing connection.
        const keeps = w.outgoing && closer === 'server.close()' && ownership === 'shared socket' ? 1 : 0;
        await until(() => w.socket.nativeConnectionCount === keeps, 2000);
        expect(w.socket.nativeConnectionCount).toBe(keeps);
        if (keeps === 1) {
          // The outgoing connection still works, and the socket still dials.
          const s = await w.outgoing!.openStream();
          const back = readAll(s);
          s.end('still here');
          expect((await withTimeout(back, 3000, 'echo on the outgoing connection')).toString()).toBe('still here');
        } else if (w.outgoing) {
          expect(await settled(w.outgoing.closed, 3000)).toBe('resolved');
        }
        if (closer === 'socket.close()' || ownership === 'listen()') expect(w.socket.closed).toBe(true);
      },
    );
  });
});

describe('connections that carry relayed ones', () => {
  const RELAY_ALPN = 'relay';

  async function relayed() {
    const { listen } = await import('../lib');
    const relay = trackServer(await listen({ address: '127.0.0.1', port: 0, alpn: [RELAY_ALPN], key: creds.key, cert: creds.cert, relay: true }));
    const id = generateCertificate({ subjectAltNames: ['target'] });
    const targetSocket = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'target socket');
    const target = targetSocket.listen({ alpn: [ALPN], key: id.key, cert: id.cert });
    const targetConns: QuicConnection[] = [];
    target.on('connection', (c: QuicConnection) => {
      targetConns.push(c);
      c.on('stream', (s: QuicStream) => s.pipe(s));
    });
    const toRelay = await targetSocket.connect({ host: '127.0.0.1', port: relay.address.port, alpn: [RELAY_ALPN], ca: creds.cert, serverName: 'localhost', key: id.key, cert: id.cert });
    await toRelay.acceptRelayed();
    const dialerSocket = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'dialer socket');
    const via = await dialerSocket.connect({ host: '127.0.0.1', port: relay.address.port, alpn: [RELAY_ALPN], ca: creds.cert, serverName: 'localhost' });
    const conn = await dialerSocket.connect({ via, peer: id.fingerprint, alpn: [ALPN] });
    const s = await conn.openStream();
    const back = readAll(s);
    s.end('relayed');
    expect((await withTimeout(back, 3000, 'relayed echo')).toString()).toBe('relayed');
    return { relay, targetSocket, target, toRelay, targetConns, dialerSocket, via, conn };
  }

  test("the target's server.close(): the relayed connection ends on both ends; the target's connection to the relay stays", async () => {
    const r = await relayed();
    await withTimeout(r.target.close(), 3000, 'target server.close()');
    expect(await settled(r.conn.closed, 3000)).toBe('resolved');
    expect(await settled(r.targetConns[0].closed, 3000)).toBe('resolved');
    expect(r.toRelay.destroyed).toBe(false);
    await until(() => r.targetSocket.nativeConnectionCount === 1, 2000);
    expect(r.targetSocket.nativeConnectionCount).toBe(1);
  });

  test("the target's socket.close(): everything on it ends, and so does the dialer's relayed connection", async () => {
    const r = await relayed();
    await withTimeout(r.targetSocket.close(), 3000, 'target socket.close()');
    expect(r.targetSocket.nativeConnectionCount).toBe(0);
    expect(await settled(r.conn.closed, 3000)).toBe('resolved');
    await until(() => r.relay.relayStats().flows === 0, 3000);
    expect(r.relay.relayStats()).toEqual({ flows: 0, peers: 0 });
  });

  test("the dialer closes its connection to the relay: its relayed connection ends (ERR_QUIC_RELAY_CLOSED), so does the target's", async () => {
    const r = await relayed();
    await r.via.close();
    const info = await withTimeout(r.conn.closed, 3000, 'relayed connection closed');
    expect(info.error?.code).toBe('ERR_QUIC_RELAY_CLOSED');
    expect(await settled(r.targetConns[0].closed, 5000)).toBe('resolved');
    await until(() => r.dialerSocket.nativeConnectionCount === 0, 2000);
    expect(r.dialerSocket.nativeConnectionCount).toBe(0);
  });

  test("the relay's server.close(): both relayed ends learn (ERR_QUIC_RELAY_CLOSED) and the relay keeps nothing", async () => {
    const r = await relayed();
    await withTimeout(r.relay.close(), 3000, 'relay server.close()');
    expect((await withTimeout(r.conn.closed, 3000, 'dialer relayed closed')).error?.code).toBe('ERR_QUIC_RELAY_CLOSED');
    expect((await withTimeout(r.targetConns[0].closed, 3000, 'target relayed closed')).error?.code).toBe('ERR_QUIC_RELAY_CLOSED');
    expect(r.relay.socket.nativeConnectionCount).toBe(0);
  });
});

describe('connection.close()', () => {
  test('with open streams: both sides close, streams settle, nothing native left; close() again and after the peer closed resolves', async () => {
    const { listen } = await import('../lib');
    const server = trackServer(await listen({ address: '127.0.0.1', port: 0, alpn: [ALPN], key: creds.key, cert: creds.cert }));
    const serverStreams: QuicStream[] = [];
    server.on('connection', (c: QuicConnection) =>
      c.on('stream', (s: QuicStream) => {
        s.on('error', () => {});
        serverStreams.push(s);
      }),
    );
    const serverConnP = nextEvent<QuicConnection>(server, 'connection', 3000);
    const client = await connect({ host: '127.0.0.1', port: server.address.port, alpn: [ALPN], ca: creds.cert, serverName: 'localhost' });
    const serverConn = await serverConnP;
    const streams = await Promise.all([0, 1, 2].map((i) => client.openStream({ unidirectional: i === 2 })));
    for (const s of streams) s.write('open');
    await until(() => serverStreams.length === 3, 2000);
    const first = client.close({ code: 0 });
    const second = client.close({ code: 5 });
    expect(await settled(Promise.all([first, second]), 3000)).toBe('resolved');
    expect(await settled(serverConn.closed, 3000)).toBe('resolved');
    expect(await settled(serverConn.close(), 1000)).toBe('resolved');
    for (const s of [...streams, ...serverStreams]) await until(() => s.closed, 1000);
    expect([...streams, ...serverStreams].every((s) => s.closed)).toBe(true);
    expect(client.streamCounts()).toEqual({ js: 0, native: 0 });
    expect(serverConn.streamCounts()).toEqual({ js: 0, native: 0 });
    await until(() => server.socket.nativeConnectionCount === 0, 2000);
    expect(server.socket.nativeConnectionCount).toBe(0);
  });

  test('an AbortSignal during the handshake settles connect() and leaves nothing on either side', async () => {
    const { listen } = await import('../lib');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const server = trackServer(await listen({ address: '127.0.0.1', port: 0, alpn: [ALPN], key: creds.key, cert: creds.cert }));
    let connections = 0;
    server.on('connection', () => connections++);
    const socket = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'client socket');
    const controller = new AbortController();
    // The client's own verify hook holds its handshake open.
    const connecting = socket.connect({ host: '127.0.0.1', port: server.address.port, alpn: [ALPN], ca: creds.cert, serverName: 'localhost', verify: async () => (await gate, true), signal: controller.signal });
    await until(() => server.socket.nativeConnectionCount === 1, 2000);
    controller.abort();
    expect(await settled(connecting, 2000)).toBe('rejected ABORT_ERR');
    release();
    await until(() => socket.nativeConnectionCount === 0 && server.socket.nativeConnectionCount === 0, 3000);
    expect({ client: socket.nativeConnectionCount, server: server.socket.nativeConnectionCount, connections }).toEqual({ client: 0, server: 0, connections: 0 });
  });
});
