// WHATWG streams over a session's QuicStream, with W3C WebTransport's error
// semantics: a peer's RESET_STREAM / STOP_SENDING error the stream with a
// WebTransportError whose `streamErrorCode` is the peer's code; cancelling
// a readable sends STOP_SENDING and aborting a writable RESET_STREAM, each
// with the reason's `streamErrorCode` (or 0).
import { ReadableStream, WritableStream } from 'node:stream/web';
import { QuicError } from '../errors';
import type { QuicStream } from '../stream';
import { webTransportError } from './errors';

const READ_HIGH_WATER_MARK = 256 * 1024;
const MAX_CODE = 0xffff_ffff;
/** Codes of HTTP/3 itself that reach a WebTransport stream: not the peer application's. */
const PROTOCOL_CODES = new Set([0x170d_7b68 /* WEBTRANSPORT_SESSION_GONE */, 0x3994_bd84 /* BUFFERED_STREAM_REJECTED */]);

/** The error a WebTransport application sees for a stream's QuicError. */
export function toWebTransportError(err: unknown): unknown {
  if (!(err instanceof QuicError)) return err;
  if (err.code === 'ERR_QUIC_STREAM_RESET' || err.code === 'ERR_QUIC_STREAM_STOPPED') {
    const code = err.appCode;
    const streamErrorCode = code !== undefined && code <= MAX_CODE && !PROTOCOL_CODES.has(code) ? code : null;
    const source = streamErrorCode === null && code !== undefined && PROTOCOL_CODES.has(code) ? 'session' : 'stream';
    return webTransportError(err.message, { source, streamErrorCode }, err);
  }
  return webTransportError(err.message, { source: 'session' }, err);
}

/** The stream error code an abort or cancel reason asks for (W3C: its `streamErrorCode`, else 0). */
function codeOf(reason: unknown): number {
  const code = (reason as { streamErrorCode?: unknown } | null | undefined)?.streamErrorCode;
  return typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= MAX_CODE ? code : 0;
}

/** A readable byte stream (`WebTransportReceiveStream`) over a stream's receiving side. */
export function receiveStream(stream: QuicStream): ReadableStream<Uint8Array> {
  let done = false;
  return new ReadableStream({
    type: 'bytes',
    start(controller) {
      stream.on('data', (chunk: Buffer) => {
        if (done) return;
        // A byte stream takes ownership of the chunk's ArrayBuffer: give it a copy.
        controller.enqueue(new Uint8Array(chunk));
        if ((controller.desiredSize ?? 0) <= 0) stream.pause();
      });
      stream.once('end', () => {
        if (done) return;
        done = true;
        controller.close();
        controller.byobRequest?.respond(0);
      });
      stream.on('error', (err) => {
        if (done) return;
        done = true;
        controller.error(toWebTransportError(err));
      });
    },
    pull() {
      stream.resume();
    },
    cancel(reason) {
      done = true;
      if (!stream.destroyed) stream.stopSending(codeOf(reason));
    },
  }, { highWaterMark: READ_HIGH_WATER_MARK });
}

/** A writable stream (`WebTransportSendStream`) over a stream's sending side. */
export function sendStream(stream: QuicStream): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    start(controller) {
      stream.on('error', (err) => controller.error(toWebTransportError(err)));
    },
    write(chunk) {
      if (!(chunk instanceof Uint8Array)) throw new TypeError('A WebTransport stream takes Uint8Array chunks');
      return new Promise<void>((resolve, reject) => {
        const ok = stream.write(chunk, (err) => {
          if (err) reject(toWebTransportError(err));
        });
        if (ok) resolve();
        else stream.once('drain', resolve);
      });
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        stream.end((err?: Error | null) => (err ? reject(toWebTransportError(err)) : resolve()));
      });
    },
    abort(reason) {
      if (!stream.destroyed) stream.reset(codeOf(reason));
    },
  });
}

/** W3C `WebTransportBidirectionalStream`. */
export interface WebTransportBidirectionalStream {
  /** What the peer sends: a byte stream (BYOB readers work). */
  readonly readable: ReadableStream<Uint8Array>;
  /** What this side sends; `close()` sends FIN, `abort(reason)` RESET_STREAM. */
  readonly writable: WritableStream<Uint8Array>;
}

export function bidirectionalStream(stream: QuicStream): WebTransportBidirectionalStream {
  return { readable: receiveStream(stream), writable: sendStream(stream) };
}
