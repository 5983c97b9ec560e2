// Peer-to-peer sockets: one socket serving and dialing, simultaneous dial,
// many connections on one socket, raw/STUN/punch datagrams beside QUIC,
// IPv6 and dual-stack, and a NAT rebinding in the middle of a transfer.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isStunBindingRequest, QuicSocket, stunBindingResponse } from '../lib';
import type { QuicConnection, QuicStream } from '../lib';
import { ALPN, certFor, MiB, readAll, sha256Hex, sleep, trackDgram, withTimeout } from './helpers';

const sockets: QuicSocket[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => withTimeout(s.close(), 5000, 'socket.close()')));
});

async function bind(address = '127.0.0.1'): Promise<QuicSocket> {
  const socket = await QuicSocket.bind({ address, port: 0 });
  sockets.push(socket);
  return socket;
}

function echo(conn: QuicConnection): void {
  conn.on('stream', (s: QuicStream) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => s.end(Buffer.concat(chunks)));
  });
  conn.on('datagram', (d: Uint8Array) => conn.sendDatagram(d));
}

async function roundTrip(conn: QuicConnection, payload: Buffer): Promise<Buffer> {
  const s = await conn.openStream();
  s.end(payload);
  return withTimeout(readAll(s), 10_000, 'echo');
}

const creds = certFor();
const tls = { alpn: [ALPN], key: creds.key, cert: creds.cert, ca: creds.cert, serverName: 'localhost' };

