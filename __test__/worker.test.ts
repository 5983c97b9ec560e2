// The addon in worker_threads (what Electron renderers, utility processes and Node workers do):
// each Worker loads its own copy of the native module into its own V8 context while the main
// thread uses it too, which only works for a context-aware addon (napi-rs registers one). Each
// worker runs a full loopback QUIC connection — generateCertificate, listen on 127.0.0.1:0,
// connect, echo a stream and a datagram, close — and posts the result back.
//
// The worker cannot import '../lib' (TypeScript, transformed by jest only in this thread), so it
// requires the built package entry, dist/index.js (run `npm run build:ts` first).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { connect, generateCertificate, listen, native } from '../lib';
import { type QuicStream, withTimeout } from './helpers';

const DIST = path.resolve(__dirname, '..', 'dist', 'index.js');
const WAIT_MS = 15000;

interface WorkerResult {
  ok: boolean;
  error?: string;
  threadId?: number;
  streamEcho?: string;
  datagramEcho?: string;
  alpn?: string;
  closeCode?: number;
}

// Plain CommonJS run by the Worker. Every wait is bounded; any failure is posted back.
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData, threadId } = require('node:worker_threads');
const nquic = require(workerData.dist);

function bounded(promise, ms, label) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(label + ' timed out after ' + ms + ' ms')), ms); }),
  ]).finally(() => clearTimeout(timer));
}

async function main() {
  const tag = workerData.tag;
  const { key, cert } = nquic.generateCertificate({ subjectAltNames: ['localhost'] });
  const server = await bounded(nquic.listen({ address: '127.0.0.1', port: 0, alpn: ['worker'], key, cert }), 5000, 'listen');
  try {
    server.on('connection', (conn) => {
      conn.on('stream', (stream) => stream.pipe(stream));
      conn.on('datagram', (d) => conn.sendDatagram(d));
    });
    const port = server.address.port;
    const client = await bounded(
      nquic.connect({ host: '127.0.0.1', port, alpn: ['worker'], ca: cert, serverName: 'localhost' }),
      5000, 'connect');
    const closed = new Promise((resolve) => client.once('close', (info) => resolve(info)));

    const stream = await bounded(client.openStream(), 3000, 'openStream');
    const chunks = [];
    const streamDone = new Promise((resolve, reject) => {
      stream.on('data', (c) => chunks.push(Buffer.from(c)));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    stream.end('stream from ' + tag);
    await bounded(streamDone, 5000, 'stream echo');

    // Datagrams are unreliable: resend until one comes back (loopback rarely drops any).
    const datagramEcho = await bounded(new Promise((resolve) => {
      client.on('datagram', (d) => resolve(Buffer.from(d).toString()));
      const send = () => client.sendDatagram(Buffer.from('datagram from ' + tag));
      send();
      const timer = setInterval(send, 100);
      client.once('datagram', () => clearInterval(timer));
    }), 5000, 'datagram echo');

    const alpn = client.alpnProtocol;
    await bounded(client.close({ code: 0, reason: 'done' }), 5000, 'client.close');
    const info = await bounded(closed, 5000, "client 'close' event");
    return { ok: true, threadId, streamEcho: Buffer.concat(chunks).toString(), datagramEcho, alpn,
      closeCode: info && typeof info.code === 'number' ? info.code : undefined };
  } finally {
    await bounded(server.close(), 5000, 'server.close');
  }
}

main().then(
  (result) => parentPort.postMessage(result),
  (err) => parentPort.postMessage({ ok: false, error: String((err && err.stack) || err) }),
);
`;

let workerFile: string;

beforeAll(() => {
  if (!fs.existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build:ts\` first`);
  workerFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nquic-worker-')), 'loopback-worker.js');
  fs.writeFileSync(workerFile, WORKER_SOURCE);
});

afterAll(() => {
  if (workerFile) fs.rmSync(path.dirname(workerFile), { recursive: true, force: true });
});

function runWorker(tag: string): Promise<WorkerResult> {
  const worker = new Worker(workerFile, { workerData: { dist: DIST, tag } });
  const done = new Promise<WorkerResult>((resolve, reject) => {
    worker.once('message', (m: WorkerResult) => resolve(m));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker ${tag} exited with code ${code} before posting a result`)));
  });
  return withTimeout(done, WAIT_MS, `worker ${tag}`).finally(() => worker.terminate());
}

/** The same loopback, on the main thread, through the TypeScript sources. */
async function mainThreadLoopback(): Promise<string> {
  const { key, cert } = generateCertificate({ subjectAltNames: ['localhost'] });
  const server = await listen({ address: '127.0.0.1', port: 0, alpn: ['worker'], key, cert });
  try {
    server.on('connection', (conn) => conn.on('stream', (s: QuicStream) => s.pipe(s)));
    const client = await withTimeout(
      connect({ host: '127.0.0.1', port: server.address.port, alpn: ['worker'], ca: cert, serverName: 'localhost' }),
      5000,
      'main-thread connect',
    );
    const stream = await withTimeout(client.openStream(), 3000, 'main-thread openStream');
    const chunks: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
      stream.on('end', () => resolve());
      stream.on('error', reject);
    });
    stream.end('main thread');
    await withTimeout(ended, 5000, 'main-thread stream echo');
    await withTimeout(client.close({ code: 0, reason: 'done' }), 5000, 'main-thread close');
    return Buffer.concat(chunks).toString();
  } finally {
    await withTimeout(server.close(), 5000, 'main-thread server.close');
  }
}

function expectLoopback(result: WorkerResult, tag: string): void {
  expect(result.error).toBeUndefined();
  expect(result).toMatchObject({
    ok: true,
    streamEcho: `stream from ${tag}`,
    datagramEcho: `datagram from ${tag}`,
    alpn: 'worker',
  });
  expect(result.threadId).toBeGreaterThan(0);
}

describe('worker_threads (context-aware addon)', () => {
  test('two workers and the main thread each run a loopback connection at the same time', async () => {
    expect(typeof native.generateCertificate).toBe('function'); // loaded in the main thread
    const [a, b, mainEcho] = await Promise.all([runWorker('A'), runWorker('B'), mainThreadLoopback()]);
    expectLoopback(a, 'A');
    expectLoopback(b, 'B');
    expect(a.threadId).not.toBe(b.threadId);
    expect(mainEcho).toBe('main thread');
  });

  test('a new worker loads the addon again after earlier workers were torn down', async () => {
    expectLoopback(await runWorker('C'), 'C');
    // and the main thread's copy still works
    expect(generateCertificate({ subjectAltNames: ['localhost'] }).cert).toContain('BEGIN CERTIFICATE');
  });
});
