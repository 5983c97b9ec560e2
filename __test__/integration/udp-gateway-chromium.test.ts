// Pages reach UDP through the gateway: headless Chromium tabs load the demo
// page (examples/udp-gateway.html, with the package's browser module) and
// talk through createUdpGateway() to UDP echo servers on loopback.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { createUdpGateway, UDP_GATEWAY_CLOSE_CODES } from '../../lib';
import type { UdpGateway, UdpGatewayOptions } from '../../lib';
import { trackServer, withTimeout } from '../helpers';
import { chromiumSite, inPage, type ChromiumSite } from '../support/chromium';
import { portIsFree, udpPeer, until } from '../support/udp';
import { hashCredentials } from '../support/webtransport';

const ROOT = join(__dirname, '..', '..');
const creds = hashCredentials(10);
let site: ChromiumSite;
const tabs: Page[] = [];

beforeAll(async () => {
  site = await chromiumSite({
    '/examples/udp-gateway.html': { type: 'text/html; charset=utf-8', body: readFileSync(join(ROOT, 'examples', 'udp-gateway.html')) },
    '/dist/browser/udp-gateway-client.js': { type: 'text/javascript', body: readFileSync(join(ROOT, 'dist', 'browser', 'udp-gateway-client.js')) },
  });
}, 60000);

afterAll(async () => {
  await site?.close();
});

afterEach(async () => {
  await Promise.all(tabs.splice(0).map((tab) => tab.close()));
});

async function gateway(opts: Partial<UdpGatewayOptions>): Promise<UdpGateway> {
  const gw = await createUdpGateway({ address: '127.0.0.1', port: 0, key: creds.key, cert: creds.cert, allow: [], ...opts });
  return trackServer(gw, 'gateway');
}

/** A tab with the demo page loaded (its module defines window.UdpGatewayClient). */
async function newTab(): Promise<Page> {
  const tab = await site.open('/examples/udp-gateway.html');
  tabs.push(tab);
  await withTimeout(tab.waitForFunction(() => 'UdpGatewayClient' in globalThis), 10000, 'the page module');
  return tab;
}

interface TabState {
  received: { address: string; port: number; text: string }[];
  closed?: { closeCode: number; reason: string };
}

/**
 * Connects the tab's page to the gateway at `path` and keeps, on `window`,
 * `udp` (a UdpGatewayClient), `wt`, and `state` (messages received, how the
 * session closed). Resolves with whether the session opened.
 */
function connect(tab: Page, gw: UdpGateway, path = '/udp'): Promise<{ ok: boolean; error?: string }> {
  return inPage(
    tab,
    async ({ url, hash }) => {
      const w = globalThis as unknown as Record<string, unknown> & { UdpGatewayClient: new (wt: unknown) => EventTarget };
      const state: TabState = { received: [] };
      w.state = state;
      const value = Uint8Array.from(hash.match(/../g)!, (h) => parseInt(h, 16));
      const wt = new (w.WebTransport as new (url: string, opts: unknown) => { ready: Promise<void>; closed: Promise<{ closeCode: number; reason: string }> })(url, {
        serverCertificateHashes: [{ algorithm: 'sha-256', value }],
      });
      wt.closed.then(
        (info) => (state.closed = { closeCode: info.closeCode, reason: info.reason }),
        () => (state.closed = { closeCode: -1, reason: 'lost' }),
      );
      try {
        await Promise.race([wt.ready, new Promise((_, reject) => setTimeout(() => reject(new Error('page timeout: ready')), 10000))]);
      } catch (err) {
        return { ok: false, error: String((err as Error).message) };
      }
      const udp = new w.UdpGatewayClient(wt);
      udp.addEventListener('message', (e) => {
        const m = e as unknown as { address: string; port: number; data: Uint8Array };
        state.received.push({ address: m.address, port: m.port, text: new TextDecoder().decode(m.data) });
      });
      w.wt = wt;
      w.udp = udp;
      return { ok: true };
    },
    { url: `https://127.0.0.1:${gw.address.port}${path}`, hash: creds.fingerprint },
  );
}

