// RFC 9221 datagrams beyond the basics: volume, queues and their drop
// accounting, the async iterator, disabled datagrams on either side, and
// sharing a connection with a bulk stream.
import { randomBytes } from 'node:crypto';
import { QuicError } from '../lib';
import { MiB, pair, readAll, sha256Hex, sleep, withTimeout } from './helpers';

/** Sends each datagram, waiting a turn whenever the send queue is full. */
async function sendAll(send: (d: Buffer) => boolean, datagrams: Buffer[], deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (const d of datagrams) {
    while (!send(d)) {
      if (Date.now() > deadline) throw new Error('send queue never drained');
      await new Promise((r) => setImmediate(r));
    }
  }
}

describe('datagrams, complete', () => {
  test('2000 datagrams of 200 bytes echo with at least 90% arriving intact', async () => {
    const { client, serverConn } = await pair();
    serverConn.on('datagram', (d: Uint8Array) => serverConn.sendDatagram(d));
    const sent = Array.from({ length: 2000 }, (_, i) => {
      const d = randomBytes(200);
      d.writeUInt32BE(i, 0);
      return d;
    });
    const back = new Map<number, Buffer>();
    client.on('datagram', (d: Uint8Array) => {
      const b = Buffer.from(d);
      back.set(b.readUInt32BE(0), b);
    });
    await sendAll((d) => client.sendDatagram(d), sent, 10_000);
    const deadline = Date.now() + 5000;
    while (back.size < 2000 && Date.now() < deadline) await sleep(20);
    expect(back.size).toBeGreaterThanOrEqual(1800);
    for (const [seq, d] of back) expect(d.equals(sent[seq])).toBe(true);
    const stats = client.stats();
    expect(stats.datagramsSent).toBeGreaterThanOrEqual(2000);
    expect(stats.datagramsReceived).toBe(back.size);
  });

  test('a full send queue makes sendDatagram return false, counted in stats', async () => {
    const { client } = await pair({ client: { datagramQueueLength: 4 } });
    let refused = 0;
    for (let i = 0; i < 100; i++) if (!client.sendDatagram(Buffer.alloc(1000, i))) refused++;
    expect(refused).toBeGreaterThan(0);
    expect(client.stats().datagramsDroppedOnSend).toBe(refused);
  });

  test('datagrams sent in one turn keep the queue limit exactly, their order and their bytes; a too-large one among them still throws', async () => {
    const { client, serverConn } = await pair({ client: { datagramQueueLength: 8 } });
    const got: Buffer[] = [];
    serverConn.on('datagram', (d: Uint8Array) => got.push(Buffer.from(d)));
    const answers: boolean[] = [];
    const payload = Buffer.alloc(300);
    for (let i = 0; i < 20; i++) {
      payload.fill(i); // the same buffer each time: each datagram is taken as it was at the call
      answers.push(client.sendDatagram(payload));
      if (i === 2) expect(() => client.sendDatagram(Buffer.alloc(client.maxDatagramSize + 1))).toThrow(expect.objectContaining({ code: 'ERR_QUIC_DATAGRAM_TOO_LARGE' }));
    }
    expect(answers).toEqual([...Array(8).fill(true), ...Array(12).fill(false)]);
    expect(client.stats().datagramsDroppedOnSend).toBe(12);
    const deadline = Date.now() + 5000;
    while (got.length < 8 && Date.now() < deadline) await sleep(20);
    expect(got.map((d) => d[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const d of got) expect(d.equals(Buffer.alloc(300, d[0]))).toBe(true);
  });

  test("received datagrams are the application's own: kept, written to and reused, none changes another, in a burst or later", async () => {
    const { client, serverConn } = await pair();
    const kept: Buffer[] = [];
    serverConn.on('datagram', (d: Buffer) => {
      expect(Buffer.isBuffer(d)).toBe(true);
      kept.push(d); // as received: no copy
    });
    const burst = (round: number): Buffer[] =>
      Array.from({ length: 60 }, (_, i) => {
        const d = randomBytes(100 + ((i * 37) % 200));
        d[0] = round;
        d[1] = i;
        return d;
      });
    const first = burst(1);
    await sendAll((d) => client.sendDatagram(d), first, 5000); // one turn: one batch of rows
    let deadline = Date.now() + 5000;
    while (kept.length < first.length && Date.now() < deadline) await sleep(20);
    expect(kept.length).toBe(first.length);
    for (const d of kept) expect(d.equals(first[d[1]])).toBe(true);
    // The application writes into what it received...
    for (const d of kept) d.fill(0xaa, 2);
    const second = burst(2);
    await sendAll((d) => client.sendDatagram(d), second, 5000);
    deadline = Date.now() + 5000;
    while (kept.length < first.length + second.length && Date.now() < deadline) await sleep(20);
    expect(kept.length).toBe(first.length + second.length);
    // ...which touched nothing else, and later datagrams left it alone.
    for (const d of kept.slice(0, first.length)) {
      expect(d.length).toBe(first[d[1]].length);
      expect(d.subarray(2).every((x) => x === 0xaa)).toBe(true);
    }
    for (const d of kept.slice(first.length)) expect(d.equals(second[d[1]])).toBe(true);
  });

  test('datagrams() iterates received datagrams, keeps only the newest when the reader lags, and ends on close', async () => {
    const { client, serverConn } = await pair({ server: { datagramQueueLength: 50 } });
    const iterator = serverConn.datagrams();
    const sent = Array.from({ length: 200 }, (_, i) => Buffer.from(`datagram ${i}`));
    await sendAll((d) => client.sendDatagram(d), sent, 5000);
    // Wait until the server saw them all (or gave up on some).
    const deadline = Date.now() + 3000;
    while (serverConn.stats().datagramsReceived < 200 && Date.now() < deadline) await sleep(10);
    const received = serverConn.stats().datagramsReceived;
    expect(received).toBeGreaterThanOrEqual(180);
    expect(serverConn.stats().datagramsDroppedOnReceive).toBeGreaterThanOrEqual(received - 50);

    await client.close();
    await withTimeout(serverConn.closed, 3000, 'server close');
    const got: string[] = [];
    for await (const d of iterator) got.push(Buffer.from(d).toString());
    expect(got.length).toBe(50);
    // The newest ones survive, in order.
    const numbers = got.map((s) => Number(s.split(' ')[1]));
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(numbers[numbers.length - 1]).toBeGreaterThanOrEqual(180);
  });

  test('datagrams disabled locally throw ERR_QUIC_DATAGRAMS_DISABLED, and so do datagrams to a peer that disabled them', async () => {
    const local = await pair({ client: { datagrams: false } });
    expect(local.client.maxDatagramSize).toBe(0);
    expect(() => local.client.sendDatagram(Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'ERR_QUIC_DATAGRAMS_DISABLED' }));
    // The server sees a peer without datagram support.
    expect(() => local.serverConn.sendDatagram(Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'ERR_QUIC_DATAGRAMS_DISABLED' }));

    const remote = await pair({ server: { datagrams: false } });
    let err: unknown;
    try {
      remote.client.sendDatagram(Buffer.from('x'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QuicError);
    expect((err as QuicError).code).toBe('ERR_QUIC_DATAGRAMS_DISABLED');
  });

  test('datagrams and a bulk stream share a connection without starving each other', async () => {
    const { client, serverConn } = await pair();
    let datagramsAtServer = 0;
    serverConn.on('datagram', () => datagramsAtServer++);
    const received = new Promise<Buffer>((resolve, reject) => {
      serverConn.once('stream', (s) => readAll(s, 16 * MiB).then(resolve, reject));
    });
    const payload = randomBytes(8 * MiB);
    const stream = await client.openStream({ unidirectional: true });
    let sending = true;
    let datagramsSent = 0;
    const ticker = (async () => {
      while (sending && datagramsSent < 5000) {
        if (client.sendDatagram(Buffer.alloc(100, 1))) datagramsSent++;
        await sleep(1);
      }
    })();
    const writeDone = new Promise<void>((resolve, reject) => stream.end(payload, () => resolve()).once('error', reject));
    const data = await withTimeout(received, 20_000, 'bulk stream');
    await writeDone;
    sending = false;
    await ticker;
    await sleep(100);
    expect(sha256Hex(data)).toBe(sha256Hex(payload));
    expect(datagramsSent).toBeGreaterThan(10);
    expect(datagramsAtServer).toBeGreaterThanOrEqual(Math.floor(datagramsSent * 0.5));
  });
});
