// The receive fast path (Linux: the rest of a turn's queue read natively with
// recvmmsg, lib/io/batch-recv.ts): datagrams that are not QUIC still reach
// 'message', 'punch' and stun() in arrival order with dgram's (normalised)
// addresses, QUIC traffic beside them is intact, and the fast path is really
// taken on Linux — and never with NQUIC_BATCH_RECV=0 or elsewhere.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isStunBindingRequest, QuicSocket, stunBindingResponse } from '../lib';
import type { Address } from '../lib';
import { ALPN, certFor, echoStreams, MiB, readAll, sha256Hex, sleep, trackDgram, trackServer, withTimeout } from './helpers';

const FAST_PATH = process.platform === 'linux' && process.env.NQUIC_BATCH_RECV !== '0';

async function bind(address = '127.0.0.1'): Promise<QuicSocket> {
  return trackServer(await QuicSocket.bind({ address, port: 0 }), 'socket');
}

async function rawSocket(type: 'udp4' | 'udp6', address: string): Promise<dgram.Socket> {
  const sock = trackDgram(dgram.createSocket(type));
  await new Promise<void>((resolve) => sock.bind(0, address, () => resolve()));
  return sock;
}

/** Waits (bounded) until `done()` holds. */
async function until(done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await sleep(5);
}

/** A 20-byte datagram with the QUIC fixed bit set: routed to no connection, dropped without an answer. */
function quicLooking(i: number): Buffer {
  const d = randomBytes(20);
  d[0] = 0x40 | (i & 0x3f);
  return d;
}

const creds = certFor();
const tls = { alpn: [ALPN], key: creds.key, cert: creds.cert, ca: creds.cert, serverName: 'localhost' };

describe('receive fast path', () => {
  test.each([
    ['IPv4 socket, IPv4 sender', '127.0.0.1', 'udp4', '127.0.0.1', { address: '127.0.0.1', family: 'IPv4' }],
    ['dual-stack socket, IPv4 sender', '::', 'udp4', '127.0.0.1', { address: '127.0.0.1', family: 'IPv4' }],
    ['IPv6 socket, IPv6 sender', '::1', 'udp6', '::1', { address: '::1', family: 'IPv6' }],
  ] as const)('%s: a burst of QUIC-looking and other datagrams keeps the others in order, from the normalised sender', async (_name, bindTo, type, from, expected) => {
    const socket = await bind(bindTo);
    const got: Array<{ text: string; from: Address }> = [];
    socket.on('message', (d: Buffer, rinfo: Address) => got.push({ text: d.toString('latin1'), from: rinfo }));
    const sender = await rawSocket(type, from);
    const target = bindTo === '::1' ? '::1' : '127.0.0.1';
    const want: string[] = [];
    // All sent in this turn, so they are queued before the socket reads any.
    for (let i = 0; i < 120; i++) {
      if (i % 3 === 1) {
        sender.send(quicLooking(i), socket.address.port, target);
      } else {
        const text = `\x10datagram ${i}`;
        want.push(text);
        sender.send(Buffer.from(text, 'latin1'), socket.address.port, target);
      }
    }
    await until(() => got.length >= want.length, 5000);
    expect(got.map((m) => m.text)).toEqual(want);
    const port = sender.address().port;
    for (const m of got) expect(m.from).toEqual({ ...expected, port });
    if (FAST_PATH) expect(socket._batchReceived).toBeGreaterThan(0);
    else expect(socket._batchReceived).toBe(0);
  });

  test('datagrams interleaved with a transfer on the same socket arrive in order; STUN and punches still work', async () => {
    const server = await bind();
    echoStreams(server.listen(tls));
    const client = await bind();
    const conn = await client.connect({ ...tls, host: '127.0.0.1', port: server.address.port });
    const messages: string[] = [];
    const punches: number[] = [];
    client.on('message', (d: Buffer) => messages.push(d.toString('latin1')));
    client.on('punch', (rinfo: Address) => punches.push(rinfo.port));
    server.on('message', (d: Buffer, rinfo: Address) => {
      if (isStunBindingRequest(d)) void server.send(stunBindingResponse(d, rinfo), rinfo.port, rinfo.address);
    });
    const other = await rawSocket('udp4', '127.0.0.1');
    const before = client._batchReceived;

    const payload = randomBytes(8 * MiB);
    const stream = await conn.openStream();
    const echoed = withTimeout(readAll(stream, 16 * MiB), 20_000, 'echo');
    stream.end(payload);
    // Bursts of application datagrams while the echo streams back in.
    const want: string[] = [];
    let stunned: Address | undefined;
    for (let burst = 0; burst < 20; burst++) {
      for (let i = 0; i < 10; i++) {
        const text = `\x10app ${burst}.${i}`;
        want.push(text);
        other.send(Buffer.from(text, 'latin1'), client.address.port, '127.0.0.1');
      }
      if (burst === 5) stunned = await client.stun(server.address.port, '127.0.0.1', { timeout: 3000 });
      if (burst === 10) await server.punch(client.address.port, '127.0.0.1', { count: 3, interval: 1 });
      await sleep(2);
    }
    expect(sha256Hex(await echoed)).toBe(sha256Hex(payload));
    expect(stunned).toEqual({ address: '127.0.0.1', port: client.address.port, family: 'IPv4' });
    await until(() => messages.length >= want.length && punches.length >= 3, 5000);
    expect(messages).toEqual(want);
    expect(punches).toEqual([server.address.port, server.address.port, server.address.port]);
    if (FAST_PATH) expect(client._batchReceived).toBeGreaterThan(before);
    else expect(client._batchReceived).toBe(0);
  });

  test("a 'message' handler that closes the socket ends delivery there, without an error", async () => {
    const socket = await bind();
    const errors: Error[] = [];
    socket.on('error', (err: Error) => errors.push(err));
    let seen = 0;
    let closing: Promise<void> | undefined;
    socket.on('message', () => {
      seen++;
      if (seen === 5) closing = socket.close();
    });
    const sender = await rawSocket('udp4', '127.0.0.1');
    for (let i = 0; i < 50; i++) sender.send(Buffer.from(`\x10m${i}`), socket.address.port, '127.0.0.1');
    await until(() => closing !== undefined, 5000);
    await withTimeout(closing ?? Promise.resolve(), 5000, 'close');
    await sleep(20);
    expect(seen).toBe(5);
    expect(errors).toEqual([]);
  });

  test('NQUIC_BATCH_RECV=0 turns the fast path off for sockets bound afterwards', async () => {
    const saved = process.env.NQUIC_BATCH_RECV;
    process.env.NQUIC_BATCH_RECV = '0';
    let socket: QuicSocket;
    try {
      socket = await bind();
    } finally {
      if (saved === undefined) delete process.env.NQUIC_BATCH_RECV;
      else process.env.NQUIC_BATCH_RECV = saved;
    }
    const got: string[] = [];
    socket.on('message', (d: Buffer) => got.push(d.toString()));
    const sender = await rawSocket('udp4', '127.0.0.1');
    for (let i = 0; i < 30; i++) sender.send(Buffer.from(`\x10n${i}`), socket.address.port, '127.0.0.1');
    await until(() => got.length >= 30, 5000);
    expect(got).toEqual(Array.from({ length: 30 }, (_, i) => `\x10n${i}`));
    expect(socket._batchReceived).toBe(0);
  });
});