/**
 * The tab sends `count` datagrams `text i` (i from 0) to address:port,
 * awaiting each write; resolves with how many were written before the
 * session closed (a write then rejects).
 */
function send(tab: Page, address: string, port: number, text: string, count = 1): Promise<number> {
  return inPage(
    tab,
    async ({ address, port, text, count }) => {
      const udp = (globalThis as unknown as { udp: { send(a: string, p: number, d: Uint8Array): Promise<void> } }).udp;
      for (let i = 0; i < count; i++) {
        try {
          await udp.send(address, port, new TextEncoder().encode(count === 1 ? text : `${text} ${i}`));
        } catch {
          return i;
        }
      }
      return count;
    },
    { address, port, text, count },
  );
}

function tabState(tab: Page): Promise<TabState> {
  return inPage(tab, async () => (globalThis as unknown as { state: TabState }).state, undefined);
}

/** Polls the tab until `check(state)` holds (bounded). */
async function untilTab(tab: Page, check: (state: TabState) => boolean, label: string, ms = 10000): Promise<TabState> {
  const deadline = Date.now() + ms;
  for (;;) {
    const state = await tabState(tab);
    if (check(state)) return state;
    if (Date.now() > deadline) throw new Error(`timeout: ${label} (last state ${JSON.stringify(state)})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('UDP gateway: headless Chromium tabs through createUdpGateway() to UDP on loopback', () => {
  test('the demo page: connect with the URL and hash, send, and see the echo', async () => {
    const echo = await udpPeer();
    const gw = await gateway({ allow: [`127.0.0.1:${echo.port}`] });
    const tab = await newTab();
    await tab.fill('#url', `https://127.0.0.1:${gw.address.port}/udp`);
    await tab.fill('#hash', creds.fingerprint);
    await tab.click('#connect button');
    await withTimeout(tab.waitForSelector('#send', { state: 'visible' }), 10000, 'the send form');
    await tab.fill('#address', '127.0.0.1');
    await tab.fill('#port', String(echo.port));
    await tab.fill('#message', 'hello from the demo page');
    await tab.click('#send button');
    type PageDocument = { document: { getElementById(id: string): { textContent: string | null } } };
    await withTimeout(tab.waitForFunction((line) => (globalThis as unknown as PageDocument).document.getElementById('log').textContent!.includes(line), `from 127.0.0.1:${echo.port}  hello from the demo page`), 10000, 'the echo in the log');
    expect(echo.received.map((r) => r.data.toString())).toEqual(['hello from the demo page']);
  }, 30000);

  test('several tabs at once, each with its own UDP source port, each getting only its own replies', async () => {
    const echo = await udpPeer();
    const echo6 = await udpPeer(true, 'udp6');
    const gw = await gateway({ allow: [`127.0.0.1:${echo.port}`, '::1'] });
    const pages = await Promise.all([newTab(), newTab(), newTab()]);
    expect(await Promise.all(pages.map((tab) => connect(tab, gw)))).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    await Promise.all(pages.map((tab, i) => send(tab, '127.0.0.1', echo.port, `tab ${i}`)));
    await Promise.all(pages.map((tab, i) => send(tab, '::1', echo6.port, `tab ${i} over IPv6`)));
    const states = await Promise.all(pages.map((tab) => untilTab(tab, (s) => s.received.length === 2, 'two echoes')));
    states.forEach((state, i) =>
      expect(state.received).toEqual([
        { address: '127.0.0.1', port: echo.port, text: `tab ${i}` },
        { address: '::1', port: echo6.port, text: `tab ${i} over IPv6` },
      ]),
    );
    expect(new Set(echo.received.map((r) => r.from.port)).size).toBe(3);
    expect(new Set(echo6.received.map((r) => r.from.port)).size).toBe(3);
    expect(gw.stats()).toMatchObject({ sessions: 3, sessionsAccepted: 3, udpSockets: 6, packetsToUdp: 6, packetsToSessions: 6 });
  }, 30000);

  test('refused destinations are dropped and counted; the session goes on; a page that keeps trying is closed with code VIOLATIONS', async () => {
    const echo = await udpPeer();
    const notAllowed = await udpPeer();
    const gw = await gateway({ allow: [`127.0.0.1:${echo.port}`, '0.0.0.0/0'] });
    const tab = await newTab();
    expect(await connect(tab, gw)).toEqual({ ok: true });
    await send(tab, '127.0.0.1', notAllowed.port, 'not this port');
    await send(tab, '10.0.0.1', 53, 'private: 0.0.0.0/0 does not open it');
    await send(tab, '127.0.0.1', echo.port, 'this one');
    await untilTab(tab, (s) => s.received.length === 1, 'the allowed echo');
    expect(gw.stats().drops.refused).toBe(2);
    expect(notAllowed.received).toEqual([]);

    // The gateway closes it after about 100 more (writes the page makes after the close fail).
    await send(tab, '127.0.0.1', notAllowed.port, 'again', 150);
    const state = await untilTab(tab, (s) => s.closed !== undefined, 'the session closed');
    expect(state.closed).toEqual({ closeCode: UDP_GATEWAY_CLOSE_CODES.VIOLATIONS, reason: 'too many datagrams dropped (the last one: refused)' });
    expect(notAllowed.received).toEqual([]);
    expect(gw.stats()).toMatchObject({ sessions: 0, sessionsClosedForViolations: 1, udpSockets: 0 });
  }, 30000);

  test('the packet rate limit drops the excess of a burst', async () => {
    const echo = await udpPeer(false);
    const started = Date.now();
    const gw = await gateway({ allow: [`127.0.0.1:${echo.port}`], maxPacketRate: 1 });
    const tab = await newTab();
    expect(await connect(tab, gw)).toEqual({ ok: true });
    expect(await send(tab, '127.0.0.1', echo.port, 'burst', 50)).toBe(50);
    // Every datagram is either sent on or dropped for the rate.
    await until(() => gw.stats().packetsToUdp + gw.stats().drops.rateLimited === 50, 'all 50 datagrams handled', 10000);
    const seconds = (Date.now() - started) / 1000;
    const { packetsToUdp, drops } = gw.stats();
    // One datagram a second (and a burst of one) is all the bucket holds, however slow this machine is.
    expect(packetsToUdp).toBeLessThanOrEqual(1 + Math.ceil(seconds));
    expect(drops.rateLimited).toBe(50 - packetsToUdp);
    await until(() => echo.received.length === packetsToUdp, 'the forwarded ones at the echo server');
    expect((await tabState(tab)).closed).toBeUndefined();
  }, 30000);

  test('a closed session frees its UDP socket: its port can be bound again', async () => {
    const echo = await udpPeer();
    const gw = await gateway({ allow: [`127.0.0.1:${echo.port}`] });
    const tab = await newTab();
    expect(await connect(tab, gw)).toEqual({ ok: true });
    await send(tab, '127.0.0.1', echo.port, 'x');
    await untilTab(tab, (s) => s.received.length === 1, 'the echo');
    const port = echo.received[0].from.port;
    expect(await portIsFree(port)).toBe(false);
    await inPage(tab, async () => (globalThis as unknown as { wt: { close(): void } }).wt.close(), undefined);
    await until(() => gw.stats().sessions === 0, 'the session gone');
    expect(gw.stats().udpSockets).toBe(0);
    expect(await portIsFree(port)).toBe(true);
  }, 30000);

  test('other paths are refused (404), and more than maxSessions get 429', async () => {
    const gw = await gateway({ allow: ['127.0.0.1'], maxSessions: 1 });
    const [first, second, third] = await Promise.all([newTab(), newTab(), newTab()]);
    expect(await connect(first, gw, '/elsewhere')).toEqual({ ok: false, error: expect.any(String) });
    expect(await connect(second, gw)).toEqual({ ok: true });
    expect(await connect(third, gw)).toEqual({ ok: false, error: expect.any(String) });
    expect(gw.stats()).toMatchObject({ sessions: 1, sessionsAccepted: 1, sessionsRefused: 1 });
  }, 30000);
});

