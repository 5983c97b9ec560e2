// Path changes in the middle of transfers: the client's NAT gives it a new
// outside port (once, or every 200 ms) while data flows one way or both, and
// a client migrates to a new socket in the middle of many transfers in a row.
// Every transfer must complete with its data intact (sha256), and stats()
// must count the validated path changes (RFC 9000 §9).
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { QuicSocket } from '../lib';
import type { QuicConnection } from '../lib';
import { ALPN, certFor, MiB, until, withTimeout } from './helpers';
import { RebindingNat } from './support/rebinding-nat';

const creds = certFor();
const tls = { alpn: [ALPN], key: creds.key, cert: creds.cert, ca: creds.cert, serverName: 'localhost' };
/** No transfer writes more than this, whatever else happens. */
const MAX_BYTES = 256 * MiB;

const sockets: QuicSocket[] = [];
const nats: RebindingNat[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => withTimeout(s.close(), 5000, 'socket.close()')));
  await Promise.all(nats.splice(0).map((n) => n.close()));
});

async function bind(): Promise<QuicSocket> {
  const socket = await QuicSocket.bind({ address: '127.0.0.1', port: 0 });
  sockets.push(socket);
  return socket;
}

/** Writes random 1 MiB chunks (with backpressure) until `enough()`, then ends; the sha256 of what was written. */
async function pump(stream: Writable, enough: (written: number) => boolean): Promise<string> {
  const hash = createHash('sha256');
  let written = 0;
  while (!enough(written) && written < MAX_BYTES) {
    const chunk = randomBytes(MiB);
    hash.update(chunk);
    written += chunk.length;
    if (!stream.write(chunk)) await once(stream, 'drain');
  }
  stream.end();
  return hash.digest('hex');
}

/** Reads a stream to its end; the sha256 of what arrived. `progress` sees the running byte count. */
async function digest(stream: Readable, progress: (received: number) => void = () => {}): Promise<string> {
  const hash = createHash('sha256');
  let received = 0;
  for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
    hash.update(chunk as Buffer);
    received += (chunk as Buffer).length;
    progress(received);
  }
  return hash.digest('hex');
}

type Direction = 'both ways (echo)' | 'server to client' | 'client to server';

/** A server, a NAT in front of the client, and a connection through it. */
async function throughNat(direction: Direction) {
  const server = await bind();
  let serverConn: QuicConnection | undefined;
  /** What the server sent on its stream (server to client). */
  let sent: Promise<string> | undefined;
  let enough: (written: number) => boolean = () => true;
  let onReceived: (received: number) => void = () => {};
  server.listen(tls).on('connection', (conn: QuicConnection) => {
    serverConn = conn;
    conn.on('stream', (stream) => {
      if (direction === 'both ways (echo)') stream.pipe(stream);
      else if (direction === 'server to client') {
        stream.resume();
        stream.on('end', () => (sent = pump(stream, (n) => enough(n))));
      } else void digest(stream, (n) => onReceived(n)).then((hex) => stream.end(hex));
    });
  });
  const nat = await RebindingNat.create(server.address.port);
  nats.push(nat);
  const client = await bind();
  const conn = await client.connect({ ...tls, host: '127.0.0.1', port: nat.port });

  /** One transfer; `rebindWhen(received)` is called as the receiving side makes progress. */
  async function transfer(until: (written: number) => boolean, rebindWhen: (received: number) => void): Promise<void> {
    enough = until;
    onReceived = rebindWhen;
    const stream = await conn.openStream();
    if (direction === 'both ways (echo)') {
      const [written, echoed] = await Promise.all([pump(stream, until), digest(stream, rebindWhen)]);
      expect(echoed).toBe(written);
    } else if (direction === 'server to client') {
      stream.end('send');
      const received = await digest(stream, rebindWhen);
      expect(received).toBe(await sent);
    } else {
      const [written, reply] = await Promise.all([pump(stream, until), readText(stream)]);
      expect(reply).toBe(written);
    }
  }
  const serverSide = (): QuicConnection => {
    if (!serverConn) throw new Error('the server has no connection');
    return serverConn;
  };
  return { nat, conn, serverSide, transfer };
}

