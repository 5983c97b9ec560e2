// A real browser for the browser suites: Debian's headless Chromium
// (`NQUIC_CHROMIUM` points elsewhere), driven by playwright-core, with pages
// served from http://127.0.0.1 (a secure context, as WebTransport needs).
// `.ci/run` installs Chromium.
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { withTimeout } from '../helpers';

export const CHROMIUM = process.env.NQUIC_CHROMIUM ?? '/usr/bin/chromium';

/** A file the web server serves: its content type and body. */
export interface WebFile {
  type: string;
  body: string | Buffer;
}

export interface ChromiumSite {
  browser: Browser;
  /** `http://127.0.0.1:PORT` of the web server. */
  origin: string;
  /** A new tab with `path` loaded. */
  open(path?: string): Promise<Page>;
  /** Closes the browser and the web server. */
  close(): Promise<void>;
}

/**
 * Serves `files` (URL path → file; other paths get 404) on 127.0.0.1 and
 * launches headless Chromium. Every wait is bounded.
 */
export async function chromiumSite(files: Record<string, WebFile>): Promise<ChromiumSite> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install it with \`apt-get install chromium\` (.ci/run does)`);
  const web = http.createServer((req, res) => {
    const file = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (file === undefined) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-type', file.type);
    res.end(file.body);
  });
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(web.address() as { port: number }).port}`;
  const closeWeb = (): Promise<void> => new Promise((resolve) => web.close(() => resolve()));
  let browser: Browser;
  try {
    const { chromium } = await import('playwright-core');
    browser = await withTimeout(chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] }), 30000, 'Chromium launch');
  } catch (err) {
    await closeWeb();
    throw err;
  }
  return {
    browser,
    origin,
    async open(path = '/') {
      const page = await browser.newPage();
      await withTimeout(page.goto(`${origin}${path}`), 10000, 'page load');
      return page;
    },
    async close() {
      await browser.close();
      await closeWeb();
    },
  };
}

/** Runs `fn` in `page` with a bound on the Node side (page functions bound their own waits too). */
export function inPage<T, A>(page: Page, fn: (arg: A) => Promise<T>, arg: A, ms = 20000, label = 'page work'): Promise<T> {
  return withTimeout(page.evaluate(fn as never, arg) as Promise<T>, ms, label);
}
