// W3C WebTransportDatagramDuplexStream over a session's HTTP datagrams.
// Incoming datagrams wait in a queue of at most `incomingHighWaterMark`
// (the oldest are dropped beyond it, and any older than `incomingMaxAge`
// ms); outgoing ones larger than `maxDatagramSize` are dropped, as the
// specification says.
import { ReadableStream, WritableStream } from 'node:stream/web';
import type { ReadableStreamDefaultController } from 'node:stream/web';
import type { WebTransportSession } from './session';

const DEFAULT_INCOMING_HIGH_WATER_MARK = 1024;

interface Queued {
  data: Uint8Array;
  at: number;
}

/** W3C `WebTransportDatagramDuplexStream`: a session's datagrams, as `transport.datagrams`. */
export class WebTransportDatagramDuplexStream {
  /** Received datagrams, one chunk each; it ends when the session does. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Datagrams to send, one chunk each (written before `ready`: sent once ready). */
  readonly writable: WritableStream<Uint8Array>;
  /** Incoming datagrams kept at most before the oldest is dropped. */
  incomingHighWaterMark = DEFAULT_INCOMING_HIGH_WATER_MARK;
  /** Outgoing datagrams queued at most (the native send queue holds them). */
  outgoingHighWaterMark = DEFAULT_INCOMING_HIGH_WATER_MARK;
  /** Incoming datagrams older than this many ms are dropped; null: no limit. */
  incomingMaxAge: number | null = null;
  /** Accepted for compatibility; datagrams leave on the next flush. */
  outgoingMaxAge: number | null = null;
  #session: WebTransportSession | undefined;
  /** Settles when the session is attached (or will never be). */
  readonly #attached: Promise<void>;
  #settleAttached!: () => void;
  readonly #queue: Queued[] = [];
  #wake: (() => void) | undefined;
  #ended = false;
  /** Incoming datagrams dropped because the queue was full. */
  droppedIncoming = 0;
  /** Incoming datagrams dropped for being older than `incomingMaxAge`. */
  expiredIncoming = 0;

  constructor() {
    this.readable = new ReadableStream<Uint8Array>({ pull: (controller) => this.#pull(controller) }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array>({ write: (chunk) => this.#write(chunk) });
    this.#attached = new Promise((resolve) => {
      this.#settleAttached = resolve;
    });
  }

  /** The largest datagram that can be sent now (0 before the session is ready or after it ends). */
  get maxDatagramSize(): number {
    return this.#session?.maxDatagramSize ?? 0;
  }

  /** @internal */
  _attach(session: WebTransportSession): void {
    this.#session = session;
    session.on('datagram', (data: Buffer) => this.#onDatagram(data));
    this.#settleAttached();
  }

  /** @internal No more datagrams: the readable ends once drained. */
  _end(): void {
    this.#ended = true;
    this.#wake?.();
    this.#settleAttached();
  }

  #onDatagram(data: Buffer): void {
    if (this.#ended) return;
    this.#queue.push({ data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at: performance.now() });
    while (this.#queue.length > Math.max(1, this.incomingHighWaterMark)) {
      this.#queue.shift();
      this.droppedIncoming++;
    }
    this.#wake?.();
  }

  #take(): Uint8Array | undefined {
    const maxAge = this.incomingMaxAge;
    for (let item = this.#queue.shift(); item; item = this.#queue.shift()) {
      if (maxAge !== null && maxAge > 0 && performance.now() - item.at > maxAge) {
        this.expiredIncoming++;
        continue;
      }
      return item.data;
    }
    return undefined;
  }

  #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> | void {
    const next = this.#take();
    if (next) return controller.enqueue(next);
    if (this.#ended) return controller.close();
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
    }).then(() => {
      this.#wake = undefined;
      return this.#pull(controller);
    });
  }

  #write(chunk: Uint8Array): Promise<void> | void {
    if (!(chunk instanceof Uint8Array)) throw new TypeError('datagrams.writable takes Uint8Array chunks');
    // Written before the session is ready: sent once it is.
    if (!this.#session && !this.#ended) return this.#attached.then(() => this.#write(chunk));
    const session = this.#session;
    if (!session || this.#ended) throw new DOMException('The WebTransport session is not open', 'InvalidStateError');
    // Too large, or the send queue is full: dropped, as datagrams may be.
    if (chunk.byteLength > session.maxDatagramSize) return;
    session.sendDatagram(chunk);
  }
}