async function readText(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream.iterator({ destroyOnReturn: false })) text += String(chunk);
  return text;
}

const DIRECTIONS: Direction[] = ['both ways (echo)', 'server to client', 'client to server'];

describe('NAT rebinding in the middle of a transfer', () => {
  test.each(DIRECTIONS)('once, data flowing %s: the transfer completes intact on the new port', async (direction) => {
    const { nat, conn, serverSide, transfer } = await throughNat(direction);
    let rebinding: Promise<void> | undefined;
    await withTimeout(
      transfer(
        (written) => written >= 8 * MiB,
        (received) => {
          if (received >= MiB) rebinding ??= nat.rebind();
        },
      ),
      20_000,
      'transfer',
    );
    await rebinding;
    expect(nat.rebinds).toBe(1);
    // It counts once the server validated the new path (RFC 9000 §8.2),
    // which under load can come after the transfer ended.
    await until(() => serverSide().stats().pathChanges >= 1, 5000);
    expect(serverSide().stats().pathChanges).toBe(1);
    expect(serverSide().remoteAddress.port).toBe(nat.outsidePorts[1]);
    // A NAT rebinding is invisible to the client: its own path never changed.
    expect(conn.stats().pathChanges).toBe(0);
  });

  test.each(DIRECTIONS)('every 200 ms, data flowing %s: the transfer completes intact', async (direction) => {
    const { nat, conn, serverSide, transfer } = await throughNat(direction);
    let started = false;
    await withTimeout(
      transfer(
        // At least four rebindings happen during the transfer, however fast it runs.
        (written) => written >= 8 * MiB && nat.rebinds >= 4,
        (received) => {
          if (!started && received >= 256 * 1024) {
            started = true;
            nat.rebindEvery(200);
          }
        },
      ),
      60_000,
      'transfer',
    );
    await nat.stop();
    const changes = serverSide().stats().pathChanges;
    expect(changes).toBeGreaterThanOrEqual(1);
    expect(changes).toBeLessThanOrEqual(nat.rebinds);
    // The connection goes on from the last outside port.
    await withTimeout(transfer((written) => written >= MiB, () => {}), 10_000, 'transfer after the rebindings');
    expect(serverSide().remoteAddress.port).toBe(nat.outsidePorts[nat.outsidePorts.length - 1]);
    expect(conn.stats().pathChanges).toBe(0);
  }, 90_000); // beyond the transfer bounds above (60 s + 10 s), so that they report
});

describe('migrate() in the middle of transfers', () => {
  test('ten 4 MiB echoes in a row, each migrating to a new socket halfway: all complete intact', async () => {
    const server = await bind();
    let serverConn: QuicConnection | undefined;
    server.listen(tls).on('connection', (conn: QuicConnection) => {
      serverConn = conn;
      conn.on('stream', (stream) => stream.pipe(stream));
    });
    let socket = await bind();
    const conn = await socket.connect({ ...tls, host: '127.0.0.1', port: server.address.port });
    const transfers = 10;
    for (let i = 0; i < transfers; i++) {
      const stream = await conn.openStream();
      const next = await bind();
      let moved = false;
      const [written, echoed] = await withTimeout(
        Promise.all([
          pump(stream, (n) => n >= 4 * MiB),
          digest(stream, (received) => {
            if (!moved && received >= 2 * MiB) {
              moved = true;
              conn.migrate(next);
            }
          }),
        ]),
        20_000,
        `echo ${i}`,
      );
      expect(echoed).toBe(written);
      expect(conn.localAddress.port).toBe(next.address.port);
      const previous = socket;
      socket = next;
      await previous.close();
    }
    await until(() => (serverConn?.stats().pathChanges ?? 0) >= transfers && conn.stats().pathChanges >= transfers, 5000);
    expect(conn.stats().pathChanges).toBe(transfers);
    expect(serverConn?.stats().pathChanges).toBe(transfers);
    expect(serverConn?.remoteAddress.port).toBe(socket.address.port);
  });
});
