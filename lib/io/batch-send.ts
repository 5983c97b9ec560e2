// Optional fast path for outgoing packets on Linux: the native layer writes a
// whole flush batch to the dgram socket's own descriptor with sendmmsg(2) and
// UDP GSO (src/io/batch_send.rs). Whatever it does not send (unsupported here,
// the socket buffer is full, an error) goes out through dgram.send as before.
// Set NQUIC_BATCH_SEND=0 to turn it off (portable path only).
import type dgram from 'node:dgram';
import native from '../binding';

const EIO = 5;
const EBADF = 9;
const EINVAL = 22;
const ENOTSOCK = 88;
const EMSGSIZE = 90;
const ENOPROTOOPT = 92;
const EOPNOTSUPP = 95;
const ENOSYS = 38;
/** Errors that mean "this socket or kernel cannot do GSO". */
const GSO_ERRORS = new Set([EIO, EINVAL, EMSGSIZE, ENOPROTOOPT, EOPNOTSUPP]);
/** Errors that mean "no fast path at all on this socket". */
const FATAL_ERRORS = new Set([ENOSYS, EBADF, ENOTSOCK]);

interface UdpHandle {
  fd?: unknown;
}

/** Node keeps the socket's handle behind a symbol (`_handle` is deprecated). */
function handleOf(udp: dgram.Socket): UdpHandle | undefined {
  const state = Object.getOwnPropertySymbols(udp).find((s) => s.description === 'state symbol');
  const value = state === undefined ? undefined : (udp as unknown as Record<symbol, { handle?: UdpHandle } | undefined>)[state];
  return value?.handle ?? undefined;
}

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

  /** The socket's descriptor right now (-1 when unknown or closed). */
  #fd(): number {
    const fd = handleOf(this.#udp)?.fd;
    return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : -1;
  }

  /**
   * Sends a prefix of the `count` packets of a flush batch; returns its
   * length. The caller sends the rest with dgram.
   */
  send(out: Buffer, meta: Uint32Array, count: number): number {
    // Packets queued inside dgram (the kernel was full) go first.
    if (!this.#enabled || this.#udp.getSendQueueCount() > 0) return 0;
    const fd = this.#fd();
    if (fd < 0) {
      this.#enabled = false;
      return 0;
    }
    let sent = native.sendPackets(fd, out, meta, count, this.#ipv6, this.#gso);
    if (sent < 0 && this.#gso && GSO_ERRORS.has(-sent)) {
      this.#gso = false;
      sent = native.sendPackets(fd, out, meta, count, this.#ipv6, false);
    }
    if (sent < 0 && FATAL_ERRORS.has(-sent)) this.#enabled = false;
    return Math.max(0, sent);
  }
}
