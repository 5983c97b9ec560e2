// QuicStream: a Node Duplex over one QUIC stream. Writes go straight into
// quiche's send buffer until flow control says no; then the write callback
// waits for a STREAM_WRITABLE event. Reads pause the native stream when
// `push()` reports a full buffer, so QUIC flow control holds the peer back.
//
// Each direction ends on its own (RFC 9000 §3): see docs/streams.md for
// what a peer's RESET_STREAM / STOP_SENDING does to the Duplex and why.
import { Duplex, type DuplexOptions } from 'node:stream';
import { ReadableStream, WritableStream } from 'node:stream/web';
import type { QuicConnection } from './connection';
import { CloseInfo, QuicError } from './errors';
import { validateBoolean, validateInteger, validateObject } from './validate';

/**
 * Application error code nquic uses to refuse a peer-opened stream that
 * nobody accepts (no `'stream'` listener): STOP_SENDING, and for a
 * bidirectional stream RESET_STREAM, carry it. Counted in
 * `stats().streamsRefused`.
 */
export const STREAM_REFUSED = 0x4e510001;
/**
 * Application error code nquic uses for a direction it ends on its own: when
 * a peer's RESET_STREAM or STOP_SENDING destroys a stream whose other
 * direction was still open, that direction is ended with this code (never
 * with the peer's code echoed back).
 */
export const STREAM_ABORTED = 0x4e510002;

const EMPTY = Buffer.alloc(0);
const WRITE_CLOSED = -1;
const WRITE_BLOCKED = -2;
const WRITE_STOPPED = -3; // the peer's STOP_SENDING was just found: `_onStopped` follows
const MAX_APP_CODE = Number.MAX_SAFE_INTEGER;

interface PendingWrite {
  /** What is left of the chunk being written. */
  data: Buffer;
  /** A `_writev` batch: its chunks, written one after the other (no copy into one buffer). */
  chunks: Buffer[] | undefined;
  /** Index in `chunks` of the chunk after `data`. */
  next: number;
  fin: boolean;
  callback: (err?: Error | null) => void;
}

/** A peer's abort seen before the application was handed the stream. */
type HeldAbort = { kind: 'reset' | 'stopped'; code: number };

