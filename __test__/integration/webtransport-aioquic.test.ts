// nquic's W3C WebTransport client against a second, independent stack:
// aioquic's HTTP/3 + WebTransport (interop/aioquic/wt_server.py), in a venv
// that `npm test` creates first (scripts/test-prerequisites.js).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WebTransport, WebTransportError } from '../../lib';
import { rejectionOf, tempDir, trackClient, withTimeout } from '../helpers';
import { hashCredentials, MiB, pattern, readWeb, sha256, writeWeb } from '../support/webtransport';

const ROOT = join(__dirname, '../..');
const PYTHON = join(ROOT, 'interop/aioquic/.venv/bin/python');
const SERVER = join(ROOT, 'interop/aioquic/wt_server.py');

type Report = Record<string, unknown>;

let child: ChildProcess;
let port: number;
let dir: string;
const reports: Report[] = [];
const waiters: Array<{ match: (r: Report) => boolean; resolve: (r: Report) => void }> = [];
const creds = hashCredentials(10);

/** The next line the Python server reports that satisfies `match` (bounded by the caller). */
function reported(match: (r: Report) => boolean): Promise<Report> {
  const seen = reports.find(match);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve) => waiters.push({ match, resolve }));
}

function open(path: string): WebTransport {
  const wt = new WebTransport(`https://127.0.0.1:${port}${path}`, { serverCertificateHashes: creds.hashes });
  trackClient({ close: () => wt.close() }, `WebTransport ${path}`);
  return wt;
}

beforeAll(async () => {
  if (!existsSync(PYTHON)) {
    throw new Error('aioquic is not installed: `npm test` makes it (scripts/test-prerequisites.js: a venv in interop/aioquic/.venv)');
  }
  dir = tempDir('nquic-aioquic-');
  writeFileSync(join(dir, 'key.pem'), creds.key);
  writeFileSync(join(dir, 'cert.pem'), creds.cert);
  child = spawn(PYTHON, [SERVER, '--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem')], { stdio: ['pipe', 'pipe', 'inherit'] });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const report = JSON.parse(line) as Report;
    reports.push(report);
    for (const w of waiters.splice(0)) {
      if (w.match(report)) w.resolve(report);
      else waiters.push(w);
    }
  });
  const ready = await withTimeout(reported((r) => typeof r.ready === 'number'), 20000, 'aioquic server start');
  port = ready.ready as number;
}, 30000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin?.end();
    child.kill();
    await withTimeout(exited, 5000, 'aioquic server exit');
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('WebTransport: nquic client against aioquic', () => {
  it('opens a session and moves streams of both kinds both ways, and datagrams', async () => {
    const wt = open('/echo');
    await withTimeout(wt.ready, 10000, 'ready');
    await withTimeout(reported((r) => r.session === '/echo'), 5000, 'session at aioquic');

    // aioquic opens a bidirectional stream as soon as the session is up.
    const { value: greeting } = await withTimeout(wt.incomingBidirectionalStreams.getReader().read(), 5000, 'greeting stream');
    expect((await withTimeout(readWeb(greeting!.readable), 5000, 'greeting')).toString()).toBe('hello from aioquic');

    const payload = pattern(4 * MiB, 1);
    const bidi = await wt.createBidirectionalStream();
    const [, echoed] = await withTimeout(Promise.all([writeWeb(bidi.writable, payload), readWeb(bidi.readable)]), 30000, 'bidi echo');
    expect(sha256(echoed)).toBe(sha256(payload));

    const upload = pattern(2 * MiB, 2);
    const uniIn = wt.incomingUnidirectionalStreams.getReader();
    await withTimeout(writeWeb(await wt.createUnidirectionalStream(), upload), 30000, 'uni upload');
    const { value: answer } = await withTimeout(uniIn.read(), 10000, 'answer stream');
    expect((await withTimeout(readWeb(answer!), 5000, 'answer')).toString()).toBe(sha256(upload));

    const writer = wt.datagrams.writable.getWriter();
    const reader = wt.datagrams.readable.getReader();
    await writer.write(Buffer.from('datagram through aioquic'));
    const { value } = await withTimeout(reader.read(), 5000, 'datagram echo');
    expect(Buffer.from(value!).toString()).toBe('datagram through aioquic');
  }, 60000);

  it("delivers the client's close code and reason, and aioquic's", async () => {
    const wt = open('/echo');
    await withTimeout(wt.ready, 10000, 'ready');
    wt.close({ closeCode: 77, reason: 'nquic says bye' });
    await expect(withTimeout(wt.closed, 5000, 'closed')).resolves.toEqual({ closeCode: 77, reason: 'nquic says bye' });
    await withTimeout(reported((r) => (r.closed as Report | undefined)?.code === 77), 5000, 'close capsule at aioquic');
    expect(reports).toContainEqual({ closed: { code: 77, reason: 'nquic says bye' } });

    const closing = open('/close');
    await withTimeout(closing.ready, 10000, 'ready /close');
    await closing.datagrams.writable.getWriter().write(Buffer.from('please close'));
    await expect(withTimeout(closing.closed, 5000, 'closed by aioquic')).resolves.toEqual({ closeCode: 42, reason: 'bye from aioquic' });
  });

  it('fails ready when aioquic refuses the request', async () => {
    const wt = open('/refuse');
    const err = (await rejectionOf(wt.ready, 10000, 'ready')) as WebTransportError;
    expect(err).toBeInstanceOf(WebTransportError);
    expect(err.source).toBe('session');
    expect(err.message).toContain('HTTP status 403');
  });
});
