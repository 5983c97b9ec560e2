// DatagramSlab (lib/inbox.ts): datagram payloads of one poll are copied out
// of the shared inbox a run at a time, each handed out as a Buffer of its own.
import { DatagramSlab } from '../lib/inbox';

const STRIDE = 6;
const DATAGRAM = 7;
const STREAM_DATA = 3;

/** Rows `[kind, conn, offset, length, 0, 0]` into a Float64Array. */
function rows(list: Array<[number, number, number]>): Float64Array {
  const records = new Float64Array(list.length * STRIDE);
  list.forEach(([kind, offset, length], i) => records.set([kind, 1, offset, length, 0, 0], i * STRIDE));
  return records;
}

function patterned(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
}

describe('DatagramSlab', () => {
  test('adjacent datagrams share one copy, non-adjacent ones and other rows do not, and each holds exactly its bytes', () => {
    const inbox = patterned(64 * 1024);
    const list: Array<[number, number, number]> = [
      [DATAGRAM, 0, 100],
      [DATAGRAM, 100, 50],
      [DATAGRAM, 150, 0], // empty
      [DATAGRAM, 150, 200],
      [STREAM_DATA, 350, 10],
      [DATAGRAM, 360, 30], // after a stream row: a run of its own
      [DATAGRAM, 500, 40], // a gap: alone
    ];
    const records = rows(list);
    const slab = new DatagramSlab(inbox);
    const out = new Map<number, Buffer>();
    list.forEach(([kind], i) => {
      if (kind === DATAGRAM) out.set(i, slab.take(records, list.length, i, DATAGRAM));
    });
    for (const [i, b] of out) {
      const [, offset, length] = list[i];
      expect(b).toBeInstanceOf(Buffer);
      expect(b.length).toBe(length);
      expect(b.equals(inbox.subarray(offset, offset + length))).toBe(true);
    }
    // The first run (rows 0-3) is one copy; the others have theirs.
    expect(out.get(1)!.buffer).toBe(out.get(0)!.buffer);
    expect(out.get(3)!.buffer).toBe(out.get(0)!.buffer);
    expect(out.get(3)!.byteOffset).toBe(out.get(0)!.byteOffset + 150);
    // Copies: the inbox is rewritten by the next poll, and writes to one
    // datagram never show in another.
    const before = Buffer.from(out.get(3)!);
    inbox.fill(0);
    out.get(0)!.fill(0xee);
    out.get(5)!.fill(0xee);
    expect(out.get(1)!.equals(patterned(64 * 1024).subarray(100, 150))).toBe(true);
    expect(out.get(3)!.equals(before)).toBe(true);
    expect(out.get(6)!.equals(patterned(64 * 1024).subarray(500, 540))).toBe(true);
  });

  test('WebTransport datagrams, whose rows skip their Quarter Stream ID, share a copy; a larger gap ends the run', () => {
    const WT_DATAGRAM = 35;
    const inbox = patterned(4096);
    // Each payload follows a 1- to 8-byte varint (RFC 9297 §2.1) the row leaves out.
    const list: Array<[number, number, number]> = [
      [WT_DATAGRAM, 1, 100],
      [WT_DATAGRAM, 102, 60],
      [WT_DATAGRAM, 170, 30], // an 8-byte gap
      [WT_DATAGRAM, 209, 20], // a 9-byte gap: a run of its own
      [WT_DATAGRAM, 230, 10],
    ];
    const records = rows(list);
    const slab = new DatagramSlab(inbox);
    const got = list.map((_, i) => slab.take(records, list.length, i, WT_DATAGRAM));
    got.forEach((b, i) => {
      const [, offset, length] = list[i];
      expect(b.length).toBe(length);
      expect(b.equals(inbox.subarray(offset, offset + length))).toBe(true);
    });
    // One copy: the same memory, as far apart as in the inbox (small copies
    // may share Node's Buffer pool, so the ArrayBuffer alone does not say).
    const sameCopy = (a: number, b: number): boolean =>
      got[a].buffer === got[b].buffer && got[b].byteOffset - got[a].byteOffset === list[b][1] - list[a][1];
    expect(sameCopy(0, 1)).toBe(true);
    expect(sameCopy(0, 2)).toBe(true);
    expect(sameCopy(0, 3)).toBe(false);
    expect(sameCopy(3, 4)).toBe(true);
    // Still copies: writes to one never show in another, nor in the inbox.
    got[0].fill(0xee);
    expect(got[1].equals(patterned(4096).subarray(102, 162))).toBe(true);
    expect(inbox.equals(patterned(4096))).toBe(true);
  });

  test('a run is cut at 8 KiB, so a datagram the application keeps keeps at most that alive', () => {
    const inbox = patterned(64 * 1024);
    const list: Array<[number, number, number]> = [];
    for (let i = 0; i < 100; i++) list.push([DATAGRAM, i * 300, 300]);
    const records = rows(list);
    const slab = new DatagramSlab(inbox);
    const got = list.map((_, i) => slab.take(records, list.length, i, DATAGRAM));
    const copies = new Set(got.map((b) => b.buffer));
    for (const [i, b] of got.entries()) {
      expect(b.equals(inbox.subarray(i * 300, i * 300 + 300))).toBe(true);
    }
    // 27 datagrams of 300 bytes fit in 8 KiB: 100 need 4 runs.
    expect(copies.size).toBe(4);
    for (const b of got) {
      const run = got.filter((x) => x.buffer === b.buffer);
      expect(run.reduce((n, x) => n + x.length, 0)).toBeLessThanOrEqual(8 * 1024);
    }
  });

  test('a datagram larger than a slab is copied alone', () => {
    const inbox = patterned(64 * 1024);
    const list: Array<[number, number, number]> = [
      [DATAGRAM, 0, 10_000],
      [DATAGRAM, 10_000, 100],
      [DATAGRAM, 10_100, 100],
    ];
    const records = rows(list);
    const slab = new DatagramSlab(inbox);
    const got = list.map((_, i) => slab.take(records, list.length, i, DATAGRAM));
    expect(got[0].length).toBe(10_000);
    expect(got[0].equals(inbox.subarray(0, 10_000))).toBe(true);
    expect(got[1].buffer).toBe(got[2].buffer);
    expect(got[1].buffer).not.toBe(got[0].buffer);
    expect(got[2].equals(inbox.subarray(10_100, 10_200))).toBe(true);
  });
});