/**
 * One QUIC stream (RFC 9000 §2-3) as a Node `Duplex` with `allowHalfOpen`:
 * write with `write()`/`end()` (`end()` sends FIN), read with `'data'`,
 * `pipe()` or async iteration. A local unidirectional stream is write-only, a
 * remote one read-only. Backpressure follows Node's rules over QUIC flow
 * control (RFC 9000 §4): `write()` returns false and `'drain'` follows when
 * the peer grants credit; a reader that stops reading closes the peer's
 * window instead of growing memory. {@link toWeb} gives WHATWG streams.
 *
 * Each direction ends on its own (RFC 9000 §3). When the peer sends
 * RESET_STREAM / STOP_SENDING, the stream errors by default (the `'error'`
 * event, and the callback of a pending write): `ERR_QUIC_STREAM_RESET` /
 * `ERR_QUIC_STREAM_STOPPED` with the peer's `appCode`, and nquic ends the
 * other direction, if still open, with {@link STREAM_ABORTED}. With a
 * `'reset'` / `'stopSending'` listener only that direction ends and the other
 * carries on. After the application's own `reset()`, `stopSending()` or
 * `destroy()`, the peer's next moves end the stream without an `'error'`. If
 * the connection ends first, an unfinished stream errors with its close error
 * (quietly for a clean local close). `destroy(err)` on an unfinished stream
 * sends RESET_STREAM and STOP_SENDING with `err.appCode` (default 0).
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
  /** Set while `end()` runs (see there). */
  #ending = false;
  /** A write took the FIN. */
  #finWritten = false;
  #paused = false;
  /** The receive direction is over for the native layer (FIN, reset, stopped). */
  #readDone = false;
  /** The send direction is over for the native layer (FIN taken, reset, stopped). */
  #writeDone = false;
  #failure: Error | undefined;
  /** Writes are accepted and dropped: after reset(), or after a peer's STOP_SENDING that did not destroy the stream. */
  #discardWrites = false;
  /** The application called reset(), stopSending() or destroy(): a peer's later aborts are quiet. */
  #abortedByApp = false;
  /** Set while nquic itself destroys the stream (its own code goes on the wire). */
  #endingOnItsOwn = false;
  /** The application has been handed this stream ('stream' event or openStream()). */
  #handed: boolean;
  /** Aborts the peer sent before the application was handed the stream (rarely any). */
  #heldAborts: HeldAbort[] | undefined;

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
    this.#handed = initiator === 'local';
    if (!readable) this.#readDone = true;
    if (!writable) this.#writeDone = true;
  }

  // Node's `writable.end()`; a chunk written by the call itself carries the
  // FIN (RFC 9000 §19.8) in the same native write.
  /** @hidden */
  override end(cb?: () => void): this;
  /** @hidden */
  override end(chunk: unknown, cb?: () => void): this;
  /** @hidden */
  override end(chunk: unknown, encoding?: BufferEncoding, cb?: () => void): this;
  override end(...args: unknown[]): this {
    // Whatever `_write` runs inside `end()` is the stream's last data: Node
    // writes the chunk at once, or flushes the buffered rest (corked), and
    // buffers everything while a write is in progress.
    this.#ending = true;
    try {
      return Reflect.apply(super.end, this, args) as this;
    } finally {
      this.#ending = false;
    }
  }

  /** @hidden Duplex implementation. */
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#send({ data: chunk, chunks: undefined, next: 0, fin: this.#ending, callback });
  }

  /** @hidden Duplex implementation. */
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    this.#send({ data: buffers[0], chunks: buffers, next: 1, fin: false, callback });
  }

  /** @hidden Duplex implementation. */
  override _final(callback: (err?: Error | null) => void): void {
    if (this.#finWritten) {
      // The last write took the FIN (see `end`).
      callback();
      return;
    }
    this.#send({ data: EMPTY, chunks: undefined, next: 0, fin: true, callback });
    // Put the FIN on the wire once this turn's other work is done. (It
    // usually leaves with data: the native layer holds back the last byte of
    // a write until the turn's flush, see `stream_write` in src/streams.rs.)
    if (!this.#discardWrites) this.connection.socket._flushSoon();
  }

  #send(write: PendingWrite): void {
    if (this.#discardWrites) {
      // After reset() (or a STOP_SENDING that ended only the send side) the
      // application's remaining writes are discarded.
      write.callback();
      return;
    }
    if (this.#failure) {
      write.callback(this.#failure);
      return;
    }
    for (;;) {
      let accepted: number;
      try {
        accepted = this.connection._streamWrite(this.id, write.data, write.fin);
      } catch (err) {
        write.callback(err as Error);
        return;
      }
      if (accepted === WRITE_STOPPED) {
        // Settled by the STREAM_STOPPED event that follows.
        this.#pending = write;
        return;
      }
      if (accepted === WRITE_CLOSED) {
        write.callback(this.#failure ?? new QuicError('ERR_QUIC_INVALID_STREAM_STATE', 'The stream can no longer be written to'));
        return;
      }
      if (accepted !== write.data.length) {
        const taken = accepted === WRITE_BLOCKED ? 0 : accepted;
        write.data = write.data.subarray(taken);
        this.#pending = write;
        return;
      }
      const chunks = write.chunks;
      if (chunks !== undefined && write.next < chunks.length) {
        write.data = chunks[write.next++];
        continue;
      }
      if (write.fin) {
        this.#writeDone = true;
        this.#finWritten = true;
      }
      write.callback();
      return;
    }
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

  /** @internal Whether the application has been handed this stream. */
  get _handed(): boolean {
    return this.#handed;
  }

  /**
   * @internal The application is handed this (peer-opened) stream now, by
   * the 'stream' event that follows; aborts the peer sent before that are
   * reported once the application has had a turn to listen (promise
   * continuations of that event included).
   */
  _handOut(): void {
    this.#handed = true;
    const held = this.#heldAborts;
    this.#heldAborts = undefined;
    if (held !== undefined) {
      setImmediate(() => {
        for (const abort of held) {
          if (this.destroyed) return;
          if (abort.kind === 'reset') this.#peerReset(abort.code);
          else this.#peerStopped(abort.code);
        }
      });
    }
  }

  /**
   * @internal Nobody accepts this peer-opened stream: STOP_SENDING (and
   * RESET_STREAM for a bidirectional one) with STREAM_REFUSED, and it goes
   * away without any event the application could see.
   */
  _refuse(): void {
    this.#heldAborts = undefined;
    this.#endingOnItsOwn = true;
    this.#shutDownOpen(STREAM_REFUSED);
    this.destroy();
  }

  /** Ends natively whatever direction is still open, with application code `code`. */
  #shutDownOpen(code: number): void {
    if (!this.#writeDone) {
      this.#writeDone = true;
      this.connection._streamShutdown(this.id, true, code);
    }
    if (!this.#readDone) {
      this.#readDone = true;
      this.connection._streamShutdown(this.id, false, code);
    }
  }

  /** @internal The peer sent RESET_STREAM: its sending side, our readable side, is abandoned. */
  _onReset(code: number): void {
    if (this.#readDone) return;
    this.#readDone = true;
    if (this.#handed) this.#peerReset(code);
    else (this.#heldAborts ??= []).push({ kind: 'reset', code });
  }

  /** @internal The peer sent STOP_SENDING: our writable side is over. */
  _onStopped(code: number): void {
    if (this.#writeDone) return;
    this.#writeDone = true;
    if (this.#handed) this.#peerStopped(code);
    else (this.#heldAborts ??= []).push({ kind: 'stopped', code });
  }

  /**
   * With a 'reset' listener only the readable side ends ('reset', then
   * 'end'); otherwise the stream is destroyed, with the error unless the
   * application aborted the stream itself.
   */
  #peerReset(code: number): void {
    const err = new QuicError('ERR_QUIC_STREAM_RESET', `The peer reset stream ${this.id} with code ${code}`, { appCode: code });
    if (this.listenerCount('reset') > 0) {
      this.emit('reset', err);
      this.push(null);
      return;
    }
    this.#endStream(err);
  }

  /**
   * With a 'stopSending' listener, or after the application aborted the
   * stream itself, only the writable side ends: pending and later writes
   * are discarded (their callbacks succeed: a peer's move never makes a
   * write fail here) until the application ends or destroys the stream.
   * Otherwise the stream is destroyed with the error.
   */
  #peerStopped(code: number): void {
    const err = new QuicError('ERR_QUIC_STREAM_STOPPED', `The peer stopped stream ${this.id} with code ${code}`, { appCode: code });
    const listened = this.listenerCount('stopSending') > 0;
    if (!listened && !this.#abortedByApp) {
      this.#endStream(err);
      return;
    }
    if (listened) this.emit('stopSending', err);
    this.#discardWrites = true;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.callback();
    if (this.#abortedByApp) {
      // The application stopped reading itself: nothing is left to do.
      this.#endingOnItsOwn = true;
      this.destroy();
    }
  }

  /**
   * Destroys the stream after a peer's abort: with `err` unless the
   * application aborted the stream itself. A direction still open ends with
   * STREAM_ABORTED, and a pending write fails with `err`.
   */
  #endStream(err: QuicError): void {
    this.#failure = err;
    this.#endingOnItsOwn = true;
    this.#shutDownOpen(STREAM_ABORTED);
    this.destroy(this.#abortedByApp ? undefined : err);
  }

  /** @internal */
  _onConnectionClosed(info: CloseInfo): void {
    if (this.destroyed) return;
    if (this.#readDone && this.#writeDone && this.#heldAborts === undefined) {
      // Complete: buffered data still reads out. A writable side the peer
      // stopped (writes discarded) can never finish now: close after reading.
      if (this.#discardWrites && !this.writableFinished) this.#destroyOnceRead();
      return;
    }
    this.#readDone = true;
    this.#writeDone = true;
    this.#heldAborts = undefined;
    // A clean local close ends open streams quietly, like `destroy()`
    // without an error, and so does any close for a stream the application
    // never saw or aborted itself; anything else is an error on the stream.
    const quiet = (info.error === undefined && !info.remote) || !this.#handed || this.#abortedByApp;
    this.#failure = info.error ?? new QuicError('ERR_QUIC_CONNECTION_CLOSED', 'The connection closed before the stream finished');
    this.#endingOnItsOwn = true;
    this.destroy(quiet ? undefined : this.#failure);
  }

  /** Destroys the stream (quietly) once its buffered data has been read. */
  #destroyOnceRead(): void {
    const done = (): void => {
      this.#endingOnItsOwn = true;
      this.destroy();
    };
    if (this.readableEnded || !this.readable) done();
    else this.once('end', done);
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
   * errors with `ERR_QUIC_STREAM_RESET` and `appCode === code` (or hears
   * `'reset'`). The readable side carries on; whatever the peer does
   * afterwards, this stream emits no `'error'`. No-op once the sending side
   * is finished.
   */
  reset(code: number): void {
    validateInteger(code, 'code', 0, MAX_APP_CODE, false);
    this.#abortedByApp = true;
    if (this.#writeDone) return;
    this.#writeDone = true;
    this.#discardWrites = true;
    this.connection._streamShutdown(this.id, true, code);
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.callback();
    if (!this.writableEnded) this.end();
  }

  /**
   * Asks the peer to stop sending: STOP_SENDING with application error
   * `code` (0 to 2^53-1; RFC 9000 §19.5). Ends the readable side here; the
   * peer's writes fail with `ERR_QUIC_STREAM_STOPPED` and `appCode === code`
   * (or it hears `'stopSending'`). The writable side carries on; whatever
   * the peer does afterwards, this stream emits no `'error'`.
   */
  stopSending(code: number): void {
    validateInteger(code, 'code', 0, MAX_APP_CODE, false);
    this.#abortedByApp = true;
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
  override destroy(error?: Error, ...rest: unknown[]): this {
    if (!this.#endingOnItsOwn && !this.destroyed) this.#abortedByApp = true;
    // Passes on every argument (Node's own callers may add a callback).
    return Reflect.apply(super.destroy, this, [error, ...rest]) as this;
  }

  /** @hidden */
  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const appCode = (err as QuicError | null)?.appCode;
    // An error from a peer's abort (a failed write callback leads Node here
    // too) never sends the peer's own code back.
    this.#shutDownOpen(this.#endingOnItsOwn || err === this.#failure ? STREAM_ABORTED : (appCode ?? 0));
    // The stream is marked destroyed by now, so a failed write callback
    // emits no 'error' of its own.
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.callback(err ?? this.#failure ?? new QuicError('ERR_QUIC_INVALID_STREAM_STATE', 'The stream was destroyed'));
    callback(err);
  }

  /**
   * WHATWG streams over this stream, with the same backpressure. Each
   * direction ends on its own: the readable ends when the peer finishes
   * sending, whatever the writable side does, and errors when the peer resets
   * its side (RESET_STREAM) while the writable carries on; the writable
   * errors when the peer sends STOP_SENDING while the readable carries on.
   * Cancelling the readable sends STOP_SENDING (code 0). Closing the writable
   * sends FIN; aborting it sends RESET_STREAM (code 0).
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
  let settled = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const settle = (err?: unknown): void => {
          if (settled) return;
          settled = true;
          if (err === undefined) controller.close();
          else controller.error(err);
        };
        stream.on('data', (chunk: Buffer) => {
          if (settled) return;
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((controller.desiredSize ?? 0) <= 0) stream.pause();
        });
        stream.once('end', () => settle());
        // A 'reset' listener keeps the writable side open (see _onReset).
        stream.once('reset', (err: Error) => settle(err));
        stream.once('error', (err: Error) => settle(err));
        stream.once('close', () => settle(new QuicError('ERR_QUIC_INVALID_STREAM_STATE', 'The stream closed before it ended')));
      },
      pull() {
        stream.resume();
      },
      cancel() {
        settled = true;
        if (!stream.destroyed) stream.stopSending(0);
      },
    },
    { highWaterMark: 256 * 1024, size: (chunk) => chunk.byteLength },
  );
}

function webWritable(stream: QuicStream): WritableStream<Uint8Array> {
  let stopped: Error | undefined;
  return new WritableStream<Uint8Array>({
    start(controller) {
      // A 'stopSending' listener keeps the readable side open (see _onStopped).
      stream.once('stopSending', (err: Error) => {
        stopped = err;
        controller.error(err);
      });
    },
    write(chunk) {
      if (stopped) return Promise.reject(stopped);
      return new Promise<void>((resolve, reject) => {
        const ok = stream.write(chunk, (err) => {
          if (err) reject(err);
        });
        if (ok) resolve();
        else stream.once('drain', resolve);
      });
    },
    close() {
      if (stopped) return Promise.reject(stopped);
      return new Promise<void>((resolve, reject) => {
        stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
      });
    },
    abort() {
      if (!stopped && !stream.destroyed) stream.reset(0);
    },
  });
}