describe('reads taken over during a transfer (UDP GRO)', () => {
  /** A server and a client socket bound with NQUIC_GRO set to `gro` (unset: undefined). */
  async function bindPair(gro: string | undefined): Promise<{ server: QuicSocket; client: QuicSocket }> {
    const saved = process.env.NQUIC_GRO;
    if (gro === undefined) delete process.env.NQUIC_GRO;
    else process.env.NQUIC_GRO = gro;
    try {
      return { server: await bind(), client: await bind() };
    } finally {
      if (saved === undefined) delete process.env.NQUIC_GRO;
      else process.env.NQUIC_GRO = saved;
    }
  }

  async function transfer(client: QuicSocket, server: QuicSocket): Promise<void> {
    const conn = await client.connect({ ...tls, host: '127.0.0.1', port: server.address.port });
    const payload = randomBytes(16 * MiB);
    const stream = await conn.openStream();
    const echoed = withTimeout(readAll(stream, 32 * MiB), 30_000, 'echo');
    stream.end(payload);
    expect(sha256Hex(await echoed)).toBe(sha256Hex(payload));
    await conn.close();
  }

  test.each([['unset (the default)', undefined], ['1', '1']])('NQUIC_GRO %s: a transfer takes the reads over, and a quiet socket gives them back to dgram', async (_name, gro) => {
    const { server, client } = await bindPair(gro);
    echoStreams(server.listen(tls));
    await transfer(client, server);
    // Both ends received long runs of packets.
    if (FAST_PATH) {
      expect(server._readsOwned.takeovers).toBeGreaterThan(0);
      expect(client._readsOwned.takeovers).toBeGreaterThan(0);
    } else {
      expect(server._readsOwned.takeovers).toBe(0);
    }
    // Once nothing arrives, the reads go back: a lone datagram is a
    // 'message' again (it would never come if dgram's reads stayed stopped).
    await until(() => !server._readsOwned.now && !client._readsOwned.now, 5000);
    expect(server._readsOwned.now).toBe(false);
    const got: string[] = [];
    server.on('message', (d: Buffer) => got.push(d.toString('latin1')));
    const sender = await rawSocket('udp4', '127.0.0.1');
    const before = server._batchReceived;
    sender.send(Buffer.from('\x10alone'), server.address.port, '127.0.0.1');
    await until(() => got.length >= 1, 5000);
    expect(got).toEqual(['\x10alone']);
    expect(server._batchReceived).toBe(before);
    // And a second transfer takes them over again.
    const takeovers = server._readsOwned.takeovers;
    await transfer(client, server);
    if (FAST_PATH) expect(server._readsOwned.takeovers).toBeGreaterThan(takeovers);
  });

  test('NQUIC_GRO=0 keeps the reads with dgram', async () => {
    const { server, client } = await bindPair('0');
    echoStreams(server.listen(tls));
    await transfer(client, server);
    expect(server._readsOwned.takeovers).toBe(0);
    expect(client._readsOwned.takeovers).toBe(0);
    if (FAST_PATH) expect(server._batchReceived).toBeGreaterThan(0);
  });
});