describe('peer-to-peer sockets', () => {
  test('two sockets that both listen dial each other at once; each sees the other listening port', async () => {
    const a = await bind();
    const b = await bind();
    for (const s of [a, b]) s.listen(tls).on('connection', echo);
    const [ab, ba] = await withTimeout(
      Promise.all([
        a.connect({ ...tls, host: '127.0.0.1', port: b.address.port }),
        b.connect({ ...tls, host: '127.0.0.1', port: a.address.port }),
      ]),
      5000,
      'simultaneous dial',
    );
    expect(ab.remoteAddress.port).toBe(b.address.port);
    expect(ba.remoteAddress.port).toBe(a.address.port);
    expect(ab.localAddress.port).toBe(a.address.port);
    expect((await roundTrip(ab, Buffer.from('a to b'))).toString()).toBe('a to b');
    expect((await roundTrip(ba, Buffer.from('b to a'))).toString()).toBe('b to a');
  });

  test('100 connections share one client socket and all echo', async () => {
    const server = await bind();
    server.listen(tls).on('connection', echo);
    const client = await bind();
    const conns = await withTimeout(
      Promise.all(Array.from({ length: 100 }, () => client.connect({ ...tls, host: '127.0.0.1', port: server.address.port }))),
      15_000,
      '100 connects',
    );
    expect(new Set(conns.map((c) => c.localAddress.port))).toEqual(new Set([client.address.port]));
    const replies = await withTimeout(
      Promise.all(conns.map((c, i) => roundTrip(c, Buffer.from(`connection ${i}`)))),
      15_000,
      '100 echoes',
    );
    replies.forEach((r, i) => expect(r.toString()).toBe(`connection ${i}`));
    expect(client.nativeConnectionCount).toBe(100);
  });

  test('raw, STUN and punch datagrams reach their events while a transfer on the same socket stays intact', async () => {
    const server = await bind();
    server.listen(tls).on('connection', echo);
    const client = await bind();
    const conn = await client.connect({ ...tls, host: '127.0.0.1', port: server.address.port });

    const messages: string[] = [];
    const punches: number[] = [];
    client.on('message', (d: Buffer) => messages.push(d.toString('latin1')));
    client.on('punch', (from: { port: number }) => punches.push(from.port));
    // A STUN responder on the server socket, as a rendezvous peer would run.
    server.on('message', (d: Buffer, from: { address: string; port: number; family: 'IPv4' | 'IPv6' }) => {
      if (isStunBindingRequest(d)) void server.send(stunBindingResponse(d, from), from.port, from.address);
    });

    const payload = randomBytes(4 * MiB);
    const transfer = roundTrip(conn, payload);
    const other = trackDgram(dgram.createSocket('udp4'));
    await new Promise<void>((r) => other.bind(0, '127.0.0.1', () => r()));
    const mapped = await client.stun(server.address.port, '127.0.0.1', { timeout: 3000 });
    // Application datagrams keep the QUIC fixed bit (0x40) clear.
    for (let i = 0; i < 20; i++) other.send(Buffer.from(`\x10raw ${i}`, 'latin1'), client.address.port, '127.0.0.1');
    await server.punch(client.address.port, '127.0.0.1', { count: 3, interval: 5 });
    await client.send(Buffer.from('\x10not quic', 'latin1'), server.address.port, '127.0.0.1');

    const echoed = await transfer;
    expect(sha256Hex(echoed)).toBe(sha256Hex(payload));
    expect(mapped).toEqual({ address: '127.0.0.1', port: client.address.port, family: 'IPv4' });
    const deadline = Date.now() + 2000;
    while ((messages.length < 20 || punches.length < 3) && Date.now() < deadline) await sleep(10);
    expect(messages.filter((m) => m.startsWith('\x10raw ')).length).toBe(20);
    expect(punches).toEqual([server.address.port, server.address.port, server.address.port]);
  });

  test('punch({ ttl }) toward an IPv4 peer from a dual-stack socket: a per-packet TTL on Linux; elsewhere refused, never sent at full TTL', async () => {
    const rx = trackDgram(dgram.createSocket('udp4'));
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
    let punches = 0;
    rx.on('message', () => punches++);
    const dual = await bind('::');
    if (process.platform === 'linux') {
      // The TTL each packet carries is checked natively (src/io/ttl_send.rs)
      // and by a router in integration/dial-nat.test.ts.
      await dual.punch(rx.address().port, '127.0.0.1', { ttl: 2, count: 2, interval: 1 });
      const deadline = Date.now() + 2000;
      while (punches < 2 && Date.now() < deadline) await sleep(5);
      expect(punches).toBe(2);
    }
    // Without the per-packet path (NQUIC_TTL_SEND=0, or not Linux) it is refused.
    process.env.NQUIC_TTL_SEND = '0';
    let portable;
    try {
      portable = await bind('::');
    } finally {
      delete process.env.NQUIC_TTL_SEND;
    }
    expect(() => portable.punch(9, '127.0.0.1', { ttl: 2 })).toThrow(expect.objectContaining({ code: 'ERR_QUIC_TTL_UNSUPPORTED' }));
    await expect(portable.punch(portable.address.port, '::1', { ttl: 2, count: 1 })).resolves.toBeUndefined();
  });

  test('stun() times out with ERR_QUIC_STUN_TIMEOUT when nobody answers', async () => {
    const client = await bind();
    const silent = trackDgram(dgram.createSocket('udp4'));
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    const started = Date.now();
    await expect(client.stun(silent.address().port, '127.0.0.1', { timeout: 400 })).rejects.toMatchObject({ code: 'ERR_QUIC_STUN_TIMEOUT' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
  });

  test('IPv6 loopback and dual-stack sockets connect, and addresses are reported normalised', async () => {
    const v6 = await bind('::1');
    v6.listen(tls).on('connection', echo);
    const v6client = await bind('::1');
    const c6 = await v6client.connect({ ...tls, host: '::1', port: v6.address.port });
    expect(c6.remoteAddress).toEqual({ address: '::1', port: v6.address.port, family: 'IPv6' });
    expect((await roundTrip(c6, Buffer.from('over v6'))).toString()).toBe('over v6');

    const dual = await bind('::');
    dual.listen(tls).on('connection', echo);
    const v4client = await bind('127.0.0.1');
    const c4 = await v4client.connect({ ...tls, host: '127.0.0.1', port: dual.address.port });
    expect((await roundTrip(c4, Buffer.from('v4 to dual'))).toString()).toBe('v4 to dual');
    const dualClient = await bind('::');
    const seen = await withTimeout(dualClient.connect({ ...tls, host: '127.0.0.1', port: dual.address.port }), 5000, 'dual-stack connect');
    // A dual-stack socket reaching an IPv4 peer reports it as IPv4, not ::ffff:.
    expect(seen.remoteAddress).toEqual({ address: '127.0.0.1', port: dual.address.port, family: 'IPv4' });
  });

  test('a NAT rebinding in the middle of a transfer (the client’s source port changes) does not break it', async () => {
    const server = await bind();
    server.listen(tls).on('connection', echo);
    const serverPort = server.address.port;
    // A relay stands in for the client's NAT: it forwards the client's
    // packets from one public port, then switches to a new one.
    const front = trackDgram(dgram.createSocket('udp4'));
    await new Promise<void>((r) => front.bind(0, '127.0.0.1', () => r()));
    let backs = [trackDgram(dgram.createSocket('udp4'))];
    let clientPort = 0;
    const wire = (back: dgram.Socket): void => {
      back.on('message', (msg) => front.send(msg, clientPort, '127.0.0.1'));
    };
    await new Promise<void>((r) => backs[0].bind(0, '127.0.0.1', () => r()));
    wire(backs[0]);
    front.on('message', (msg, rinfo) => {
      clientPort = rinfo.port;
      backs[backs.length - 1].send(msg, serverPort, '127.0.0.1');
    });
    const client = await bind();
    const conn = await client.connect({ ...tls, host: '127.0.0.1', port: front.address().port });
    const payload = randomBytes(4 * MiB);
    const transfer = roundTrip(conn, payload);
    await sleep(30);
    const rebound = trackDgram(dgram.createSocket('udp4'));
    await new Promise<void>((r) => rebound.bind(0, '127.0.0.1', () => r()));
    wire(rebound);
    backs = [...backs, rebound];
    const echoed = await transfer;
    expect(sha256Hex(echoed)).toBe(sha256Hex(payload));
    expect((await roundTrip(conn, Buffer.from('after rebinding'))).toString()).toBe('after rebinding');
  });
});

describe('connection migration', () => {
  test('a client moves its connection to another local socket between transfers; the server follows the new path', async () => {
    const server = await bind();
    let serverConn: QuicConnection | undefined;
    server.listen(tls).on('connection', (c: QuicConnection) => {
      serverConn = c;
      echo(c);
    });
    const first = await bind();
    const second = await bind();
    const conn = await first.connect({ ...tls, host: '127.0.0.1', port: server.address.port });
    const before = randomBytes(1 * MiB);
    expect(sha256Hex(await roundTrip(conn, before))).toBe(sha256Hex(before));
    conn.migrate(second);
    expect(conn.socket).toBe(second);
    expect(conn.localAddress.port).toBe(second.address.port);
    const after = randomBytes(2 * MiB);
    expect(sha256Hex(await roundTrip(conn, after))).toBe(sha256Hex(after));
    expect(serverConn?.remoteAddress.port).toBe(second.address.port);
    expect(first.nativeConnectionCount).toBe(0);
    expect(() => serverConn?.migrate(first)).toThrow(expect.objectContaining({ code: 'ERR_QUIC_INVALID_STREAM_STATE' }));
  });
});

describe('socket faults', () => {
  test('a failing send (EMSGSIZE) and an unreachable peer family neither crash nor disturb the other connections on the socket', async () => {
    const server = await bind();
    server.listen(tls).on('connection', echo);
    const client = await bind('127.0.0.1');
    const errors: Error[] = [];
    client.on('error', (err: Error) => errors.push(err));
    const conn = await client.connect({ ...tls, host: '127.0.0.1', port: server.address.port });

    // A raw datagram larger than UDP allows is refused with its errno.
    await expect(client.send(Buffer.alloc(70_000), server.address.port, '127.0.0.1')).rejects.toMatchObject({ code: 'EMSGSIZE' });
    // An IPv6 peer cannot be reached from an IPv4 socket: that attempt fails
    // (handshake timeout, send errors go to the socket's 'error'), nothing else does.
    const doomed = client.connect({ ...tls, host: '::1', port: server.address.port, timeout: 500 });
    await expect(doomed).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_QUIC_/) });

    expect((await roundTrip(conn, Buffer.from('still fine'))).toString()).toBe('still fine');
    for (const err of errors) expect(err).toHaveProperty('code');
  });
});
