// The descriptor of a dgram socket, for the Linux fast paths that make system
// calls on it (batch-send.ts, batch-recv.ts). Read afresh for every call: once
// the socket closes it is -1, never a number the process may have reused.
import type dgram from 'node:dgram';

// Linux errno values the native fast paths return (negated).
export const EIO = 5;
export const EBADF = 9;
export const EAGAIN = 11;
export const EINVAL = 22;
export const ENOSYS = 38;
export const ENOTSOCK = 88;
export const EMSGSIZE = 90;
export const ENOPROTOOPT = 92;
export const EOPNOTSUPP = 95;
/** Errors that mean "no fast path on this socket": use dgram from now on. */
export const UNAVAILABLE: ReadonlySet<number> = new Set([ENOSYS, EBADF, ENOTSOCK]);

interface UdpHandle {
  fd?: unknown;
}

/** Node keeps the socket's state (and handle) behind a symbol; `_handle` is deprecated. */
type SocketState = { handle?: UdpHandle | null };

export class Descriptor {
  readonly #state: SocketState | undefined;

  constructor(udp: dgram.Socket) {
    const key = Object.getOwnPropertySymbols(udp).find((s) => s.description === 'state symbol');
    this.#state = key === undefined ? undefined : (udp as unknown as Record<symbol, SocketState | undefined>)[key];
  }

  /** The socket's descriptor right now (-1 when unknown or closed). */
  get fd(): number {
    const fd = this.#state?.handle?.fd;
    return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : -1;
  }
}
