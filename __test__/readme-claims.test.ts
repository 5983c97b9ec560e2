// Statements of the README's Errors, Streams, Datagrams and Guarantees
// sections, and of docs/streams.md (the Streams section in full), that no
// other suite pins down (issue #14, kind 6). Each test names the statement it
// backs; the README and the guide cite the suites for the rest.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { QuicError, QuicSocket, connect, generateCertificate, listen } from '../lib';
import { FaultRelay } from './integration/fault-relay';
import {
  ALPN,
  QuicStream,
  certFor,
  connectTo,
  nextEvent,
  openssl,
  opensslAvailable,
  pair,
  pemToDer,
  readAll,
  sleep,
  startServer,
  tempDir,
  withTimeout,
} from './helpers';

const creds = certFor();
async function rejection(p: Promise<unknown>): Promise<{ code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('Errors', () => {
  test('ERR_QUIC_SERVER_EXISTS and ERR_QUIC_SOCKET_CLOSED', async () => {
    const socket = await QuicSocket.bind({ address: '127.0.0.1' });
    socket.listen({ alpn: [ALPN], key: creds.key, cert: creds.cert });
    expect(() => socket.listen({ alpn: [ALPN], key: creds.key, cert: creds.cert })).toThrow(expect.objectContaining({ code: 'ERR_QUIC_SERVER_EXISTS' }));
    await socket.close();
    expect(await rejection(socket.connect({ host: '127.0.0.1', port: 9, alpn: [ALPN] }))).toMatchObject({ code: 'ERR_QUIC_SOCKET_CLOSED' });
    expect(() => socket.listen({ alpn: [ALPN], key: creds.key, cert: creds.cert })).toThrow(expect.objectContaining({ code: 'ERR_QUIC_SOCKET_CLOSED' }));
  });

  test('ERR_QUIC_INVALID_CERTIFICATE, ERR_QUIC_INVALID_KEY', async () => {
    const otherKey = generateCertificate().key;
    const make = (opts: Record<string, unknown>) => listen({ address: '127.0.0.1', port: 0, alpn: [ALPN], ...opts } as never);
    expect(await rejection(make({ key: creds.key, cert: 'not a certificate' }))).toMatchObject({ code: 'ERR_QUIC_INVALID_CERTIFICATE' });
    expect(await rejection(make({}))).toMatchObject({ code: 'ERR_QUIC_INVALID_CERTIFICATE' }); // a server has none
    expect(await rejection(make({ key: otherKey, cert: creds.cert }))).toMatchObject({ code: 'ERR_QUIC_INVALID_KEY' });
    expect(await rejection(make({ key: 'garbage', cert: creds.cert }))).toMatchObject({ code: 'ERR_QUIC_INVALID_KEY' });
  });

  (opensslAvailable() ? test : test.skip)('ERR_QUIC_TLS: a certificate BoringSSL cannot use (DSA) cannot set up the TLS context', async () => {
    const dir = tempDir();
    openssl(['dsaparam', '-out', 'p.pem', '2048'], dir);
    openssl(['gendsa', '-out', 'k.pem', 'p.pem'], dir);
    openssl(['req', '-x509', '-new', '-key', 'k.pem', '-subj', '/CN=localhost', '-days', '2', '-out', 'c.pem'], dir);
    const key = readFileSync(path.join(dir, 'k.pem'));
    const cert = readFileSync(path.join(dir, 'c.pem'));
    expect(await rejection(listen({ address: '127.0.0.1', port: 0, alpn: [ALPN], key, cert }))).toMatchObject({ code: 'ERR_QUIC_TLS' });
  }, 30000);

  test('ERR_QUIC_CERT_INVALID: a certificate whose signature does not verify', async () => {
    const root = generateCertificate({ subjectAltNames: ['Root'], isCa: true });
    const leaf = generateCertificate({ subjectAltNames: ['localhost'], ca: root });
    const der = pemToDer(leaf.cert);
    der[der.length - 1] ^= 1;
    const server = await startServer({ key: leaf.key, cert: [der] as never, fingerprint: '' });
    expect(await rejection(connectTo(server, root.cert))).toMatchObject({ code: 'ERR_QUIC_CERT_INVALID' });
  });

  test('ERR_QUIC_CONNECTION_REFUSED: a server that stops accepting refuses a handshake in progress', async () => {
    const server = await startServer(creds);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const connecting = connectTo(server, creds.cert, { verify: async () => (await gate, true) });
    const deadline = Date.now() + 10000;
    while (server.socket.nativeConnectionCount === 0 && Date.now() < deadline) await sleep(5);
    expect(server.socket.nativeConnectionCount).toBe(1); // the handshake is in progress
    await server.close();
    // The client's verify is still pending: the refusal must end the attempt
    // by itself. (Releasing the verdict first would race the CONNECTION_CLOSE
    // waiting in the client's receive queue: a client that sends its Finished
    // is connected, RFC 9001 §4.1.1, until that close is read.)
    expect(await withTimeout(rejection(connecting), 10000, 'refusal')).toMatchObject({ code: 'ERR_QUIC_CONNECTION_REFUSED' });
    release();
  });

  test('"closed never rejects: it resolves with { code, reason, remote, application, error? }, error absent for a clean close"', async () => {
    const a = await pair();
    void a.client.close({ code: 0, reason: 'bye' });
    expect(await a.serverConn.closed).toEqual({ code: 0, reason: 'bye', remote: true, application: true });
    expect(await a.client.closed).toEqual({ code: 0, reason: 'bye', remote: false, application: true });
    const b = await pair();
    void b.client.close({ code: 9, reason: 'failed' });
    const info = await b.serverConn.closed;
    expect(info).toMatchObject({ code: 9, reason: 'failed', remote: true, application: true });
    expect(info.error).toBeInstanceOf(QuicError);
    expect(info.error).toMatchObject({ code: 'ERR_QUIC_APPLICATION_ERROR', appCode: 9 });
  });

  test('ERR_NQUIC_NATIVE_BINDING: loading the package without a usable binary names the platform', async () => {
    const loader = path.join(__dirname, 'support', 'ts-loader.js');
    const lib = path.resolve(__dirname, '..', 'lib', 'index.ts');
    // napi-rs's loader honours NAPI_RS_FORCE_WASI=error: no native binary, and there is no WASI build.
    const script = `require(${JSON.stringify(loader)}); require('@swc/core').transformSync('1', {}); process.env.NAPI_RS_FORCE_WASI = 'error';
      try { require(${JSON.stringify(lib)}); console.log('loaded'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message.split('\\n')[0] })); }`;
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['-e', script], { cwd: path.resolve(__dirname, '..'), timeout: 20000 }, (err, out) => (err ? reject(err) : resolve(out))),
    );
    const result = JSON.parse(stdout.trim()) as { code: string; message: string };
    expect(result.code).toBe('ERR_NQUIC_NATIVE_BINDING');
    expect(result.message).toMatch(/no prebuilt native binary could be loaded for \S+-\S+/);
  });

  test('"NODE_DEBUG=nquic prints debug output"', async () => {
    const script = `require(${JSON.stringify(path.join(__dirname, 'support', 'ts-loader.js'))}); const n = require(${JSON.stringify(path.resolve(__dirname, '..', 'lib', 'index.ts'))}); n.QuicSocket.bind({ address: '127.0.0.1' }).then((s) => s.close());`;
    const stderr = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['-e', script], { env: { ...process.env, NODE_DEBUG: 'nquic' }, timeout: 20000 }, (err, _out, errOut) => (err ? reject(err) : resolve(errOut))),
    );
    expect(stderr).toMatch(/NQUIC \d+: socket bound to 127\.0\.0\.1:\d+/);
  });
});

