// A fault-injecting UDP relay for integration tests: clients send to the
// relay's port on 127.0.0.1, the relay forwards to a target (the server)
// from one upstream socket per client, and carries the answers back. In each
// direction it can drop, duplicate, reorder (hold a datagram back and
// release it later), delay and corrupt (flip random bits) datagrams with
// configurable rates, and it can black out entirely for a while.
//
// Deterministic for a given seed and arrival order (a mulberry32 PRNG), and
// bounded: at most `maxHeld` datagrams held for reordering and `maxDelayed`
// waiting in delay timers per direction (beyond that they pass through),
// at most `captureLimit` datagrams recorded. `close()` clears every timer
// and closes every socket.
import dgram from 'node:dgram';

export type Direction = 'toServer' | 'toClient';

export interface Faults {
  /** Probability that a datagram is dropped. */
  drop?: number;
  /** Probability that a datagram is sent twice. */
  duplicate?: number;
  /** Probability that a datagram is held back and released after later ones. */
  reorder?: number;
  /** Probability that a datagram is delayed by `delayMs`. */
  delay?: number;
  /** Delay range for delayed datagrams, ms (default [5, 40]). */
  delayMs?: number | [number, number];
  /** Probability that 1..`corruptBits` random bits of a datagram are flipped. */
  corrupt?: number;
  /** Most bits flipped in a corrupted datagram (default 3). */
  corruptBits?: number;
}

export interface FaultRelayOptions {
  /** Where datagrams from clients go. */
  target: { port: number; host?: string };
  /** Faults applied in both directions (overridden per direction). */
  faults?: Faults;
  toServer?: Faults;
  toClient?: Faults;
  /** PRNG seed (default 1). */
  seed?: number;
  /** A held (reordered) datagram goes out after this many later ones in its direction (default 3)… */
  reorderAfter?: number;
  /** …or after this many ms, whichever comes first (default 20). */
  reorderMaxMs?: number;
  /** Bounds on held and delayed datagrams per direction (defaults 256 and 4096). */
  maxHeld?: number;
  maxDelayed?: number;
  /** Record up to this many datagrams as they arrive, before any fault (default 0). */
  captureLimit?: number;
  /**
   * Decides about each datagram before the random faults: return false to
   * drop it (counted in `dropped`). `index` counts the direction's datagrams from 0.
   */
  filter?: (direction: Direction, data: Buffer, index: number) => boolean;
}

export interface DirectionStats {
  received: number;
  forwarded: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  delayed: number;
  corrupted: number;
  blackedOut: number;
}

export interface Captured {
  direction: Direction;
  data: Buffer;
}

