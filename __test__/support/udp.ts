// UDP peers on loopback for the gateway suites, and a bounded wait.
import * as dgram from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import { trackDgram } from '../helpers';

export interface Received {
  data: Buffer;
  from: RemoteInfo;
}

export interface UdpPeer {
  socket: dgram.Socket;
  port: number;
  /** Every datagram received, in order. */
  received: Received[];
}

/** A UDP socket on loopback (closed after the test) that records what it receives and, if `echo`, sends it back. */
export async function udpPeer(echo = true, type: 'udp4' | 'udp6' = 'udp4'): Promise<UdpPeer> {
  const socket = trackDgram(dgram.createSocket(type), 'udp peer');
  const received: Received[] = [];
  socket.on('message', (data, from) => {
    received.push({ data, from });
    if (echo) socket.send(data, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', resolve));
  return { socket, port: socket.address().port, received };
}

/** Waits until `condition()` holds, checking every 5 ms, for at most `ms`. */
export async function until(condition: () => boolean, label: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timeout: ${label} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Binds `port` on all IPv4 addresses and closes again: proof that nobody holds it. */
export async function portIsFree(port: number): Promise<boolean> {
  const socket = dgram.createSocket('udp4');
  const free = await new Promise<boolean>((resolve) => {
    socket.once('error', () => resolve(false));
    socket.bind(port, '0.0.0.0', () => resolve(true));
  });
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return free;
}
