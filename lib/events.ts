// The events of the public classes, one interface per class: event name →
// listener signature. They document what `on(name, listener)` delivers (and
// can type a listener); __test__/docs.test.ts checks that every event a class
// emits is listed here, and nothing else.
import type { QuicConnection } from './connection';
import type { CloseInfo, QuicError } from './errors';
import type { QuicStream, STREAM_REFUSED } from './stream';
import type { Address } from './types';
import type { WebTransportCloseInfo, WebTransportSession } from './webtransport/session';

/** Events of a {@link QuicSocket}. */
export interface QuicSocketEvents {
  /**
   * A received datagram that is not QUIC: its first byte has the QUIC fixed
   * bit (0x40, RFC 9000 §17) clear, it is not a punch packet and not the
   * answer to this socket's own `stun()` (demultiplexing in the spirit of
   * RFC 7983). Keep your own datagrams' first byte below 0x40 or in 0x80-0xBF.
   * In arrival order; none once {@link QuicSocket.close} was called.
   */
  message: (data: Buffer, from: Address) => void;
  /** A peer's hole-punching packet ({@link QuicSocket.punch}) arrived: its NAT is open toward this socket (none once {@link QuicSocket.close} was called). */
  punch: (from: Address) => void;
  /**
   * A fault of the UDP socket not tied to one connection (e.g. a failed send).
   * Emitted only while someone listens: without a listener it is dropped (it
   * never throws or crashes the process).
   */
  error: (err: Error) => void;
  /** The socket is closed ({@link QuicSocket.close} completed). */
  close: () => void;
}

/** Events of a {@link QuicServer}. */
export interface QuicServerEvents {
  /**
   * A client completed its handshake, including every certificate check and
   * the `verify` hook. A refused client never produces this event, nor
   * anything else the application sees.
   */
  connection: (conn: QuicConnection) => void;
  /**
   * A WebTransport session was accepted (`listen({ webTransport })`): the
   * browser's extended CONNECT passed `allow`, and the 200 response is on its
   * way. HTTP/3 connections bring these instead of `'connection'` events.
   */
  session: (session: WebTransportSession) => void;
  /** The server stopped ({@link QuicServer.close} completed). */
  close: () => void;
}

/** Events of a {@link QuicConnection}. */
export interface QuicConnectionEvents {
  /**
   * The peer opened a stream (announced when its first frame arrives; peer
   * streams are announced in ID order). A peer stream that arrives while the
   * connection has no `'stream'` listener is refused (STOP_SENDING /
   * RESET_STREAM with {@link STREAM_REFUSED}, counted in
   * `stats().streamsRefused`); one that arrives before the application has
   * the connection waits until it has had a turn to listen.
   */
  stream: (stream: QuicStream) => void;
  /** An unreliable datagram (RFC 9221) from the peer; also readable through {@link QuicConnection.datagrams}. */
  datagram: (data: Buffer) => void;
  /** The TLS handshake completed (for a 0-RTT connection: after `connect()` resolved). */
  handshake: () => void;
  /** Client: the server sent a session ticket (RFC 8446 §4.6.1); the latest is also {@link QuicConnection.sessionTicket}. */
  sessionTicket: (ticket: Uint8Array) => void;
  /** The connection ended, gracefully or not; {@link QuicConnection.closed} resolves with the same value. */
  close: (info: CloseInfo) => void;
  /**
   * A relayed connection ({@link QuicConnection.path} `'relayed'`) has a
   * direct successor to the same peer, opened by a background attempt after
   * {@link QuicSocket.dial} ended relayed (on the target: when the dialer
   * presented the same certificate on both). QUIC cannot migrate from a
   * relayed flow to a UDP path, so the application moves over: new streams on
   * `direct`, and this connection closed once its own streams are done.
   */
  upgrade: (direct: QuicConnection) => void;
}

/**
 * Events of a {@link QuicStream} beyond those of a Node `Duplex` (`'data'`,
 * `'end'`, `'drain'`, `'finish'`, `'error'`, `'close'`). Listening for one of
 * them also changes what a peer's abort does: only that direction ends
 * (RFC 9000 §3) instead of the whole stream failing with `'error'`.
 */
export interface QuicStreamEvents {
  /**
   * The peer abandoned its sending side (RESET_STREAM, RFC 9000 §19.4):
   * `err` is `ERR_QUIC_STREAM_RESET` with the peer's `appCode`. The readable
   * side then ends (`'end'` after the data that did arrive); the writable
   * side carries on, so an answer can still be sent.
   */
  reset: (err: QuicError) => void;
  /**
   * The peer asked this side to stop sending (STOP_SENDING, RFC 9000 §19.5):
   * `err` is `ERR_QUIC_STREAM_STOPPED` with the peer's `appCode`. Writes are
   * dropped from then on (their callbacks succeed) until the stream is ended
   * or destroyed; the readable side carries on.
   */
  stopSending: (err: QuicError) => void;
}

/** Events of a {@link WebTransportSession}. */
export interface WebTransportSessionEvents {
  /**
   * The peer opened a stream of this session (either kind), its WebTransport
   * header already read. Without a listener such streams are refused
   * (STOP_SENDING and RESET_STREAM with WebTransport code 0).
   */
  stream: (stream: QuicStream) => void;
  /** An HTTP datagram (RFC 9297) of this session, its session prefix removed. */
  datagram: (data: Buffer) => void;
  /** The peer asks to wind the session down (GOAWAY or DRAIN_WEBTRANSPORT_SESSION); it still works. */
  draining: () => void;
  /** The session ended; {@link WebTransportSession.closed} resolves with the same value. */
  close: (info: WebTransportCloseInfo) => void;
}
