// Shared by the WebTransport suites: a certificate browsers accept by hash,
// a WebTransport server on 127.0.0.1, deterministic payloads, and readers
// for WHATWG streams. Every wait is bounded by the caller's withTimeout.
import { createHash } from 'node:crypto';
import { generateCertificate, listen, type QuicStream, type WebTransportSession } from '../../lib';
import type { ListenOptions } from '../helpers';
import { readAll, trackServer, withTimeout, type QuicServer } from '../helpers';

export const MiB = 1024 * 1024;

export interface HashCredentials {
  key: string;
  cert: string;
  fingerprint: string;
  /** `serverCertificateHashes` for this certificate. */
  hashes: { algorithm: 'sha-256'; value: Uint8Array }[];
}

/** A certificate pinned by hash: ECDSA P-256, `days` (default 10) long. */
export function hashCredentials(days = 10, keyType: 'ecdsa-p256' | 'ed25519' | 'rsa-2048' = 'ecdsa-p256'): HashCredentials {
  const c = generateCertificate({ subjectAltNames: ['localhost', '127.0.0.1'], keyType, days });
  return { ...c, hashes: [{ algorithm: 'sha-256', value: Buffer.from(c.fingerprint, 'hex') }] };
}

/** A WebTransport server on 127.0.0.1; closed after the current test unless `track` is false. */
export async function startWebTransportServer(creds: HashCredentials, opts: Partial<ListenOptions> = {}, track = true): Promise<QuicServer> {
  const server = await withTimeout(
    listen({ address: '127.0.0.1', port: 0, alpn: ['h3'], key: creds.key, cert: creds.cert, webTransport: true, ...opts } as ListenOptions),
    5000,
    'listen()',
  );
  return track ? trackServer(server) : server;
}

export function nextSession(server: QuicServer, ms = 5000): Promise<WebTransportSession> {
  return withTimeout(new Promise<WebTransportSession>((resolve) => server.once('session', resolve)), ms, "server 'session' event");
}

/** `len` deterministic bytes; the same formula runs in the browser page. */
export function pattern(len: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads a WHATWG readable stream to its end (at most `limit` bytes). */
export async function readWeb(readable: ReadableStream<Uint8Array> | import('node:stream/web').ReadableStream<Uint8Array>, limit = 64 * MiB): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) throw new Error(`readWeb: more than ${limit} bytes`);
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return Buffer.concat(chunks, total);
}

/** Writes `data` in 64 KiB pieces, then closes. */
export async function writeWeb(writable: WritableStream<Uint8Array> | import('node:stream/web').WritableStream<Uint8Array>, data: Uint8Array): Promise<void> {
  const writer = writable.getWriter();
  for (let at = 0; at < data.length; at += 64 * 1024) await writer.write(data.subarray(at, at + 64 * 1024));
  await writer.close();
}

/**
 * The echo protocol both WebTransport suites serve: bidirectional streams
 * and datagrams are echoed; a unidirectional stream is answered with the
 * SHA-256 (hex) of its bytes on a new unidirectional stream.
 */
export function serveEcho(session: WebTransportSession): void {
  session.on('stream', (stream: QuicStream) => {
    stream.on('error', () => {});
    if (stream.bidirectional) {
      stream.pipe(stream);
      return;
    }
    void readAll(stream).then(async (data) => {
      const reply = await session.openStream({ unidirectional: true });
      reply.end(sha256(data));
    });
  });
  session.on('datagram', (d: Uint8Array) => {
    try {
      session.sendDatagram(d);
    } catch {
      // closed meanwhile
    }
  });
}
