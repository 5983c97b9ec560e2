// Payloads of native event rows (src/events.rs) live in the shared inbox,
// which the next poll overwrites: each is copied out into a Buffer of its own.

/** Numbers per event row of `records`: `[kind, connection, a, b, c, d]` (`STRIDE` in src/events.rs). */
export const RECORD_STRIDE = 6;
/**
 * Bytes one slab holds at most (see `DatagramSlab`): a datagram the
 * application keeps keeps at most this much memory alive, as a Buffer of
 * Node's own 8 KiB pool does.
 */
const SLAB_BYTES = 8 * 1024;
/**
 * Bytes a run may skip between two datagrams: a WebTransport datagram's row
 * leaves out its Quarter Stream ID, a varint of at most 8 bytes (RFC 9297
 * §2.1), which the slab then holds too.
 */
const MAX_GAP = 8;

/** A copy of `length` bytes of `inbox` from `offset`. */
export function copyOut(inbox: Buffer, offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  inbox.copy(out, 0, offset, offset + length);
  return out;
}

/**
 * Copies datagram payloads out of the inbox for one batch of rows. The
 * native layer writes the datagrams of a batch one after the other, so a run
 * of datagram rows (of the same `kind`, `[kind, conn, offset, length, …]`)
 * whose bytes follow each other (at most `MAX_GAP` bytes apart) is copied in
 * one go, into one Buffer (a slab
 * of at most `SLAB_BYTES`), and each datagram is a Buffer of its own over its
 * bytes of that slab: one copy and one allocation per run instead of per
 * datagram (about 35 per event-loop turn in an echo). Nothing else ever
 * writes to a slab. Valid for one batch: the next poll rewrites the inbox.
 */
export class DatagramSlab {
  readonly #inbox: Buffer;
  #slab: Buffer | undefined;
  /** The inbox range the slab holds. */
  #start = 0;
  #end = 0;

  constructor(inbox: Buffer) {
    this.#inbox = inbox;
  }

  /** The payload of row `i` (of `rows`), a datagram row of kind `kind`. */
  take(records: Float64Array, rows: number, i: number, kind: number): Buffer {
    const r = i * RECORD_STRIDE;
    const offset = records[r + 2];
    const length = records[r + 3];
    const slab = this.#slab;
    if (slab !== undefined && offset >= this.#start && offset + length <= this.#end) {
      return Buffer.from(slab.buffer, slab.byteOffset + offset - this.#start, length);
    }
    // A new run: the rows that follow, as long as their bytes do.
    let end = offset + length;
    for (let j = r + RECORD_STRIDE; j < rows * RECORD_STRIDE && records[j] === kind; j += RECORD_STRIDE) {
      const gap = records[j + 2] - end;
      if (gap < 0 || gap > MAX_GAP) break;
      const next = records[j + 2] + records[j + 3];
      if (next - offset > SLAB_BYTES) break;
      end = next;
    }
    if (end === offset + length) return copyOut(this.#inbox, offset, length);
    const fresh = copyOut(this.#inbox, offset, end - offset);
    this.#slab = fresh;
    this.#start = offset;
    this.#end = end;
    return Buffer.from(fresh.buffer, fresh.byteOffset, length);
  }
}
