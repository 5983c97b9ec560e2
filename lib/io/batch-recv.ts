// Optional fast path for incoming packets on Linux. libuv still reads the
// dgram socket, but only the first datagram of an event-loop turn arrives as a
// 'message' event: the socket then hands the rest of the kernel's queue to the
// native layer, which reads it with recvmmsg(2) on the same descriptor and
// feeds QUIC packets to the endpoint directly (src/io/batch_recv.rs).
// Datagrams that are not QUIC come back in arrival order, with the address
// dgram would have reported. Set NQUIC_BATCH_RECV=0 to turn it off (every
// datagram is then a 'message' event, as on other platforms).
import type dgram from 'node:dgram';
import { getSystemErrorName } from 'node:util';
import native from '../binding';
import { descriptorOf } from './descriptor';
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
  /** Datagrams read through the fast path so far (for tests and debugging). */
  received = 0;
  /**
   * Whether the last drain read something: traffic is a stream, not lone
   * datagrams, so the next turn drains from its first 'message' on (a
   * drain that finds the queue empty turns this off again).
   */
  streaming = false;

  /** `onError` gets what a read reports (as dgram's 'error' would). */
  constructor(udp: dgram.Socket, endpoint: NativeEndpoint, onError: (err: Error) => void) {
    this.#udp = udp;
    this.#endpoint = endpoint;
    this.#onError = onError;
    this.#enabled = process.platform === 'linux' && process.env.NQUIC_BATCH_RECV !== '0' && typeof endpoint.recvBatch === 'function';
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** A new event-loop turn: the drain budget is full again (unless paused). */
  newTurn(): void {
    this.#turnLeft = this.#pause ? 0 : TURN_BUDGET;
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
    const status = this.#endpoint.recvBatch(fd, asked);
    const errno = status < 0 ? -status : 0;
    const read = status < 0 ? 0 : status >>> 2;
    this.received += read;
    this.streaming = read > 0;
    // Fewer than asked: the queue ran empty, or a connection has a backlog
    // of datagrams (received ones for the application, or its own waiting
    // for congestion control). No more drains this turn, and after a
    // backlog none the next turn either: until then dgram reads at its own
    // pace (32 datagrams a readiness event), as without the fast path.
    this.#turnLeft = read < asked ? 0 : this.#turnLeft - read;
    if (status > 0 && (status & 2) !== 0) this.#pause = true;
    if (errno !== 0 && !QUIET.has(errno)) {
      if (NO_FAST_PATH.has(errno)) this.#enabled = false;
      // Another error (a queued ICMP error, say) was taken from the socket
      // by this read: report it as dgram's own read would have.
      else this.#onError(Object.assign(new Error(`recvmmsg ${getSystemErrorName(-errno)}`), { errno: -errno, code: getSystemErrorName(-errno), syscall: 'recvmmsg' }));
    }
    if (read === 0) return undefined;
    return (status & 1) !== 0 ? this.#endpoint.takeOthers() : NONE;
  }
}
