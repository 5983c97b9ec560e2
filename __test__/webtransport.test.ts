// WebTransport between nquic's W3C client and nquic's server, in process:
// sessions, streams both ways, datagrams, closes, refusals, certificate
// rules, and what a server does with connections and streams nobody takes.
import { X509Certificate } from 'node:crypto';
import { connect, generateCertificate, listen, QuicError, WebTransport, WebTransportError, type WebTransportSession } from '../lib';
import type { QuicConnection, QuicStream } from '../lib';
import { readAll, rejectionOf, trackClient, withTimeout } from './helpers';
import {
  hashCredentials,
  MiB,
  nextSession,
  pattern,
  readWeb,
  serveEcho,
  sha256,
  startWebTransportServer,
  writeWeb,
} from './support/webtransport';

const creds = hashCredentials();

/** A client to `path` on `port`, closed after the test. */
function client(port: number, path = '/', options: ConstructorParameters<typeof WebTransport>[1] = {}): WebTransport {
  const wt = new WebTransport(`https://127.0.0.1:${port}${path}`, { serverCertificateHashes: creds.hashes, ...options });
  trackClient({ close: () => wt.close() }, `WebTransport ${path}`);
  return wt;
}

describe('WebTransport: nquic client and nquic server', () => {
  it('opens a session that carries large streams both ways and datagrams', async () => {
    const server = await startWebTransportServer(creds);
    const sessionP = nextSession(server);
    const wt = client(server.address.port, '/echo?room=7', { headers: { origin: 'https://app.example' } });
    await withTimeout(wt.ready, 5000, 'ready');
    const session = await sessionP;
    expect(session.path).toBe('/echo?room=7');
    expect(session.origin).toBe('https://app.example');
    expect(session.authority).toBe(`127.0.0.1:${server.address.port}`);
    expect(session.headers.origin).toBe('https://app.example');
    expect(session.connection.alpnProtocol).toBe('h3');
    expect(wt.reliability).toBe('supports-unreliable');
    serveEcho(session);

    // Client → server bidirectional, echoed.
    const payload = pattern(4 * MiB, 1);
    const bidi = await wt.createBidirectionalStream();
    const [, echoed] = await withTimeout(Promise.all([writeWeb(bidi.writable, payload), readWeb(bidi.readable)]), 20000, 'bidi echo');
    expect(sha256(echoed)).toBe(sha256(payload));

    // Client → server unidirectional; the server answers on its own uni stream.
    const incomingUni = wt.incomingUnidirectionalStreams.getReader();
    const upload = pattern(3 * MiB, 2);
    await withTimeout(writeWeb(await wt.createUnidirectionalStream(), upload), 20000, 'uni upload');
    const { value: answer } = await withTimeout(incomingUni.read(), 10000, 'answer stream');
    expect((await withTimeout(readWeb(answer!), 5000, 'answer')).toString()).toBe(sha256(upload));

    // Server → client, both kinds.
    const download = pattern(4 * MiB, 3);
    const pushed = await session.openStream({ unidirectional: true });
    pushed.end(download);
    const { value: pushedReadable } = await withTimeout(incomingUni.read(), 10000, 'pushed stream');
    expect(sha256(await withTimeout(readWeb(pushedReadable!), 20000, 'pushed data'))).toBe(sha256(download));
    const serverBidi = await session.openStream();
    serverBidi.end('from the server');
    const { value: incomingBidi } = await withTimeout(wt.incomingBidirectionalStreams.getReader().read(), 5000, 'server bidi');
    expect((await readWeb(incomingBidi!.readable)).toString()).toBe('from the server');

    // Datagrams, both ways (echoed by the server).
    expect(wt.datagrams.maxDatagramSize).toBeGreaterThan(1000);
    expect(session.maxDatagramSize).toBe(wt.datagrams.maxDatagramSize);
    const reader = wt.datagrams.readable.getReader();
    const writer = wt.datagrams.writable.getWriter();
    await writer.write(Buffer.from('datagram 1'));
    const { value: back } = await withTimeout(reader.read(), 5000, 'datagram echo');
    expect(Buffer.from(back!).toString()).toBe('datagram 1');
    // Larger than maxDatagramSize: dropped, as the W3C specification says.
    await writer.write(new Uint8Array(wt.datagrams.maxDatagramSize + 1));
    expect(() => session.sendDatagram(new Uint8Array(session.maxDatagramSize + 1))).toThrow(
      expect.objectContaining({ code: 'ERR_QUIC_DATAGRAM_TOO_LARGE' }),
    );
    const stats = await wt.getStats();
    expect(stats.bytesSent).toBeGreaterThan(7 * MiB);
  }, 60000);

  it('carries close codes and reasons both ways', async () => {
    const server = await startWebTransportServer(creds);
    let sessionP = nextSession(server);
    const a = client(server.address.port);
    await withTimeout(a.ready, 5000, 'ready a');
    const sa = await sessionP;
    a.close({ closeCode: 4321, reason: 'client says bye' });
    await expect(withTimeout(a.closed, 5000, 'client closed')).resolves.toEqual({ closeCode: 4321, reason: 'client says bye' });
    await expect(withTimeout(sa.closed, 5000, 'server session closed')).resolves.toEqual({ code: 4321, reason: 'client says bye', remote: true });

    sessionP = nextSession(server);
    const b = client(server.address.port);
    await withTimeout(b.ready, 5000, 'ready b');
    const sb = await sessionP;
    const long = 'é'.repeat(600); // 1200 bytes: cut to 1024 bytes, on a character boundary
    await withTimeout(sb.close({ code: 0xffff_ffff, reason: long }), 5000, 'server close');
    const info = await withTimeout(b.closed, 5000, 'client closed');
    expect(info.closeCode).toBe(0xffff_ffff);
    expect(info.reason).toBe('é'.repeat(512));
    await expect(sb.closed).resolves.toEqual({ code: 0xffff_ffff, reason: 'é'.repeat(512), remote: false });
    expect(() => sb.sendDatagram(Buffer.from('late'))).toThrow(expect.objectContaining({ code: 'ERR_QUIC_WEBTRANSPORT_SESSION_CLOSED' }));
    await expect(sb.openStream()).rejects.toMatchObject({ code: 'ERR_QUIC_WEBTRANSPORT_SESSION_CLOSED' });
  });

  it('lets allow refuse with a status, and answers 404 when nobody listens for sessions', async () => {
    const verdicts: Record<string, boolean | number | (() => never) | Promise<boolean | number>> = {
      '/no': false,
      '/teapot': 418,
      '/later': Promise.resolve(451),
      '/broken': () => {
        throw new Error('policy bug');
      },
      '/yes': true,
    };
    const server = await startWebTransportServer(creds, {
      webTransport: {
        allow: (req) => {
          const v = verdicts[req.path];
          return typeof v === 'function' ? v() : v;
        },
      },
    });
    const sessions: string[] = [];
    server.on('session', (s: WebTransportSession) => sessions.push(s.path));
    const expected: Record<string, number> = { '/no': 403, '/teapot': 418, '/later': 451, '/broken': 500 };
    for (const [path, status] of Object.entries(expected)) {
      const wt = client(server.address.port, path);
      const err = (await rejectionOf(wt.ready, 5000, `ready ${path}`)) as WebTransportError;
      expect(err).toBeInstanceOf(WebTransportError);
      expect(err.source).toBe('session');
      expect(err.message).toContain(`HTTP status ${status}`);
      expect((err as unknown as { cause: QuicError }).cause).toMatchObject({ code: 'ERR_QUIC_WEBTRANSPORT_REFUSED', status });
      await expect(wt.closed).rejects.toBe(err);
    }
    const yes = client(server.address.port, '/yes');
    await withTimeout(yes.ready, 5000, 'ready /yes');
    expect(sessions).toEqual(['/yes']);

    server.removeAllListeners('session');
    const nobody = client(server.address.port, '/yes');
    expect(String(await rejectionOf(nobody.ready, 5000, 'ready without a listener'))).toContain('HTTP status 404');
  });

  it("refuses a session's streams when nobody listens for them, without an error on the server", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const server = await startWebTransportServer(creds);
      const sessionP = nextSession(server);
      const wt = client(server.address.port);
      await withTimeout(wt.ready, 5000, 'ready');
      const session = await sessionP;
      session.on('datagram', (d: Uint8Array) => session.sendDatagram(d)); // a datagram-only service
      const bidi = await wt.createBidirectionalStream();
      const writer = bidi.writable.getWriter();
      void writer.write(Buffer.from('anyone there?')).catch(() => {});
      const err = (await rejectionOf(readWeb(bidi.readable), 5000, 'refused stream')) as WebTransportError;
      expect(err).toBeInstanceOf(WebTransportError);
      expect(err.source).toBe('stream');
      expect(err.streamErrorCode).toBe(0);
      // The session still works.
      await wt.datagrams.writable.getWriter().write(Buffer.from('ping'));
      const { value } = await withTimeout(wt.datagrams.readable.getReader().read(), 5000, 'datagram');
      expect(Buffer.from(value!).toString()).toBe('ping');
      wt.close();
      await withTimeout(session.closed, 5000, 'session closed');
      await new Promise((r) => setImmediate(r));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('maps stream error codes: abort and cancel reach the peer with their WebTransport code', async () => {
    const server = await startWebTransportServer(creds);
    const sessionP = nextSession(server);
    const wt = client(server.address.port);
    await withTimeout(wt.ready, 5000, 'ready');
    const session = await sessionP;
    const streams: QuicStream[] = [];
    session.on('stream', (s: QuicStream) => streams.push(s));

    const bidi = await wt.createBidirectionalStream();
    const writer = bidi.writable.getWriter();
    await writer.write(Buffer.from('x'));
    await withTimeout(new Promise<void>((r) => session.once('stream', () => r())), 5000, 'stream at the server');
    const serverStream = streams[0];
    const reset = new Promise<QuicError>((r) => serverStream.once('error', r));
    await writer.abort(new WebTransportError('stop', { streamErrorCode: 77 }));
    expect(await withTimeout(reset, 5000, 'reset at the server')).toMatchObject({ code: 'ERR_QUIC_STREAM_RESET', appCode: 77 });

    const second = await wt.createBidirectionalStream();
    await second.writable.getWriter().write(Buffer.from('y'));
    await withTimeout(new Promise<void>((r) => session.once('stream', () => r())), 5000, 'second stream');
    streams[1].reset(0xfffffffe);
    const err = (await rejectionOf(readWeb(second.readable), 5000, 'reset at the client')) as WebTransportError;
    expect(err.streamErrorCode).toBe(0xfffffffe);
    expect(err.source).toBe('stream');
  });

  it("keeps HTTP/3 connections out of 'connection' events; other ALPNs on the same socket stay raw QUIC", async () => {
    const server = await startWebTransportServer(creds, { alpn: ['h3', 'raw'] });
    const connections: string[] = [];
    server.on('connection', (c) => {
      connections.push(String(c.alpnProtocol));
      c.on('stream', (s: QuicStream) => s.pipe(s));
    });
    const sessionP = nextSession(server);
    const wt = client(server.address.port);
    await withTimeout(wt.ready, 5000, 'ready');
    await sessionP;
    const raw = trackClient(await connect({ host: '127.0.0.1', port: server.address.port, alpn: ['raw'], ca: creds.cert, serverName: 'localhost' }));
    const stream = await raw.openStream();
    stream.end('raw quic');
    expect((await withTimeout(readAll(stream), 5000, 'raw echo')).toString()).toBe('raw quic');
    expect(connections).toEqual(['raw']);
  });

  it('serves several sessions at once, and server.close() ends them cleanly', async () => {
    const server = await startWebTransportServer(creds);
    const sessions: WebTransportSession[] = [];
    server.on('session', (s: WebTransportSession) => {
      sessions.push(s);
      serveEcho(s);
    });
    const clients = [0, 1, 2, 3, 4].map((i) => client(server.address.port, `/s${i}`));
    await withTimeout(Promise.all(clients.map((c) => c.ready)), 10000, 'all ready');
    const echoes = await withTimeout(
      Promise.all(
        clients.map(async (c, i) => {
          const s = await c.createBidirectionalStream();
          const data = pattern(256 * 1024, i);
          const [, back] = await Promise.all([writeWeb(s.writable, data), readWeb(s.readable)]);
          return sha256(back) === sha256(data);
        }),
      ),
      20000,
      'echoes',
    );
    expect(echoes).toEqual([true, true, true, true, true]);
    expect(sessions.map((s) => s.path).sort()).toEqual(['/s0', '/s1', '/s2', '/s3', '/s4']);
    await withTimeout(server.close(), 10000, 'server.close()');
    const infos = await withTimeout(Promise.all(clients.map((c) => c.closed)), 5000, 'clients closed');
    expect(infos).toEqual(clients.map(() => ({ closeCode: 0, reason: '' })));
  });

  it('ends the session with an error when its connection goes away', async () => {
    const server = await startWebTransportServer(creds);
    const sessionP = nextSession(server);
    const wt = client(server.address.port);
    await withTimeout(wt.ready, 5000, 'ready');
    const session = await sessionP;
    const incoming = wt.incomingBidirectionalStreams.getReader();
    await session.connection.close({ code: 0x101 });
    const err = (await rejectionOf(wt.closed, 5000, 'closed')) as WebTransportError;
    expect(err).toBeInstanceOf(WebTransportError);
    expect(err.source).toBe('session');
    await expect(incoming.read()).rejects.toBe(err);
    const info = await withTimeout(session.closed, 5000, 'session closed');
    expect(info).toMatchObject({ remote: false });
    expect(info.error).toBeInstanceOf(QuicError);
  });

  it("pins the server by certificate hash under the browsers' rules", async () => {
    // generateCertificate makes certificates that qualify: exactly `days` long, X.509v3, ECDSA.
    const x509 = new X509Certificate(creds.cert);
    expect(Date.parse(x509.validTo) - Date.parse(x509.validFrom)).toBe(10 * 86400 * 1000);
    const cases: Array<[string, ReturnType<typeof hashCredentials>, string | undefined]> = [
      ['14 days, ECDSA', hashCredentials(14), undefined],
      ['Ed25519', hashCredentials(5, 'ed25519'), undefined],
      ['15 days', hashCredentials(15), 'more than 14 days'],
      ['RSA', hashCredentials(10, 'rsa-2048'), 'RSA keys'],
    ];
    for (const [label, c, problem] of cases) {
      const server = await startWebTransportServer(c);
      server.on('session', () => {});
      const wt = new WebTransport(`https://127.0.0.1:${server.address.port}/`, { serverCertificateHashes: c.hashes });
      trackClient({ close: () => wt.close() });
      if (problem === undefined) {
        await withTimeout(wt.ready, 5000, `ready (${label})`);
      } else {
        expect(String(await rejectionOf(wt.ready, 5000, `ready (${label})`))).toContain(problem);
      }
    }
    const server = await startWebTransportServer(creds);
    const wrong = new WebTransport(`https://127.0.0.1:${server.address.port}/`, {
      serverCertificateHashes: [{ algorithm: 'sha-256', value: new Uint8Array(32) }],
    });
    expect(String(await rejectionOf(wrong.ready, 5000, 'wrong hash'))).toContain('no entry of serverCertificateHashes matches');
    // Without hashes the usual CA and name checks apply.
    const untrusted = new WebTransport(`https://127.0.0.1:${server.address.port}/`);
    expect(String(await rejectionOf(untrusted.ready, 5000, 'untrusted'))).toMatch(/certificate/i);
    const byCa = new WebTransport(`https://localhost:${server.address.port}/`, { ca: creds.cert });
    trackClient({ close: () => byCa.close() });
    server.on('session', () => {});
    await withTimeout(byCa.ready, 5000, 'ready with ca');
  });

  it('rotates its certificate with setSecureContext while sessions on the old one go on', async () => {
    const server = await startWebTransportServer(creds);
    const sessions: WebTransportSession[] = [];
    server.on('session', (s: WebTransportSession) => {
      sessions.push(s);
      serveEcho(s);
    });
    const before = client(server.address.port, '/old');
    await withTimeout(before.ready, 5000, 'ready before rotation');
    const next = hashCredentials(10);
    server.setSecureContext({ key: next.key, cert: next.cert });
    // A page keeps both hashes until the old certificate expires.
    const after = new WebTransport(`https://127.0.0.1:${server.address.port}/new`, { serverCertificateHashes: [...creds.hashes, ...next.hashes] });
    trackClient({ close: () => after.close() });
    await withTimeout(after.ready, 5000, 'ready after rotation');
    const oldOnly = new WebTransport(`https://127.0.0.1:${server.address.port}/stale`, { serverCertificateHashes: creds.hashes });
    expect(String(await rejectionOf(oldOnly.ready, 5000, 'stale hash'))).toContain('no entry of serverCertificateHashes matches');
    for (const wt of [before, after]) {
      const s = await wt.createBidirectionalStream();
      const [, back] = await withTimeout(Promise.all([writeWeb(s.writable, Buffer.from('still here')), readWeb(s.readable)]), 5000, 'echo');
      expect(back.toString()).toBe('still here');
    }
    expect(sessions.map((s) => s.path)).toEqual(['/old', '/new']);
  });

  it('validates its arguments synchronously', async () => {
    expect(() => generateCertificate({ keyType: 'ecdsa-p256', days: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    await expect(
      Promise.resolve().then(() => listen({ port: 0, alpn: ['raw'], key: creds.key, cert: creds.cert, webTransport: true })),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('options.webTransport') });
    expect(() => listen({ port: 0, alpn: ['h3'], key: creds.key, cert: creds.cert, webTransport: { maxSessions: 0 } })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('options.webTransport.maxSessions') }),
    );
    expect(() => listen({ port: 0, alpn: ['h3'], key: creds.key, cert: creds.cert, webTransport: true, datagrams: false })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('options.datagrams') }),
    );
    expect(() => listen({ port: 0, alpn: ['h3'], key: creds.key, cert: creds.cert, webTransport: { allow: 1 as never } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => new WebTransport('http://127.0.0.1:1/')).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(() => new WebTransport('not a url')).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(() => new WebTransport('https://127.0.0.1:1/#frag')).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(() => new WebTransport('https://127.0.0.1:1/', { allowPooling: true, serverCertificateHashes: creds.hashes })).toThrow(
      expect.objectContaining({ name: 'NotSupportedError' }),
    );
    const server = await startWebTransportServer(creds);
    const sessionP = nextSession(server);
    const wt = client(server.address.port);
    await withTimeout(wt.ready, 5000, 'ready');
    const session = await sessionP;
    expect(() => wt.close({ closeCode: -1 })).toThrow(RangeError);
    expect(() => session.close({ code: 2 ** 32 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => session.sendDatagram('text' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('abandons an attempt closed before it is ready', async () => {
    const server = await startWebTransportServer(creds, { webTransport: { allow: () => new Promise<boolean>(() => {}) } });
    server.on('session', () => {});
    const wt = new WebTransport(`https://127.0.0.1:${server.address.port}/`, { serverCertificateHashes: creds.hashes });
    wt.close();
    const err = (await rejectionOf(wt.ready, 5000, 'ready')) as WebTransportError;
    expect(err).toBeInstanceOf(WebTransportError);
    await expect(wt.closed).rejects.toBe(err);
  });

  it('gives up after options.timeout when the server never answers, and closes its connection', async () => {
    // A QUIC server that offers 'h3' but never speaks HTTP/3 (no SETTINGS).
    const mute = await listen({ address: '127.0.0.1', port: 0, alpn: ['h3'], key: creds.key, cert: creds.cert });
    trackClient({ close: () => mute.close() }, 'mute server');
    const accepted = new Promise<QuicConnection>((resolve) => mute.once('connection', resolve));
    const wt = client(mute.address.port, '/', { timeout: 300 });
    const err = (await rejectionOf(wt.ready, 5000, 'ready')) as WebTransportError;
    expect(err).toBeInstanceOf(WebTransportError);
    expect(err.cause).toMatchObject({ code: 'ERR_QUIC_HANDSHAKE_TIMEOUT' });
    await expect(wt.closed).rejects.toBe(err);
    // The connection is not left open until the idle timeout.
    const conn = await withTimeout(accepted, 5000, "mute server's connection");
    await withTimeout(conn.closed, 5000, 'connection closed');

    // A WebTransport server whose allow never decides: the same.
    const server = await startWebTransportServer(creds, { webTransport: { allow: () => new Promise<boolean>(() => {}) } });
    server.on('session', () => {});
    const waiting = client(server.address.port, '/', { timeout: 300 });
    expect(((await rejectionOf(waiting.ready, 5000, 'ready')) as WebTransportError).cause).toMatchObject({ code: 'ERR_QUIC_HANDSHAKE_TIMEOUT' });

    expect(() => new WebTransport('https://127.0.0.1:1/', { timeout: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('options.timeout') }),
    );
  });
});
