// Optional fast path for incoming packets on Linux. libuv still reads the
// dgram socket, but only the first datagram of a queue arrives as a 'message'
// event: the native recv of it says whether more wait (FIONREAD,
// src/io/queued.rs), and the socket then hands the rest of the kernel's queue
// to the native layer, which reads it with recvmmsg(2) on the same descriptor
// and feeds QUIC packets to the endpoint directly (src/io/batch_recv.rs).
// Datagrams that are not QUIC come back in arrival order, with the address
// dgram would have reported. Set NQUIC_BATCH_RECV=0 to turn it off (every
// datagram is then a 'message' event, as on other platforms).
//
// Once a drain finds 32 or more datagrams queued (a transfer), the receiver
// takes the reads over (`own`): libuv stops reading the socket, UDP GRO goes on, so
// that the kernel queues each run of equal-sized datagrams from a sender as
// one buffer, and the socket drains once per turn (`drainOwned`) instead of
// waiting for a 'message'. Two drains in a row that find the queue empty
// hand the reads back (`release`): the queue drained, GRO off, the queue
// drained again, libuv reading again. libuv must never read a GRO buffer:
// it would take it for one datagram; and a GRO buffer read after GRO went
// off comes without its segment size, which the native layer then finds
// from the packets (see src/io/batch_recv.rs). NQUIC_GRO=0 keeps the reads
// with libuv.
import type dgram from 'node:dgram';
import { getSystemErrorName } from 'node:util';
import native from '../binding';
import { descriptorOf, readsOf } from './descriptor';
import { EAGAIN, EBUSY, ENOMEM, NO_FAST_PATH } from './errno';

type NativeEndpoint = InstanceType<typeof native.NativeEndpoint>;
export type ReceivedDatagram = { data: Buffer; address: string; port: number };

/** Datagrams read per drain (about 1.5 ms of work). */
const MAX_DATAGRAMS = 1024;
/**
 * Datagrams drained per socket and event-loop turn. A drain that stops at
 * its bound leaves the rest to dgram, whose next 'message' (libuv reads up to
 * 32 per readiness event) drains again while the turn's budget lasts.
 */
const TURN_BUDGET = 4096;
const NONE: readonly ReceivedDatagram[] = Object.freeze([]);
/**
 * Datagrams one drain must find for the receiver to take the reads over: a
 * full `recvmmsg` batch or more is a transfer; echoes and requests, with a
 * few queued at a time, stay with libuv (each handover costs a few system
 * calls).
 */
const OWN_AFTER = 32;
/**
 * Datagrams libuv reads per readiness event (one turn): while the receiver
 * owns the reads, a turn after a backlog reads this many, whatever the
 * backlog, as libuv would have.
 */
const DGRAM_PACE = 32;
/**
 * Messages per `recvmmsg` while GRO is on: a message may then hold dozens of
 * datagrams (a transfer's 64 KiB buffer, one call for 45 packets), and a
 * backlog stops a drain only after the current call: with 4 a call, a
 * 2000-datagram burst to an echoing application lost 4-9% in its send queue.
 */
const GRO_BATCH = 1;
/** `recvBatch` flags (src/binding.rs): read on despite a backlog; GRO buffers may come without their segment size. */
const WHOLE = 1;
const UNSIZED = 2;
/** Drains in a row that find the queue empty before the reads go back to libuv. */
const RELEASE_AFTER = 2;
/** Nothing read, and nothing to report: an empty queue, or no buffer this time. */
const QUIET = new Set([EAGAIN, ENOMEM, EBUSY]);

export class BatchReceiver {
  readonly #udp: dgram.Socket;
  readonly #endpoint: NativeEndpoint;
  readonly #onError: (err: Error) => void;
  #enabled: boolean;
  #turnLeft = TURN_BUDGET;
  /** A connection had a backlog of datagrams: skip the next turn's drain. */
  #pause = false;
  /** This turn comes after a backlog while the reads are owned: it reads at libuv's pace. */
  #paced = false;
  /** Datagrams read through the fast path so far (for tests and debugging). */
  received = 0;
  /** How many times the receiver took the reads over (for tests and debugging). */
  takeovers = 0;
  /** Whether libuv's reads are stopped (see `own`). */
  #owned = false;
  /** Whether UDP GRO is on: only while owned, and off again after a backlog. */
  #gro = false;
  /** Whether taking the reads over may work here (cleared when it failed once). */
  #ownable: boolean;
  /** Datagrams the last drain read (-1: it found the queue empty). */
  #lastRead = 0;
  /** Owned drains in a row that found the queue empty. */
  #emptyDrains = 0;