describe('Guarantees', () => {
  test('"An exception thrown by your event handler is rethrown as an uncaught exception after the batch it came from, so no other connection\'s events are lost and every timer stays armed"', async () => {
    const child = path.join(__dirname, 'support', 'peer-actions-child.js');
    const lib = path.resolve(__dirname, '..', 'lib', 'index.ts');
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [child, lib, 'an application handler that throws'], { timeout: 30000 }, (err, out) => (err ? reject(err) : resolve(out))),
    );
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(result).toMatchObject({ uncaught: ['APP_BOOM: thrown by the application'], echoed: 'echo me', idleCode: 'ERR_QUIC_IDLE_TIMEOUT' });
    expect(result.error).toBeUndefined();
  });
});

describe('Streams', () => {
  test('"Streams still open when the connection ends error with its close error"', async () => {
    const p = await pair();
    const seen = nextEvent<QuicStream>(p.serverConn, 'stream', 3000);
    const s = await p.client.openStream();
    s.write('open');
    const remote = await seen;
    const err = nextEvent<Error>(remote, 'error', 3000, "server stream 'error'");
    s.on('error', () => {});
    void p.client.close({ code: 7 });
    expect(await err).toMatchObject({ code: 'ERR_QUIC_APPLICATION_ERROR', appCode: 7 });
  });

  test('"a clean local close() ends them without an error"', async () => {
    const p = await pair();
    p.serverConn.on('stream', (s: QuicStream) => s.on('error', () => {}));
    const s = await p.client.openStream();
    s.write('open');
    const errors: unknown[] = [];
    s.on('error', (e) => errors.push(e));
    await p.client.close();
    await withTimeout(new Promise<void>((r) => (s.closed ? r() : s.once('close', () => r()))), 3000, "stream 'close'");
    expect(errors).toEqual([]);
  });

  test('"finished streams keep their buffered data" after the connection ends', async () => {
    const p = await pair();
    const seen = nextEvent<QuicStream>(p.client, 'stream', 3000);
    const out = await p.serverConn.openStream({ unidirectional: true });
    out.end('kept for the reader');
    const s = await seen;
    s.pause();
    // The server's stream is gone natively once its FIN is acknowledged,
    // i.e. once the client has everything, FIN included, buffered.
    const deadline = Date.now() + 3000;
    while (p.serverConn.streamCounts().native > 0 && Date.now() < deadline) await sleep(5);
    await p.serverConn.close();
    await p.client.closed;
    expect((await withTimeout(readAll(s), 3000, 'reading after the close')).toString()).toBe('kept for the reader');
  });

  test('"for await (const chunk of stream) destroys the stream when the loop ends, which resets its sending side"', async () => {
    const p = await pair();
    const seen = nextEvent<QuicStream>(p.serverConn, 'stream', 3000);
    const s = await p.client.openStream();
    s.write('x');
    const remote = await seen;
    const err = nextEvent<Error>(remote, 'error', 3000, "server stream 'error'");
    remote.write('first chunk');
    for await (const chunk of s) {
      expect(String(chunk)).toBe('first chunk');
      break;
    }
    expect(await err).toMatchObject({ code: expect.stringMatching(/^ERR_QUIC_STREAM_(RESET|STOPPED)$/), appCode: 0 });
  });
});

