// A relay that misbehaves on purpose: a plain nquic server (no relay option)
// that speaks the relay's wire format itself (src/relay/wire.rs) through the
// ordinary datagram API. It sends every dialed flow to whichever peer
// registered last, whatever fingerprint was asked for, and can flip bits in
// the packets it forwards.
import { QuicSocket } from '../../lib';
import type { QuicConnection, QuicServer } from '../../lib';
import type { Credentials } from '../helpers';

const TAG = Buffer.from([0xff, 0x00, 0x4e, 0x52]);
const HEADER = 9;
const FINGERPRINT = 32;
const REGISTER = 1;
const REGISTERED = 2;
const OPEN = 3;
const DATA = 4;
/** The one flow number the evil relay uses toward its registered peer. */
const TARGET_FLOW = 1;

function message(kind: number, flow: number, body: Uint8Array): Buffer {
  const out = Buffer.alloc(HEADER + body.length);
  TAG.copy(out);
  out[4] = kind;
  out.writeUInt32BE(flow, 5);
  out.set(body, HEADER);
  return out;
}

export class EvilRelay {
  readonly socket: QuicSocket;
  readonly creds: Credentials;
  readonly server: QuicServer;
  #target: QuicConnection | undefined;
  #dialer: { conn: QuicConnection; flow: number } | undefined;
  /** Flip a bit in every n-th forwarded packet (0 = never). */
  tamperEvery = 0;
  forwarded = 0;
  tampered = 0;

  private constructor(socket: QuicSocket, creds: Credentials) {
    this.socket = socket;
    this.creds = creds;
    this.server = socket.listen({ alpn: ['relay'], key: creds.key, cert: creds.cert });
    this.server.on('connection', (conn: QuicConnection) => {
      conn.on('datagram', (d: Uint8Array) => this.#onDatagram(conn, Buffer.from(d)));
    });
  }

  static async start(creds: Credentials): Promise<EvilRelay> {
    return new EvilRelay(await QuicSocket.bind({ address: '127.0.0.1' }), creds);
  }

  #onDatagram(from: QuicConnection, d: Buffer): void {
    if (d.length < HEADER || !d.subarray(0, 4).equals(TAG)) return;
    const kind = d[4];
    const flow = d.readUInt32BE(5);
    if (kind === REGISTER) {
      this.#target = from;
      from.sendDatagram(message(REGISTERED, 0, Buffer.from([0])));
    } else if (kind === OPEN && this.#target) {
      this.#dialer = { conn: from, flow };
      this.#forward(this.#target, TARGET_FLOW, d.subarray(HEADER + FINGERPRINT));
    } else if (kind === DATA && from === this.#target && this.#dialer) {
      this.#forward(this.#dialer.conn, this.#dialer.flow, d.subarray(HEADER));
    } else if (kind === DATA && this.#target) {
      this.#forward(this.#target, TARGET_FLOW, d.subarray(HEADER));
    }
  }

  #forward(to: QuicConnection, flow: number, packet: Buffer): void {
    const copy = Buffer.from(packet);
    this.forwarded++;
    if (this.tamperEvery > 0 && this.forwarded % this.tamperEvery === 0 && copy.length > 40) {
      // Past the header: inside the protected payload or its AEAD tag.
      copy[copy.length - 20] ^= 0x10;
      this.tampered++;
    }
    try {
      to.sendDatagram(message(DATA, flow, copy));
    } catch {
      // The connection ended meanwhile.
    }
  }

  close(): Promise<void> {
    return this.socket.close();
  }
}
