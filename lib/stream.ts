// QuicStream: a Node Duplex over one QUIC stream. Writes go straight into
// quiche's send buffer until flow control says no; then the write callback
// waits for a STREAM_WRITABLE event. Reads pause the native stream when
// `push()` reports a full buffer, so QUIC flow control holds the peer back.
import { Duplex, type DuplexOptions } from 'node:stream';
import { ReadableStream, WritableStream } from 'node:stream/web';
import type { QuicConnection } from './connection';
import { CloseInfo, QuicError } from './errors';
import { validateBoolean, validateInteger, validateObject } from './validate';

const EMPTY = Buffer.alloc(0);
const WRITE_CLOSED = -1;
const WRITE_BLOCKED = -2;
const WRITE_STOPPED = -3; // the peer's STOP_SENDING was just found: `_onStopped` follows
const MAX_APP_CODE = Number.MAX_SAFE_INTEGER;

interface PendingWrite {
  data: Buffer;
  fin: boolean;
  callback: (err?: Error | null) => void;
}

/**
 * One QUIC stream (RFC 9000 §2-3) as a Node `Duplex` with `allowHalfOpen`:
 * write with `write()`/`end()` (`end()` sends FIN), read with `'data'`,
 * `pipe()` or async iteration. A local unidirectional stream is write-only, a
 * remote one read-only. Backpressure follows Node's rules over QUIC flow
 * control (RFC 9000 §4): `write()` returns false and `'drain'` follows when
 * the peer grants credit; a reader that stops reading closes the peer's
 * window instead of growing memory. {@link toWeb} gives WHATWG streams.
 *
 * Errors (the `'error'` event, and the callback of a pending write) are
 * {@link QuicError}s: `ERR_QUIC_STREAM_RESET` / `ERR_QUIC_STREAM_STOPPED`
 * with the peer's `appCode` when it sent RESET_STREAM / STOP_SENDING, and the
 * connection's close error if it ends first. `destroy(err)` on an unfinished
 * stream sends RESET_STREAM and STOP_SENDING with `err.appCode` (default 0).
 *
 * Mind a Node streams rule: `for await (const chunk of stream)` (and
 * `stream/consumers` helpers such as `text(stream)`) destroy the stream when
 * the loop ends, which resets a sending side not yet finished. To read a
 * request and then answer on the same stream, iterate
 * `stream.iterator({ destroyOnReturn: false })` or use `'data'`/`'end'`.
 */
export class QuicStream extends Duplex {
  /** The stream ID (RFC 9000 §2.1): its two low bits tell the initiator (bit 0: server) and direction (bit 1: unidirectional). */
  readonly id: number;
  /** Whether both sides can send on it. */
  readonly bidirectional: boolean;
  /** Whether this side (`'local'`) or the peer (`'remote'`) opened it. */
  readonly initiator: 'local' | 'remote';
  /** The connection the stream belongs to. */
  readonly connection: QuicConnection;
  #pending: PendingWrite | undefined;
  #paused = false;
  #readDone = false;
  #writeDone = false;
  #failure: Error | undefined;
  #resetLocally = false;

  /** @internal */
  constructor(connection: QuicConnection, id: number, initiator: 'local' | 'remote', bidirectional: boolean) {
    const readable = bidirectional || initiator === 'remote';
    const writable = bidirectional || initiator === 'local';
    // `readable: false` / `writable: false` end that side at once (one-way streams).
    const options: DuplexOptions & { readable: boolean; writable: boolean } = { allowHalfOpen: true, readable, writable, highWaterMark: 256 * 1024 };
    super(options);
    this.connection = connection;
    this.id = id;
    this.initiator = initiator;
    this.bidirectional = bidirectional;
    if (!readable) this.#readDone = true;
    if (!writable) this.#writeDone = true;
  }

