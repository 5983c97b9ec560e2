import { QuicError } from '../lib';
import { QuicConnection, pair, sleep, withTimeout, within } from './helpers';

function datagram(i: number, size = 100): Buffer {
  // [index, index^0xff, then a pattern derived from the index]
  const d = Buffer.alloc(size);
  d[0] = i;
  d[1] = i ^ 0xff;
  for (let j = 2; j < size; j++) d[j] = (i * 31 + j * 7) & 0xff;
  return d;
}

function echoDatagrams(conn: QuicConnection): void {
  conn.on('datagram', (d: Uint8Array) => {
    conn.sendDatagram(d);
  });
}

describe('datagrams', () => {
  test('50 datagrams of 100 bytes are echoed; at least 90% come back intact', async () => {
    const { client, serverConn } = await pair();
    echoDatagrams(serverConn);

    const count = 50;
    const received = new Map<number, Buffer>();
    const bad: string[] = [];
    const allBack = new Promise<void>((resolve) => {
      client.on('datagram', (d: Uint8Array) => {
        if (!(d instanceof Uint8Array)) {
          bad.push(`not a Uint8Array: ${typeof d}`);
          return;
        }
        const b = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
        if (b.length !== 100 || (b[0] ^ 0xff) !== b[1] || !b.equals(datagram(b[0]))) {
          bad.push(b.toString('hex').slice(0, 16));
          return;
        }
        received.set(b[0], b);
        if (received.size === count) resolve();
      });
    });

    let accepted = 0;
    for (let i = 0; i < count; i++) {
      if (client.sendDatagram(datagram(i))) accepted++;
      if (i % 10 === 9) await sleep(5); // small bursts keep the send queues from overflowing
    }
    expect(accepted).toBeGreaterThanOrEqual(45);

    await within(allBack, 3000);
    expect(bad).toEqual([]);
    expect(received.size).toBeGreaterThanOrEqual(45);
    for (const [i, b] of received) expect(b.equals(datagram(i))).toBe(true);
    expect(client.stats().datagramsSent).toBeGreaterThanOrEqual(accepted);
    expect(client.stats().datagramsReceived).toBe(received.size);
  });

  test('maxDatagramSize is a positive number above 1000 after the handshake, on both sides', async () => {
    const { client, serverConn } = await pair();
    for (const conn of [client, serverConn]) {
      expect(typeof conn.maxDatagramSize).toBe('number');
      expect(Number.isInteger(conn.maxDatagramSize)).toBe(true);
      expect(conn.maxDatagramSize).toBeGreaterThan(1000);
      expect(conn.maxDatagramSize).toBeLessThan(65536);
    }
  });

  test('a datagram of exactly maxDatagramSize is delivered', async () => {
    const { client, serverConn } = await pair();
    const size = client.maxDatagramSize;
    const d = Buffer.alloc(size, 0xab);
    d.writeUInt32BE(size, 0);
    const got = new Promise<Uint8Array>((resolve) => serverConn.once('datagram', resolve));
    // Datagrams are unreliable; allow a few attempts on loopback.
    let arrived: Uint8Array | undefined;
    for (let attempt = 0; attempt < 3 && !arrived; attempt++) {
      expect(typeof client.sendDatagram(d)).toBe('boolean');
      arrived = await within(got, 1000);
    }
    expect(arrived).toBeDefined();
    expect(Buffer.from(arrived!).equals(d)).toBe(true);
  });

  test('sending more than maxDatagramSize throws ERR_QUIC_DATAGRAM_TOO_LARGE', async () => {
    const { client, serverConn } = await pair();
    let serverGot = 0;
    serverConn.on('datagram', () => serverGot++);

    const tooBig = Buffer.alloc(client.maxDatagramSize + 1, 1);
    let err: unknown;
    try {
      client.sendDatagram(tooBig);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QuicError);
    expect(err).toBeInstanceOf(Error);
    expect((err as QuicError).code).toBe('ERR_QUIC_DATAGRAM_TOO_LARGE');

    // Way too big fails the same way; the connection stays usable afterwards.
    expect(() => client.sendDatagram(Buffer.alloc(100_000))).toThrow(
      expect.objectContaining({ code: 'ERR_QUIC_DATAGRAM_TOO_LARGE' }),
    );
    const ok = new Promise<Uint8Array>((resolve) => serverConn.once('datagram', resolve));
    client.sendDatagram(Buffer.from('still fine'));
    const d = await withTimeout(ok, 3000, 'datagram after the rejected one');
    expect(Buffer.from(d).toString()).toBe('still fine');
    expect(serverGot).toBe(1);
  });
});
