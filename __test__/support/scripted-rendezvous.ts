// A rendezvous whose every signalling decision the test makes: a server that
// carries signalling (listen({ relay })) with nquic's own rendezvous service
// replaced by a script. It stands for a hostile or broken rendezvous: it can
// introduce a dialer to an impostor, send punch requests toward anyone, or
// never send "go".
import { QuicSocket } from '../../lib';
import type { QuicConnection, QuicServer } from '../../lib';
import { certificateFingerprint } from '../../lib';
import type { RendezvousService } from '../../lib/p2p/rendezvous';
import { type Message, Status, Type } from '../../lib/p2p/signal';
import { sendSignal } from '../../lib/p2p/transport';
import { type Credentials, trackServer } from '../helpers';

export class ScriptedRendezvous {
  readonly socket: QuicSocket;
  readonly server: QuicServer;
  readonly creds: Credentials;
  /** Registered connections by certificate fingerprint (registration always succeeds). */
  readonly registered = new Map<string, QuicConnection>();
  /** Every request received, with its connection, in order. */
  readonly received: Array<{ conn: QuicConnection; m: Message }> = [];
  /** Called for each request other than REGISTER. */
  onRequest: (conn: QuicConnection, m: Message) => void = () => {};

  private constructor(socket: QuicSocket, creds: Credentials) {
    this.socket = socket;
    this.creds = creds;
    this.server = socket.listen({ alpn: ['rdv'], key: creds.key, cert: creds.cert, relay: true });
    const script = {
      onMessage: (conn: QuicConnection, m: Message) => this.#onMessage(conn, m),
      configure: () => {},
      close: () => {},
      peerCount: 0,
    };
    this.server._rendezvous = script as unknown as RendezvousService;
  }

  static async start(creds: Credentials): Promise<ScriptedRendezvous> {
    return new ScriptedRendezvous(trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'rendezvous socket'), creds);
  }

  #onMessage(conn: QuicConnection, m: Message): void {
    this.received.push({ conn, m });
    if (m.type === Type.Register) {
      const leaf = conn.peerCertificates[0];
      if (leaf) this.registered.set(certificateFingerprint(leaf), conn);
      this.send(conn, { type: Type.Registered, status: Status.Ok, relay: false, reflexive: { kind: 'srflx', ...conn.remoteAddress } });
      return;
    }
    this.onRequest(conn, m);
  }

  send(conn: QuicConnection, m: Message): void {
    sendSignal(conn, m);
  }

  /** Requests of one type received so far. */
  requests<T extends Type>(type: T): Array<{ conn: QuicConnection; m: Extract<Message, { type: T }> }> {
    return this.received.filter((r) => r.m.type === type) as Array<{ conn: QuicConnection; m: Extract<Message, { type: T }> }>;
  }
}
