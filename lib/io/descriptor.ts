// The file descriptor of a dgram socket, for the optional Linux fast paths
// that make system calls on JavaScript's own socket (batch-send.ts,
// ttl-send.ts). Node keeps the handle behind a symbol (`_handle` is
// deprecated); -1 when it cannot be found or the socket is closed.
import type dgram from 'node:dgram';

interface UdpHandle {
  fd?: unknown;
}

function handleOf(udp: dgram.Socket): UdpHandle | undefined {
  const state = Object.getOwnPropertySymbols(udp).find((s) => s.description === 'state symbol');
  const value = state === undefined ? undefined : (udp as unknown as Record<symbol, { handle?: UdpHandle } | undefined>)[state];
  return value?.handle ?? undefined;
}

export function descriptorOf(udp: dgram.Socket): number {
  const fd = handleOf(udp)?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : -1;
}
