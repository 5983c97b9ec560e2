// Outgoing datagrams batched in JavaScript between two flushes, so that an
// application sending many (an echo, a game tick) crosses into the native
// layer once per flush instead of once per datagram.
//
// A connection's first `sendDatagram` after anything that may change its
// queue or path (a receive, a poll, a timeout, a flush: the socket's send
// epoch) goes to the native layer, which answers with the room left in the
// connection's send queue and the largest datagram allowed. Until the epoch
// moves on, datagrams within both limits are copied here and queued in order,
// in one call, just before the socket's flush (or before anything else that
// needs them queued natively first). So `sendDatagram` keeps its synchronous
// answers: `false` when the queue is full, the size error when too large.
import type native from './binding';

type NativeEndpoint = InstanceType<typeof native.NativeEndpoint>;

/** Bytes batched per socket before a push (more go native at once). */
const BATCH_BYTES = 256 * 1024;
/** Datagrams batched per socket before a push. */
const BATCH_ROWS = 2048;
/** `[connection, offset, length]` per datagram (src/binding.rs, send_datagrams). */
const ROW = 3;

export class DatagramBatch {
  #data: Buffer | undefined;
  #rows: Uint32Array | undefined;
  #count = 0;
  #bytes = 0;

  /** Copies `datagram` of connection `handle` into the batch; false when the batch is full. */
  add(handle: number, datagram: Uint8Array): boolean {
    if (this.#count === BATCH_ROWS || this.#bytes + datagram.length > BATCH_BYTES) return false;
    // Allocated on first use: a socket that never batches pays nothing.
    this.#data ??= Buffer.allocUnsafe(BATCH_BYTES);
    this.#rows ??= new Uint32Array(BATCH_ROWS * ROW);
    const at = this.#count * ROW;
    this.#rows[at] = handle;
    this.#rows[at + 1] = this.#bytes;
    this.#rows[at + 2] = datagram.length;
    this.#data.set(datagram, this.#bytes);
    this.#bytes += datagram.length;
    this.#count++;
    return true;
  }

  /** Queues the batch natively, in order, and empties it. */
  push(endpoint: NativeEndpoint): void {
    if (this.#count === 0 || this.#data === undefined || this.#rows === undefined) return;
    const count = this.#count;
    this.#count = 0;
    this.#bytes = 0;
    endpoint.sendDatagrams(this.#data, this.#rows, count);
  }
}