/** mulberry32: a tiny seedable PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function emptyStats(): DirectionStats {
  return { received: 0, forwarded: 0, dropped: 0, duplicated: 0, reordered: 0, delayed: 0, corrupted: 0, blackedOut: 0 };
}

interface Held {
  data: Buffer;
  send: (data: Buffer) => void;
  countdown: number;
  timer: NodeJS.Timeout;
}

interface ClientFlow {
  address: string;
  port: number;
  upstream: dgram.Socket;
}

function bindSocket(address: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', reject);
    sock.bind(0, address, () => {
      sock.off('error', reject);
      // Send errors (e.g. a momentarily full buffer) are the network's business.
      sock.on('error', () => {});
      resolve(sock);
    });
  });
}

export class FaultRelay {
  readonly #front: dgram.Socket;
  readonly #targetHost: string;
  readonly #targetPort: number;
  readonly #flows = new Map<string, ClientFlow>();
  readonly #pendingFlows = new Map<string, Promise<ClientFlow | undefined>>();
  readonly #random: () => number;
  readonly #faults: Record<Direction, Faults>;
  readonly #held: Record<Direction, Held[]> = { toServer: [], toClient: [] };
  readonly #delayed: Record<Direction, Set<NodeJS.Timeout>> = { toServer: new Set(), toClient: new Set() };
  readonly #reorderAfter: number;
  readonly #reorderMaxMs: number;
  readonly #maxHeld: number;
  readonly #maxDelayed: number;
  readonly #captureLimit: number;
  readonly #filter: FaultRelayOptions['filter'];
  #blackoutUntil = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly stats: Record<Direction, DirectionStats> = { toServer: emptyStats(), toClient: emptyStats() };
  readonly captured: Captured[] = [];
  /** The port clients connect to (on 127.0.0.1). */
  readonly port: number;

  static async create(opts: FaultRelayOptions): Promise<FaultRelay> {
    const front = await bindSocket('127.0.0.1');
    return new FaultRelay(front, opts);
  }

  private constructor(front: dgram.Socket, opts: FaultRelayOptions) {
    this.#front = front;
    this.port = front.address().port;
    this.#targetHost = opts.target.host ?? '127.0.0.1';
    this.#targetPort = opts.target.port;
    this.#random = mulberry32(opts.seed ?? 1);
    this.#faults = {
      toServer: { ...opts.faults, ...opts.toServer },
      toClient: { ...opts.faults, ...opts.toClient },
    };
    this.#reorderAfter = opts.reorderAfter ?? 3;
    this.#reorderMaxMs = opts.reorderMaxMs ?? 20;
    this.#maxHeld = opts.maxHeld ?? 256;
    this.#maxDelayed = opts.maxDelayed ?? 4096;
    this.#captureLimit = opts.captureLimit ?? 0;
    this.#filter = opts.filter;
    front.on('message', (msg, rinfo) => this.#fromClient(msg, rinfo));
  }

  /** Replaces the faults of one direction (or both). */
  setFaults(faults: Faults, direction?: Direction): void {
    for (const dir of direction ? [direction] : (['toServer', 'toClient'] as Direction[])) this.#faults[dir] = { ...faults };
  }

  /** Drops everything in both directions for `ms` from now. */
  blackout(ms: number): void {
    this.#blackoutUntil = Math.max(this.#blackoutUntil, performance.now() + ms);
  }

  get blackedOut(): boolean {
    return performance.now() < this.#blackoutUntil;
  }

  /** Ports the server sees the relayed clients come from. */
  get upstreamPorts(): number[] {
    return [...this.#flows.values()].map((f) => f.upstream.address().port);
  }

  #fromClient(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.#closed) return;
    const key = `${rinfo.address}:${rinfo.port}`;
    const flow = this.#flows.get(key);
    if (flow) {
      this.#relay('toServer', msg, (d) => flow.upstream.send(d, this.#targetPort, this.#targetHost));
      return;
    }
    // First datagram of a new client: open its upstream socket, then relay.
    let pending = this.#pendingFlows.get(key);
    if (!pending) {
      pending = this.#openFlow(rinfo.address, rinfo.port, key);
      this.#pendingFlows.set(key, pending);
    }
    void pending.then((f) => {
      if (f && !this.#closed) this.#relay('toServer', msg, (d) => f.upstream.send(d, this.#targetPort, this.#targetHost));
    });
  }

  async #openFlow(address: string, port: number, key: string): Promise<ClientFlow | undefined> {
    let upstream: dgram.Socket;
    try {
      upstream = await bindSocket('127.0.0.1');
    } catch {
      return undefined;
    }
    if (this.#closed) {
      upstream.close();
      return undefined;
    }
    const flow: ClientFlow = { address, port, upstream };
    upstream.on('message', (msg) => {
      if (!this.#closed) this.#relay('toClient', msg, (d) => this.#front.send(d, flow.port, flow.address));
    });
    this.#flows.set(key, flow);
    this.#pendingFlows.delete(key);
    return flow;
  }

  #relay(dir: Direction, msg: Buffer, send: (data: Buffer) => void): void {
    const stats = this.stats[dir];
    const faults = this.#faults[dir];
    const index = stats.received++;
    if (this.captured.length < this.#captureLimit) this.captured.push({ direction: dir, data: Buffer.from(msg) });
    const out = (data: Buffer): void => {
      if (this.#closed) return;
      stats.forwarded++;
      try {
        send(data);
      } catch {
        // Socket closing underneath us.
      }
    };
    // Held datagrams count down with every later datagram of their direction.
    this.#tickHeld(dir);
    if (this.blackedOut) {
      stats.blackedOut++;
      return;
    }
    if (this.#filter && !this.#filter(dir, msg, index)) {
      stats.dropped++;
      return;
    }
    const r = this.#random;
    if (faults.drop && r() < faults.drop) {
      stats.dropped++;
      return;
    }
    let data = msg;
    if (faults.corrupt && r() < faults.corrupt && data.length > 0) {
      data = Buffer.from(data);
      const flips = 1 + Math.floor(r() * (faults.corruptBits ?? 3));
      for (let i = 0; i < flips; i++) {
        const at = Math.floor(r() * data.length);
        data[at] ^= 1 << Math.floor(r() * 8);
      }
      stats.corrupted++;
    }
    const copies = faults.duplicate && r() < faults.duplicate ? 2 : 1;
    if (copies === 2) stats.duplicated++;
    for (let c = 0; c < copies; c++) {
      if (faults.reorder && r() < faults.reorder && this.#held[dir].length < this.#maxHeld) {
        stats.reordered++;
        this.#hold(dir, data, out);
      } else if (faults.delay && r() < faults.delay && this.#delayed[dir].size < this.#maxDelayed) {
        stats.delayed++;
        const range = faults.delayMs ?? [5, 40];
        const [lo, hi] = typeof range === 'number' ? [range, range] : range;
        const set = this.#delayed[dir];
        const timer = setTimeout(() => {
          set.delete(timer);
          // A blackout that began meanwhile swallows it too.
          if (this.blackedOut) stats.blackedOut++;
          else out(data);
        }, lo + r() * (hi - lo));
        set.add(timer);
      } else {
        out(data);
      }
    }
  }

  #hold(dir: Direction, data: Buffer, out: (data: Buffer) => void): void {
    const list = this.#held[dir];
    const held: Held = {
      data,
      send: out,
      countdown: this.#reorderAfter,
      timer: setTimeout(() => this.#release(dir, held), this.#reorderMaxMs),
    };
    list.push(held);
  }

  #release(dir: Direction, held: Held): void {
    const list = this.#held[dir];
    const i = list.indexOf(held);
    if (i < 0) return;
    list.splice(i, 1);
    clearTimeout(held.timer);
    if (this.blackedOut) this.stats[dir].blackedOut++;
    else held.send(held.data);
  }

  #tickHeld(dir: Direction): void {
    for (const held of [...this.#held[dir]]) {
      if (--held.countdown <= 0) this.#release(dir, held);
    }
  }

  /** Clears every timer (held and delayed datagrams are dropped) and closes every socket. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    for (const dir of ['toServer', 'toClient'] as Direction[]) {
      for (const held of this.#held[dir]) clearTimeout(held.timer);
      this.#held[dir].length = 0;
      for (const timer of this.#delayed[dir]) clearTimeout(timer);
      this.#delayed[dir].clear();
    }
    await Promise.allSettled([...this.#pendingFlows.values()]);
    const sockets = [this.#front, ...[...this.#flows.values()].map((f) => f.upstream)];
    this.#flows.clear();
    await Promise.all(
      sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            try {
              s.close(() => resolve());
            } catch {
              resolve(); // already closed
            }
          }),
      ),
    );
  }
}