  /** @hidden Duplex implementation. */
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#send({ data: chunk, fin: false, callback });
  }

  /** @hidden Duplex implementation. */
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    this.#send({ data: Buffer.concat(chunks.map((c) => c.chunk)), fin: false, callback });
  }

  /** @hidden Duplex implementation. */
  override _final(callback: (err?: Error | null) => void): void {
    this.#send({ data: EMPTY, fin: true, callback });
    // Put the FIN on the wire once this turn's other work is done. (It
    // usually leaves with data: the native layer holds back the last byte of
    // a write until the turn's flush, see `stream_write` in src/streams.rs.)
    if (!this.#resetLocally) this.connection.socket._flushSoon();
  }

  #send(write: PendingWrite): void {
    if (this.#resetLocally) {
      // After reset() the application's remaining writes are discarded.
      write.callback();
      return;
    }
    if (this.#failure) {
      write.callback(this.#failure);
      return;
    }
    let accepted: number;
    try {
      accepted = this.connection._streamWrite(this.id, write.data, write.fin);
    } catch (err) {
      write.callback(err as Error);
      return;
    }
    if (accepted === WRITE_STOPPED) {
      // Fails with the peer's code when the STREAM_STOPPED event arrives.
      this.#pending = write;
      return;
    }
    if (accepted === WRITE_CLOSED) {
      write.callback(this.#failure ?? new QuicError('ERR_QUIC_INVALID_STREAM_STATE', 'The stream can no longer be written to'));
      return;
    }
    if (accepted === write.data.length) {
      if (write.fin) this.#writeDone = true;
      write.callback();
      return;
    }
    const taken = accepted === WRITE_BLOCKED ? 0 : accepted;
    this.#pending = { ...write, data: write.data.subarray(taken) };
  }

  /** @internal */
  _onWritable(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    this.#send(pending);
  }

  /** @hidden Duplex implementation. */
  override _read(): void {
    if (this.#paused) {
      this.#paused = false;
      this.connection._streamSetPaused(this.id, false);
    }
  }

  /** @internal */
  _onData(data: Buffer, fin: boolean): void {
    if (this.#readDone) return;
    if (data.length > 0 && !this.push(data) && !fin && !this.#paused) {
      this.#paused = true;
      this.connection._streamSetPaused(this.id, true);
    }
    if (fin) {
      this.#readDone = true;
      this.push(null);
    }
  }

  /** @internal The peer sent RESET_STREAM. */
  _onReset(code: number): void {
    this.#readDone = true;
    this.destroy(new QuicError('ERR_QUIC_STREAM_RESET', `The peer reset stream ${this.id} with code ${code}`, { appCode: code }));
  }

  /** @internal The peer sent STOP_SENDING. */
  _onStopped(code: number): void {
    this.#writeDone = true;
    const err = new QuicError('ERR_QUIC_STREAM_STOPPED', `The peer stopped stream ${this.id} with code ${code}`, { appCode: code });
    this.#failure = err;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.callback(err);
    this.destroy(err);
  }

  /** @internal */
  _onConnectionClosed(info: CloseInfo): void {
    if (this.#readDone && this.#writeDone) return; // complete: buffered data still reads out
    this.#readDone = true;
    this.#writeDone = true;
    // A clean local close ends open streams quietly, like `destroy()`
    // without an error; anything else is an error on the stream.
    const quiet = info.error === undefined && !info.remote;
    const err = info.error ?? (quiet ? undefined : new QuicError('ERR_QUIC_CONNECTION_CLOSED', 'The connection closed before the stream finished'));
    this.#failure = err ?? new QuicError('ERR_QUIC_CONNECTION_CLOSED', 'The connection is closed');
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.callback(this.#failure);
    if (!this.destroyed) this.destroy(err);
  }

  /**
   * Sets this stream's priority (RFC 9218 §4 semantics, applied by this
   * side's scheduler): lower `urgency` (0-7, default 3) is sent first;
   * `incremental` streams of equal urgency share bandwidth, others are sent
   * one after the other (default true). Throws `ERR_OUT_OF_RANGE` for an
   * urgency outside 0-7, `ERR_QUIC_CONNECTION_CLOSED` after the end.
   */
  setPriority(opts: { urgency?: number; incremental?: boolean }): void {
    validateObject(opts, 'options');
    validateInteger(opts.urgency, 'options.urgency', 0, 7);
    validateBoolean(opts.incremental, 'options.incremental');
    this.connection._streamSetPriority(this.id, opts.urgency ?? 3, opts.incremental ?? true);
  }

  /**
   * Abandons sending: RESET_STREAM with application error `code` (0 to
   * 2^53-1; RFC 9000 §19.4). Unsent data is discarded and the writable side
   * finishes, so the stream closes once reading is done. The peer's stream
   * errors with `ERR_QUIC_STREAM_RESET` and `appCode === code`. No-op once
   * the sending side is finished.
   */
  reset(code: number): void {
    validateInteger(code, 'code', 0, MAX_APP_CODE, false);
    if (this.#writeDone) return;
    this.#writeDone = true;
    this.#resetLocally = true;
    this.connection._streamShutdown(this.id, true, code);
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.callback();
    if (!this.writableEnded) this.end();
  }

  /**
   * Asks the peer to stop sending: STOP_SENDING with application error
   * `code` (0 to 2^53-1; RFC 9000 §19.5). Ends the readable side here; the
   * peer's writes fail with `ERR_QUIC_STREAM_STOPPED` and `appCode === code`.
   */
  stopSending(code: number): void {
    validateInteger(code, 'code', 0, MAX_APP_CODE, false);
    if (this.#readDone) return;
    this.#readDone = true;
    this.connection._streamShutdown(this.id, false, code);
    this.push(null);
  }

  /**
   * Destroying a stream that is still open resets its send side and stops
   * its receive side, with `err.appCode` when present, else code 0.
   * @hidden
   */
  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const code = (err as QuicError | null)?.appCode ?? 0;
    if (!this.#writeDone) {
      this.#writeDone = true;
      this.connection._streamShutdown(this.id, true, code);
    }
    if (!this.#readDone) {
      this.#readDone = true;
      this.connection._streamShutdown(this.id, false, code);
    }
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.callback(err ?? new QuicError('ERR_QUIC_INVALID_STREAM_STATE', 'The stream was destroyed'));
    callback(err);
  }

  /**
   * WHATWG streams over this stream, with the same backpressure. The readable
   * ends when the peer finishes sending, whatever the writable side does;
   * cancelling it sends STOP_SENDING (code 0). Closing the writable sends
   * FIN; aborting it sends RESET_STREAM (code 0).
   *
   * {@includeCode ../examples/web-streams.mjs#web-streams}
   */
  toWeb(): {
    /** What the peer sends; ends at its FIN. */
    readable: ReadableStream<Uint8Array>;
    /** What this side sends; `close()` sends FIN. */
    writable: WritableStream<Uint8Array>;
  } {
    return { readable: webReadable(this), writable: webWritable(this) };
  }
}

function webReadable(stream: QuicStream): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        stream.on('data', (chunk: Buffer) => {
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((controller.desiredSize ?? 0) <= 0) stream.pause();
        });
        stream.once('end', () => controller.close());
        stream.once('error', (err) => controller.error(err));
      },
      pull() {
        stream.resume();
      },
      cancel() {
        if (!stream.destroyed) stream.stopSending(0);
      },
    },
    { highWaterMark: 256 * 1024, size: (chunk) => chunk.byteLength },
  );
}

function webWritable(stream: QuicStream): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    write(chunk) {
      return new Promise<void>((resolve, reject) => {
        const ok = stream.write(chunk, (err) => {
          if (err) reject(err);
        });
        if (ok) resolve();
        else stream.once('drain', resolve);
      });
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
      });
    },
    abort() {
      stream.reset(0);
    },
  });
}