describe('Datagrams', () => {
  test('"flushed on the same event-loop turn": a datagram has left before the next setImmediate callback', async () => {
    const p = await pair();
    const before = p.client.stats().datagramsSent;
    p.client.sendDatagram(Buffer.from('now'));
    const after = await new Promise<number>((r) => setImmediate(() => r(p.client.stats().datagramsSent)));
    expect(after).toBe(before + 1);
  });

  test('"losses are in stats(): datagramsLost" counts datagrams that loss detection declared lost', async () => {
    const server = await startServer(creds);
    let dropping = false;
    let index = 0;
    // Once connected, every other client datagram is dropped.
    const relay = await FaultRelay.create({ target: { port: server.address.port }, filter: (dir) => dir !== 'toServer' || !dropping || index++ % 2 === 0 });
    try {
      server.on('connection', () => {});
      const conn = await connect({ host: '127.0.0.1', port: relay.port, alpn: [ALPN], ca: creds.cert, serverName: 'localhost' });
      dropping = true;
      for (let i = 0; i < 40; i++) {
        conn.sendDatagram(Buffer.alloc(100, i));
        await sleep(5);
      }
      const deadline = Date.now() + 3000;
      while (conn.stats().datagramsLost === 0 && Date.now() < deadline) await sleep(20);
      expect(conn.stats().datagramsLost).toBeGreaterThan(0);
      await conn.close();
    } finally {
      await relay.close();
    }
  });
});
