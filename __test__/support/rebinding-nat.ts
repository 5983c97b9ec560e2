// An in-process stand-in for the client's NAT: the client sends to `port`,
// and the NAT forwards from an outside socket of its own to the server. On
// `rebind()` it takes a new outside socket (a new outside port); packets the
// server still sends to an earlier one are dropped, as a real NAT drops
// traffic for a mapping it forgot.
import dgram from 'node:dgram';

export class RebindingNat {
  readonly #inside: dgram.Socket;
  #outside: dgram.Socket | undefined;
  readonly #retired: dgram.Socket[] = [];
  #client: { port: number; address: string } | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The rebinding under way (binding its new outside socket), if any. */
  #rebinding: Promise<void> | undefined;
  /** Outside ports used so far, oldest first. */
  readonly outsidePorts: number[] = [];
  /** Datagrams from the server dropped because they reached a forgotten mapping. */
  droppedFromServer = 0;

  private constructor(
    inside: dgram.Socket,
    private readonly serverPort: number,
  ) {
    this.#inside = inside;
  }

  static async create(serverPort: number): Promise<RebindingNat> {
    const inside = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => inside.bind(0, '127.0.0.1', () => resolve()));
    const nat = new RebindingNat(inside, serverPort);
    inside.on('message', (msg, from) => {
      nat.#client = from;
      nat.#outside?.send(msg, nat.serverPort, '127.0.0.1');
    });
    await nat.rebind();
    return nat;
  }

  /** Where the client sends (the NAT's inside port). */
  get port(): number {
    return this.#inside.address().port;
  }

  /** Rebindings so far (the first mapping does not count). */
  get rebinds(): number {
    return this.outsidePorts.length - 1;
  }

  /** Moves the client to a new outside port; the old mapping is forgotten. */
  async rebind(): Promise<void> {
    const outside = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => outside.bind(0, '127.0.0.1', () => resolve()));
    outside.on('message', (msg) => {
      if (outside !== this.#outside) {
        this.droppedFromServer++;
        return;
      }
      if (this.#client) this.#inside.send(msg, this.#client.port, this.#client.address);
    });
    if (this.#outside) this.#retired.push(this.#outside);
    this.#outside = outside;
    this.outsidePorts.push(outside.address().port);
  }

  /** Rebinds every `ms` until `stop()`. */
  rebindEvery(ms: number): void {
    this.#timer = setInterval(() => {
      this.#rebinding = this.rebind();
    }, ms);
  }

  /** Stops rebinding; resolves once a rebinding under way has its new port (`outsidePorts` is final). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#rebinding;
  }

  async close(): Promise<void> {
    await this.stop();
    const sockets = [this.#inside, ...this.#retired, ...(this.#outside ? [this.#outside] : [])];
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
