// The file descriptor of a dgram socket, for the optional Linux fast paths
// that make system calls on JavaScript's own socket (batch-send.ts,
// batch-recv.ts, ttl-send.ts). Node keeps the handle behind a symbol
// (`_handle` is deprecated); -1 when it cannot be found or the socket is
// closed. Read afresh for every call: once the socket closes its handle is
// gone, so a descriptor number the process may have reused is never used.
import type dgram from 'node:dgram';

interface UdpHandle {
  fd?: unknown;
  recvStart?: unknown;
  recvStop?: unknown;
}

type SocketState = { handle?: UdpHandle | null } | undefined;

/** Each socket's state object, found once (it lives as long as the socket). */
const states = new WeakMap<dgram.Socket, SocketState>();

function stateOf(udp: dgram.Socket): SocketState {
  if (states.has(udp)) return states.get(udp);
  const key = Object.getOwnPropertySymbols(udp).find((s) => s.description === 'state symbol');
  const state = key === undefined ? undefined : (udp as unknown as Record<symbol, SocketState>)[key];
  states.set(udp, state);
  return state;
}

export function descriptorOf(udp: dgram.Socket): number {
  const fd = stateOf(udp)?.handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : -1;
}

/** libuv's reads of `udp`: `recvStop()` / `recvStart()` of its handle; undefined when not found. */
export function readsOf(udp: dgram.Socket): { stop(): boolean; start(): boolean } | undefined {
  const handle = stateOf(udp)?.handle;
  if (handle === undefined || handle === null) return undefined;
  const { recvStart, recvStop } = handle;
  if (typeof recvStart !== 'function' || typeof recvStop !== 'function') return undefined;
  return {
    stop: () => recvStop.call(handle) === 0,
    start: () => recvStart.call(handle) === 0,
  };
}
