// Optional fast path for outgoing packets on Linux: the native layer writes a
// whole flush batch to the dgram socket's own descriptor with sendmmsg(2) and
// UDP GSO (src/io/batch_send.rs). Whatever it does not send (unsupported here,
// the socket buffer is full, an error) goes out through dgram.send as before.
// Set NQUIC_BATCH_SEND=0 to turn it off (portable path only).
import type dgram from 'node:dgram';
import native from '../binding';
import { descriptorOf } from './descriptor';
import { EINVAL, EIO, EMSGSIZE, ENOPROTOOPT, EOPNOTSUPP, NO_FAST_PATH } from './errno';

/** Errors that mean "this socket or kernel cannot do GSO". */
const GSO_ERRORS = new Set([EIO, EINVAL, EMSGSIZE, ENOPROTOOPT, EOPNOTSUPP]);

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
   * Sends a prefix of the `count` packets of a flush batch; returns its
   * length. The caller sends the rest with dgram.
   */
  send(out: Buffer, meta: Uint32Array, count: number): number {
    // Packets queued inside dgram (the kernel was full) go first.
    if (!this.#enabled || this.#udp.getSendQueueCount() > 0) return 0;
    const fd = descriptorOf(this.#udp);
    if (fd < 0) {
      this.#enabled = false;
      return 0;
    }
    let sent = native.sendPackets(fd, out, meta, count, this.#ipv6, this.#gso);
    if (sent < 0 && this.#gso && GSO_ERRORS.has(-sent)) {
      this.#gso = false;
      sent = native.sendPackets(fd, out, meta, count, this.#ipv6, false);
    }
    if (sent < 0 && NO_FAST_PATH.has(-sent)) this.#enabled = false;
    return Math.max(0, sent);
  }
}
