// The per-packet native calls, as raw Node-API functions bound to one
// endpoint (src/fast_calls.rs): napi-rs's class methods spend about 290-385
// ns per call before the method runs, these about 65 ns. Their errors carry
// `code` like the class methods' (convert them with `callNative`).
import type native from './binding';

type NativeEndpoint = InstanceType<typeof native.NativeEndpoint>;

/** The bit of `recv`'s answer saying more datagrams wait on the descriptor (`RECV_QUEUED` in src/fast_calls.rs). */
export const RECV_QUEUED = 8;

/** Shapes and results: see `FUNCTIONS` in src/fast_calls.rs. */
export interface FastCalls {
  /**
   * One received datagram: 0 delivered, 1 new connection, 2 version
   * negotiation, 3 dropped, 4 Retry sent; plus {@link RECV_QUEUED} when more
   * datagrams wait on `fd` (>= 0: the socket's descriptor, Linux fast path; -1: none).
   */
  recv(data: Buffer, address: string, port: number, fd: number): number;
  /** Event rows into `records` (its last number: 1 when more wait); returns the row count. */
  pollEvents(inbox: Buffer, records: Float64Array): number;
  /** Packets into `out`/`meta` (sent on `fd` when >= 0), the status row last; returns the packet count. */
  flush(out: Buffer, meta: Uint32Array, fd: number, sendFlags: number): number;
  /** The new stream's ID, or -1 at the peer's limit. */
  openStream(conn: number, bidirectional: boolean): number;
  /** Bytes accepted; -1 no more data, -2 blocked, -3 just stopped by the peer. */
  streamWrite(conn: number, stream: number, data: Buffer, fin: boolean): number;
  /** -1 when the queue is full, else `room * 65536 + maxDatagramSize`. */
  sendDatagram(conn: number, data: Uint8Array): number;
}

/** The fast calls of `endpoint`. */
export function fastCalls(endpoint: NativeEndpoint): FastCalls {
  return endpoint.fastCalls() as FastCalls;
}
