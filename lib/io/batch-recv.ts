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
import { Descriptor, EAGAIN, UNAVAILABLE } from './descriptor';

type NativeEndpoint = InstanceType<typeof native.NativeEndpoint>;
export type ReceivedDatagram = { data: Buffer; address: string; port: number };

/**
 * Datagrams read per drain: bounds the work of one turn for one socket
 * (libuv itself reads at most 32 per readiness event).
 */
const MAX_DATAGRAMS = 256;
const NONE: readonly ReceivedDatagram[] = Object.freeze([]);
const ENOMEM = 12;
const EBUSY = 16;
/** Nothing read, and nothing to report: an empty queue, or no buffer this time. */
const QUIET = new Set([EAGAIN, ENOMEM, EBUSY]);

export class BatchReceiver {
  readonly #descriptor: Descriptor;
  readonly #endpoint: NativeEndpoint;
  readonly #onError: (err: Error) => void;
  #enabled: boolean;
  /** Datagrams read through the fast path so far (at least; for tests and debugging). */
  received = 0;

  /** `onError` gets what a read reports (as dgram's 'error' would). */
  constructor(udp: dgram.Socket, endpoint: NativeEndpoint, onError: (err: Error) => void) {
    this.#descriptor = new Descriptor(udp);
    this.#endpoint = endpoint;
    this.#onError = onError;
    this.#enabled = process.platform === 'linux' && process.env.NQUIC_BATCH_RECV !== '0' && typeof endpoint.recvBatch === 'function';
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /**
   * Reads what is queued on the socket, feeding QUIC packets to the
   * endpoint. Returns the datagrams that are not QUIC, in order (usually
   * none), or `undefined` when nothing was read.
   */
  drain(): readonly ReceivedDatagram[] | undefined {
    if (!this.#enabled) return undefined;
    const fd = this.#descriptor.fd;
    if (fd < 0) return undefined; // closed: dgram is done with it too
    const result = this.#endpoint.recvBatch(fd, MAX_DATAGRAMS);
    if (typeof result !== 'number') {
      this.received += result.length;
      return result;
    }
    if (result > 0) {
      this.received += result;
      return NONE;
    }
    if (result < 0 && !QUIET.has(-result)) {
      if (UNAVAILABLE.has(-result)) this.#enabled = false;
      // Another error (a queued ICMP error, say) was taken from the socket
      // by this read: report it as dgram's own read would have.
      else this.#onError(Object.assign(new Error(`recvmmsg ${getSystemErrorName(result)}`), { errno: result, code: getSystemErrorName(result), syscall: 'recvmmsg' }));
    }
    return undefined;
  }
}
