// Optional fast path for outgoing packets on Linux: the native layer writes a
// whole flush batch to the dgram socket's own descriptor with sendmmsg(2) and
// UDP GSO (src/io/batch_send.rs), in the same call that builds the batch
// (`flush` with a descriptor). Whatever it does not send (unsupported here,
// the socket buffer is full, an error) goes out through dgram.send as before.
// Set NQUIC_BATCH_SEND=0 to turn it off (portable path only).
import type dgram from 'node:dgram';
import native from '../binding';
import { descriptorOf } from './descriptor';
import { EINVAL, EIO, EMSGSIZE, ENOPROTOOPT, EOPNOTSUPP, NO_FAST_PATH } from './errno';

/** Errors that mean "this socket or kernel cannot do GSO". */
const GSO_ERRORS = new Set([EIO, EINVAL, EMSGSIZE, ENOPROTOOPT, EOPNOTSUPP]);
/** `flush`'s `sendFlags` bits (src/fast_calls.rs). */
const IPV6 = 1;
const GSO = 2;

export class BatchSender {
  readonly #udp: dgram.Socket;
  readonly #ipv6: boolean;
  #gso = true;
  #enabled: boolean;

  constructor(udp: dgram.Socket, ipv6: boolean) {
    this.#udp = udp;
    this.#ipv6 = ipv6;
    this.#enabled = process.platform === 'linux' && process.env.NQUIC_BATCH_SEND !== '0' && typeof native.sendPackets === 'function';
  }

  /**
   * The descriptor `flush` should send the next batch on, or -1 when it
   * should only build it (no fast path, or packets queued inside dgram,
   * which go first).
   */
  descriptor(): number {
    if (!this.#enabled || this.#udp.getSendQueueCount() > 0) return -1;
    const fd = descriptorOf(this.#udp);
    if (fd < 0) this.#enabled = false;
    return fd;
  }

  /** `flush`'s `sendFlags` for this socket. */
  get flags(): number {
    return (this.#ipv6 ? IPV6 : 0) | (this.#gso ? GSO : 0);
  }

  /**
   * How many of the `count` packets of a batch `flush` built and sent on
   * `fd` (the `sent` of its status row; a negative errno when none went)
   * are gone: a prefix of the batch. The caller sends the rest with dgram.
   */
  sent(fd: number, sent: number, out: Buffer, meta: Uint32Array, count: number): number {
    if (fd < 0) return 0;
    if (sent < 0 && this.#gso && GSO_ERRORS.has(-sent)) {
      this.#gso = false;
      sent = native.sendPackets(fd, out, meta, count, this.#ipv6, false);
    }
    if (sent < 0 && NO_FAST_PATH.has(-sent)) this.#enabled = false;
    return Math.max(0, sent);
  }
}
