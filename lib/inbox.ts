// Payloads of native event rows (src/events.rs) live in the shared inbox,
// which the next poll overwrites: each is copied out into a Buffer of its own.

/** A copy of `length` bytes of `inbox` from `offset`. */
export function copyOut(inbox: Buffer, offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  inbox.copy(out, 0, offset, offset + length);
  return out;
}