  /** `onError` gets what a read reports (as dgram's 'error' would). */
  constructor(udp: dgram.Socket, endpoint: NativeEndpoint, onError: (err: Error) => void) {
    this.#udp = udp;
    this.#endpoint = endpoint;
    this.#onError = onError;
    this.#enabled = process.platform === 'linux' && process.env.NQUIC_BATCH_RECV !== '0' && typeof endpoint.recvBatch === 'function';
    this.#ownable = this.#enabled && process.env.NQUIC_GRO !== '0' && typeof native.setUdpGro === 'function';
  }

  /** Whether the receiver reads the socket itself, with UDP GRO (see `own`). */
  get owned(): boolean {
    return this.#owned;
  }

  /**
   * Takes the socket's reads over from libuv and turns UDP GRO on, after a
   * drain that found at least `OWN_AFTER` datagrams: from now on the socket must call
   * `drainOwned` once per event-loop turn. False when it cannot here (no
   * GRO before Linux 5.0, no handle to stop): the reads stay with libuv.
   */
  own(): boolean {
    if (this.#owned || !this.#ownable || !this.#enabled || this.#lastRead < OWN_AFTER) return false;
    const fd = descriptorOf(this.#udp);
    const reads = readsOf(this.#udp);
    if (fd < 0 || reads === undefined || !reads.stop()) {
      this.#ownable = false;
      return false;
    }
    if (native.setUdpGro(fd, true) !== 0) {
      reads.start();
      this.#ownable = false;
      return false;
    }
    this.#owned = true;
    this.#gro = true;
    this.#emptyDrains = 0;
    this.takeovers++;
    return true;
  }

  /**
   * GRO off: datagrams queued from now on are plain ones. After a backlog
   * (an application answering datagrams more slowly than they come), so
   * that the following turns read at about libuv's pace, not a GRO buffer
   * of dozens of datagrams a message.
   */
  #groOff(fd: number): void {
    if (!this.#gro) return;
    this.#gro = false;
    native.setUdpGro(fd, false);
  }

  /**
   * The turn's drain while the reads are owned: returns the datagrams that
   * are not QUIC, or `undefined` when nothing was read. After
   * `RELEASE_AFTER` drains in a row that found the queue empty, the reads
   * go back to libuv (`release`).
   */
  drainOwned(): readonly ReceivedDatagram[] | undefined {
    const others = this.drain();
    this.#emptyDrains = this.#lastRead < 0 ? this.#emptyDrains + 1 : 0;
    if (this.#emptyDrains < RELEASE_AFTER && this.#enabled) return others;
    const rest = this.release();
    return others === undefined ? rest : rest === undefined ? others : [...others, ...rest];
  }

  /**
   * Gives the reads back to libuv: what is queued is read here, whatever
   * the backlog, GRO goes off (if a backlog has not turned it off already),
   * so that datagrams queued from then on are plain ones, what came in
   * meanwhile is read too, and libuv reads again. Returns the datagrams that
   * were not QUIC.
   */
  release(): readonly ReceivedDatagram[] | undefined {
    if (!this.#owned) return undefined;
    const fd = descriptorOf(this.#udp);
    if (fd < 0) {
      this.#owned = false;
      return undefined; // closed: nothing is read any more
    }
    const others: ReceivedDatagram[] = [];
    // The kernel gives a GRO buffer its segment size only while GRO is on:
    // read what is queued first, then turn GRO off, then read what came in
    // between, finding the segment size of any GRO buffer among it.
    if (this.#gro) this.#readAll(fd, WHOLE, others);
    this.#groOff(fd);
    this.#readAll(fd, WHOLE | UNSIZED, others);
    this.#owned = false;
    readsOf(this.#udp)?.start();
    return others.length > 0 ? others : undefined;
  }

  /** Reads until the queue is empty (bounded: what fits in the receive buffer), adding the datagrams that are not QUIC to `others`. */
  #readAll(fd: number, flags: number, others: ReceivedDatagram[]): void {
    for (let i = 0; i < 16; i++) {
      const status = this.#endpoint.recvBatch(fd, MAX_DATAGRAMS, flags);
      if (status <= 0) return;
      this.received += status >>> 2;
      if ((status & 1) !== 0) others.push(...this.#endpoint.takeOthers());
    }
  }

  /**
   * The socket's descriptor for the native `recv` to ask whether more
   * datagrams wait (src/io/queued.rs), or -1 when no drain could read them
   * now (fast path off, socket closed, or this turn's drains over after a
   * backlog): the socket then counts its 'message' events instead.
   */
  descriptor(): number {
    return this.#enabled && this.#turnLeft > 0 ? descriptorOf(this.#udp) : -1;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /**
   * Whether the last drain read something: traffic is a stream, not lone
   * datagrams, so the next turn drains from its first 'message' on (a
   * drain that finds the queue empty turns this off again).
   */
  get streaming(): boolean {
    return this.#lastRead > 0;
  }

  /**
   * A new event-loop turn: the drain budget is full again, unless the last
   * drain found a backlog: then nothing, and dgram reads at its own pace, or
   * `DGRAM_PACE` datagrams while the reads are owned.
   */
  newTurn(): void {
    this.#paced = this.#pause && this.#owned;
    this.#turnLeft = this.#paced ? DGRAM_PACE : this.#pause ? 0 : TURN_BUDGET;
    this.#pause = false;
  }

  /**
   * Reads what is queued on the socket, feeding QUIC packets to the
   * endpoint. Returns the datagrams that are not QUIC, in order (usually
   * none), or `undefined` when nothing was read.
   */
  drain(): readonly ReceivedDatagram[] | undefined {
    if (!this.#enabled || this.#turnLeft <= 0) return undefined;
    const fd = descriptorOf(this.#udp);
    if (fd < 0) return undefined; // closed: dgram is done with it too
    const asked = Math.min(MAX_DATAGRAMS, this.#turnLeft);
    // -errno, or read * 4 + backlog * 2 + others (src/binding.rs, recv_batch).
    // A turn at libuv's pace reads one message per call until it has its
    // datagrams, whatever the backlog.
    const flags = (this.#paced ? WHOLE : 0) | (this.#owned && !this.#gro ? UNSIZED : 0);
    const status = this.#endpoint.recvBatch(fd, asked, flags, this.#paced ? 1 : this.#gro ? GRO_BATCH : undefined);
    const errno = status < 0 ? -status : 0;
    const read = status < 0 ? 0 : status >>> 2;
    this.received += read;
    this.#lastRead = errno === EAGAIN ? -1 : read;
    // Fewer than asked: the queue ran empty, or a connection has a backlog
    // of datagrams (received ones for the application, or its own waiting
    // for congestion control). No more drains this turn, and after a
    // backlog none the next turn either: until then dgram reads at its own
    // pace (32 datagrams a readiness event), as without the fast path.
    this.#turnLeft = read < asked ? 0 : this.#turnLeft - read;
    if (status > 0 && (status & 2) !== 0) {
      this.#pause = true;
      this.#groOff(fd); // GRO is only ever on while the reads are owned
    }
    if (errno !== 0 && !QUIET.has(errno)) {
      if (NO_FAST_PATH.has(errno)) {
        this.#enabled = false;
        this.release();
      }
      // Another error (a queued ICMP error, say) was taken from the socket
      // by this read: report it as dgram's own read would have.
      else this.#onError(Object.assign(new Error(`recvmmsg ${getSystemErrorName(-errno)}`), { errno: -errno, code: getSystemErrorName(-errno), syscall: 'recvmmsg' }));
    }
    if (read === 0) return undefined;
    return (status & 1) !== 0 ? this.#endpoint.takeOthers() : NONE;
  }
}
