// A real browser against nquic's WebTransport server: Debian's headless
// Chromium, driven by playwright-core, on a page served from
// http://127.0.0.1 (a secure context), reaching the server by
// serverCertificateHashes. `.ci/run` installs Chromium.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { WebTransport, WebTransportSession } from '../../lib';
import { withTimeout, type QuicServer } from '../helpers';
import { chromiumSite, inPage as inTab, type ChromiumSite } from '../support/chromium';
import { hashCredentials, MiB, pattern, serveEcho, sha256, startWebTransportServer, type HashCredentials } from '../support/webtransport';

const PAGE = readFileSync(join(__dirname, '../support/webtransport-page.html'), 'utf8');

let site: ChromiumSite;
let page: Page;
let server: QuicServer;
const creds = hashCredentials(10);
const sessions: WebTransportSession[] = [];
const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => void uncaught.push(err);

/**
 * The server's behaviour by path: `/echo` echoes bidi streams and
 * datagrams and answers a uni stream with its SHA-256 on a uni stream;
 * `/push` also sends a 4 MiB uni stream and a bidi stream at once; `/close`
 * closes the session (4000, 'server says bye') on the first datagram;
 * `/quiet` takes datagrams only; `/refused` is refused by `allow`.
 */
function serve(session: WebTransportSession): void {
  sessions.push(session);
  if (session.path === '/close') {
    session.once('datagram', () => void session.close({ code: 4000, reason: 'server says bye' }));
    return;
  }
  if (session.path === '/quiet') {
    session.on('datagram', (d: Uint8Array) => session.sendDatagram(d));
    return;
  }
  serveEcho(session);
  if (session.path === '/push') {
    // Streams still open when the session ends error (as a socket does when its peer goes away).
    void session.openStream({ unidirectional: true }).then((s) => s.on('error', () => {}).end(pattern(4 * MiB, 5)));
    void session.openStream().then((s) => s.on('error', () => {}).end('hello from nquic'));
  }
}

/**
 * The helpers of webtransport-page.html, as page functions see them through
 * `globalThis` (the browser's WebTransport has the shape of nquic's).
 */
interface PageHelpers {
  openTransport(port: number, path: string, hash: string): WebTransport;
  pattern(len: number, seed: number): Uint8Array;
  sha256(bytes: Uint8Array): Promise<string>;
  readAll(readable: ReadableLike): Promise<Uint8Array>;
  writeAll(writable: WritableLike, data: Uint8Array): Promise<void>;
  bounded<T>(promise: Promise<T>, ms: number, label: string): Promise<T>;
  describe(err: unknown): { name: string; source: string; streamErrorCode: number | null; message: string };
}
type ReadableLike = { getReader(): unknown };
type WritableLike = { getWriter(): unknown };

/** Runs `fn` in the page with a bound on both sides. */
function inPage<T, A>(fn: (arg: A) => Promise<T>, arg: A, ms = 20000, label = 'page work'): Promise<T> {
  return inTab(page, fn, arg, ms, label);
}

beforeAll(async () => {
  process.on('uncaughtException', onUncaught);
  server = await startWebTransportServer(creds, { webTransport: { allow: (req) => req.path !== '/refused' || 403 } }, false);
  server.on('session', serve);
  site = await chromiumSite({ '/': { type: 'text/html; charset=utf-8', body: PAGE } });
  page = await site.open('/');
}, 60000);

afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await site?.close();
  await server?.close();
});

afterEach(() => {
  expect(uncaught).toEqual([]);
});

interface Target {
  port: number;
  hash: string;
}
const target = (c: HashCredentials = creds, s: QuicServer = server): Target => ({ port: s.address.port, hash: c.fingerprint });

describe('WebTransport: headless Chromium against an nquic server', () => {
  it('moves large bidirectional and unidirectional streams both ways intact (SHA-256)', async () => {
    const result = await inPage(
      async ({ port, hash, size }) => {
        const w = globalThis as unknown as PageHelpers;
        const wt = w.openTransport(port, '/push', hash);
        await w.bounded(wt.ready, 10000, 'ready');
        const uniIn = wt.incomingUnidirectionalStreams.getReader();
        const pushed = await w.bounded(uniIn.read(), 10000, 'pushed stream');
        const pushedHash = await w.sha256(await w.readAll(pushed.value!));
        const bidiIn = await wt.incomingBidirectionalStreams.getReader().read();
        const hello = new TextDecoder().decode(await w.readAll(bidiIn.value!.readable));
        const bidi = await wt.createBidirectionalStream();
        const up = w.pattern(size, 1);
        const [, echoed] = await Promise.all([w.writeAll(bidi.writable, up), w.readAll(bidi.readable)]);
        const uni = await wt.createUnidirectionalStream();
        await w.writeAll(uni, w.pattern(size, 2));
        const answer = await w.bounded(uniIn.read(), 10000, 'answer stream');
        const answered = new TextDecoder().decode(await w.readAll(answer.value!));
        wt.close();
        return { pushedHash, hello, echoedHash: await w.sha256(echoed), answered };
      },
      { ...target(), size: 4 * MiB },
      40000,
    );
    expect(result).toEqual({
      pushedHash: sha256(pattern(4 * MiB, 5)),
      hello: 'hello from nquic',
      echoedHash: sha256(pattern(4 * MiB, 1)),
      answered: sha256(pattern(4 * MiB, 2)),
    });
  }, 60000);

  it('exchanges datagrams both ways', async () => {
    const { sent, received, max } = await inPage(async ({ port, hash }) => {
      const w = globalThis as unknown as PageHelpers;
      const wt = w.openTransport(port, '/echo', hash);
      await w.bounded(wt.ready, 10000, 'ready');
      const writer = wt.datagrams.writable.getWriter();
      const reader = wt.datagrams.readable.getReader();
      const sent: string[] = [];
      const received: string[] = [];
      // Read while writing: Chromium keeps only a few unread datagrams.
      // Unreliable: read until all came back, or 3 s without them all.
      const deadline = Date.now() + 3000;
      const reading = (async () => {
        while (received.length < 20 && Date.now() < deadline) {
          const next = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), deadline - Date.now()))]);
          if (next === null) break;
          received.push(new TextDecoder().decode(next.value));
        }
      })();
      for (let i = 0; i < 20; i++) {
        const text = `datagram ${i}`;
        sent.push(text);
        await writer.write(new TextEncoder().encode(text));
      }
      await reading;
      const max = wt.datagrams.maxDatagramSize;
      wt.close();
      return { sent, received, max };
    }, target());
    expect(received.length).toBeGreaterThan(0);
    for (const r of received) expect(sent).toContain(r);
    expect(max).toBeGreaterThan(1000);
  });

  it('carries close codes and reasons both ways', async () => {
    const before = sessions.length;
    const fromServer = await inPage(async ({ port, hash }) => {
      const w = globalThis as unknown as PageHelpers;
      const open = (port: number, path: string, hash: string) => w.openTransport(port, path, hash);
      const a = open(port, '/echo', hash);
      await w.bounded(a.ready, 10000, 'ready a');
      a.close({ closeCode: 1234, reason: 'page says bye' });
      await w.bounded(a.closed, 5000, 'a closed');
      const b = open(port, '/close', hash);
      await w.bounded(b.ready, 10000, 'ready b');
      await b.datagrams.writable.getWriter().write(new Uint8Array([1]));
      return w.bounded(b.closed, 5000, 'b closed');
    }, target());
    expect(fromServer).toEqual({ closeCode: 4000, reason: 'server says bye' });
    const byPage = sessions[before];
    expect(byPage.path).toBe('/echo');
    await expect(withTimeout(byPage.closed, 5000, 'session closed by the page')).resolves.toEqual({ code: 1234, reason: 'page says bye', remote: true });
  });

  it('sees a refused request fail, and the server never hears of it as a session', async () => {
    const before = sessions.length;
    const outcome = await inPage(async ({ port, hash }) => {
      const w = globalThis as unknown as PageHelpers;
      const wt = w.openTransport(port, '/refused', hash);
      try {
        await w.bounded(wt.ready, 10000, 'ready');
        return { ready: true };
      } catch (err) {
        return { ready: false, error: w.describe(err) };
      }
    }, target());
    expect(outcome).toMatchObject({ ready: false, error: { name: 'WebTransportError', source: 'session' } });
    expect(sessions.length).toBe(before);
  });

  it('serves several sessions at once', async () => {
    const before = sessions.length;
    const results = await inPage(
      async ({ port, hash }) => {
        const w = globalThis as unknown as PageHelpers;
        const open = (port: number, path: string, hash: string) => w.openTransport(port, path, hash);
        return Promise.all(
          [0, 1, 2, 3, 4].map(async (i) => {
            const wt = open(port, '/echo', hash);
            await w.bounded(wt.ready, 10000, `ready ${i}`);
            const s = await wt.createBidirectionalStream();
            const data = w.pattern(256 * 1024, 10 + i);
            const [, back] = await Promise.all([w.writeAll(s.writable, data), w.readAll(s.readable)]);
            const ok = (await w.sha256(back)) === (await w.sha256(data));
            wt.close({ closeCode: i });
            return ok;
          }),
        );
      },
      target(),
      30000,
    );
    expect(results).toEqual([true, true, true, true, true]);
    const mine = sessions.slice(before);
    expect(mine.length).toBe(5);
    const codes = await withTimeout(Promise.all(mine.map((s) => s.closed)), 5000, 'sessions closed');
    expect(codes.map((c) => c.code).sort()).toEqual([0, 1, 2, 3, 4]);
  }, 40000);

  it("sees its stream refused when the server's session takes no streams, and the server stays quiet", async () => {
    const outcome = await inPage(async ({ port, hash }) => {
      const w = globalThis as unknown as PageHelpers;
      const wt = w.openTransport(port, '/quiet', hash);
      await w.bounded(wt.ready, 10000, 'ready');
      const s = await wt.createBidirectionalStream();
      void s.writable.getWriter().write(new Uint8Array([1, 2, 3])).catch(() => {});
      let error: unknown;
      try {
        await w.bounded(w.readAll(s.readable), 5000, 'refused stream');
      } catch (err) {
        error = w.describe(err);
      }
      await wt.datagrams.writable.getWriter().write(new Uint8Array([9]));
      const echo = await w.bounded(wt.datagrams.readable.getReader().read(), 5000, 'datagram');
      wt.close();
      return { error, echo: Array.from(echo.value!) };
    }, target());
    expect(outcome).toEqual({ error: expect.objectContaining({ name: 'WebTransportError', source: 'stream', streamErrorCode: 0 }), echo: [9] });
  });

  it('accepts a generated 14-day certificate by hash and refuses a 15-day one, as browsers require', async () => {
    const fourteen = hashCredentials(14);
    const fifteen = hashCredentials(15);
    const a = await startWebTransportServer(fourteen);
    const b = await startWebTransportServer(fifteen);
    a.on('session', () => {});
    b.on('session', () => {});
    const outcome = await inPage(
      async ({ a, b }) => {
        const w = globalThis as unknown as PageHelpers;
        const open = (port: number, path: string, hash: string) => w.openTransport(port, path, hash);
        const attempt = async (t: { port: number; hash: string }) => {
          const wt = open(t.port, '/', t.hash);
          try {
            await w.bounded(wt.ready, 10000, 'ready');
            wt.close();
            return 'ready';
          } catch {
            return 'refused';
          }
        };
        return [await attempt(a), await attempt(b)];
      },
      { a: target(fourteen, a), b: target(fifteen, b) },
    );
    expect(outcome).toEqual(['ready', 'refused']);
  });
});
