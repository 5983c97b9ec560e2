// WebTransport (W3C WebTransport, https://www.w3.org/TR/webtransport/) for
// Node.js and Electron: the browser API over nquic, so that code written
// for browsers runs unchanged. Each instance has its own QUIC connection
// (no pooling) carrying one session.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { ReadableStream, WritableStream } from 'node:stream/web';
import type { ReadableStreamDefaultController } from 'node:stream/web';
import native from '../binding';
import type { QuicConnection } from '../connection';
import { QuicError } from '../errors';
import { MAX_U32, validateInteger } from '../validate';
import { QuicSocket } from '../socket';
import type { PeerInfo, PemOrDer } from '../types';
import { WebTransportDatagramDuplexStream } from './datagrams';
import { webTransportError, WebTransportError } from './errors';
import { H3Connection } from './h3-connection';
import { truncateUtf8, type WebTransportSession } from './session';
import { bidirectionalStream, sendStream, receiveStream, type WebTransportBidirectionalStream } from './web-streams';

/** HTTP/3's "no error" code, for closing the connection after the session. */
const H3_NO_ERROR = 0x100;

/** One entry of `serverCertificateHashes` (W3C WebTransport `WebTransportHash`). */
export interface WebTransportHash {
  /** Only `'sha-256'` is supported; entries with other algorithms are ignored. */
  algorithm: string;
  /** The SHA-256 of the server's leaf certificate (DER). */
  value: ArrayBuffer | ArrayBufferView;
}

/** Options of `new WebTransport(url, options)`: the W3C `WebTransportOptions`, plus nquic's `ca`, `headers` and `socket`. */
export interface WebTransportOptions {
  /** W3C. Connections are never pooled in nquic; `true` cannot be combined with `serverCertificateHashes`. */
  allowPooling?: boolean;
  /** W3C. Datagrams are always supported, so this changes nothing. */
  requireUnreliable?: boolean;
  /**
   * W3C. Accept the server by the SHA-256 of its leaf certificate instead of
   * a CA: the certificate must also be an X.509v3 certificate valid for at
   * most 14 days, valid now, and not RSA (as in Chromium).
   */
  serverCertificateHashes?: WebTransportHash[];
  /** W3C. Maps to the QUIC congestion controller: `'low-latency'` → bbr2, `'throughput'` → cubic. */
  congestionControl?: 'default' | 'throughput' | 'low-latency';
  /** W3C. Accepted; nquic negotiates no subprotocols yet. */
  protocols?: string[];
  /** nquic: trust anchors instead of Node's bundled roots (without `serverCertificateHashes`). */
  ca?: PemOrDer | PemOrDer[];
  /** nquic: extra request headers (a browser sends `origin`; Node sends none unless given here). */
  headers?: Record<string, string>;
  /** nquic: the QuicSocket to connect from (default: a new one, closed with the session). */
  socket?: QuicSocket;
  /**
   * nquic: ms from the constructor until `ready`: the QUIC handshake, the
   * server's HTTP/3 SETTINGS and its answer to the session request (default
   * 10000, 1 to 2^32-1). Past it `ready` and `closed` reject with a
   * {@link WebTransportError} whose cause has the code
   * `ERR_QUIC_HANDSHAKE_TIMEOUT`, and the connection closes. (Without it, a
   * server that completes the QUIC handshake but never speaks HTTP/3 would
   * hold `ready` until the idle timeout.)
   */
  timeout?: number;
}

/** Default {@link WebTransportOptions.timeout}, ms: the same as `connect()`'s. */
const DEFAULT_READY_TIMEOUT = 10_000;

/** How a session closed (W3C `WebTransportCloseInfo`): `closed` resolves with it. */
export interface WebTransportCloseInfo {
  /** The WebTransport close code, 0 to 2^32-1 (0 without a CLOSE_WEBTRANSPORT_SESSION capsule). */
  closeCode: number;
  /** The close reason, at most 1024 bytes of UTF-8 ('' without a capsule). */
  reason: string;
}

/** What `getStats()` reports (the W3C `WebTransportConnectionStats` fields nquic knows). */
export interface WebTransportConnectionStats {
  /** Bytes sent on the connection, QUIC headers included. */
  bytesSent: number;
  /** Bytes received on the connection. */
  bytesReceived: number;
  /** QUIC packets sent. */
  packetsSent: number;
  /** QUIC packets received. */
  packetsReceived: number;
  /** Packets loss detection declared lost. */
  packetsLost: number;
  /** Smoothed round-trip time (RFC 9002 §5.3), in ms. */
  smoothedRtt: number;
  /** Datagram counts (W3C `WebTransportDatagramStats`). */
  datagrams: {
    /** Incoming datagrams dropped because a queue was full. */
    droppedIncoming: number;
    /** Incoming datagrams dropped for being older than `incomingMaxAge`. */
    expiredIncoming: number;
    /** Always 0: outgoing datagrams do not expire in nquic. */
    expiredOutgoing: number;
    /** Sent datagrams that loss detection declared lost. */
    lostOutgoing: number;
  };
}

type State = 'connecting' | 'connected' | 'draining' | 'closed' | 'failed';

function syntaxError(message: string): DOMException {
  return new DOMException(message, 'SyntaxError');
}

function hashBytes(value: unknown): Buffer | undefined {
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

/** The `verify` hook that pins the server by certificate hash (W3C "verify a certificate hash"). */
function hashVerifier(hashes: Buffer[]): (peer: PeerInfo) => boolean {
  return (peer) => {
    const leaf = peer.certificates[0];
    if (!leaf) throw new Error('the server sent no certificate');
    const digest = createHash('sha256').update(leaf).digest();
    if (!hashes.some((h) => h.equals(digest))) throw new Error('no entry of serverCertificateHashes matches the server certificate');
    const problem = native.webTransportCertificateProblem(leaf);
    if (problem) throw new Error(problem);
    return true;
  };
}

/** Marks a promise as handled (browsers do not crash on unhandled rejections; Node would). */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/**
 * The W3C WebTransport client (https://www.w3.org/TR/webtransport/) for
 * Node.js and Electron, so that code written for browsers runs unchanged:
 * one session over HTTP/3 (draft-ietf-webtrans-http3) on a QUIC connection
 * of its own. `url` must be `https:` without a fragment (else a
 * `SyntaxError` DOMException, synchronously). Streams are WHATWG streams;
 * failures are {@link WebTransportError}s, whose `cause` is nquic's
 * {@link QuicError}. `ready` and `closed` rejections never crash Node as
 * unhandled rejections (as in a browser).
 *
 * With `serverCertificateHashes`, the server is accepted by the SHA-256 of
 * its leaf certificate instead of a CA, under the browsers' rules (W3C
 * "verify a certificate hash"): X.509v3, valid for at most 14 days, valid
 * now, and (as in Chromium) not RSA.
 *
 * {@includeCode ../../examples/webtransport-server.mjs#webtransport-server}
 */
export class WebTransport {
  /** Resolves once the server accepted the session; rejects with a {@link WebTransportError} (`source: 'session'`) if it cannot be opened. */
  readonly ready: Promise<void>;
  /** Resolves with the close code and reason when the session closes cleanly (either side); rejects with a {@link WebTransportError} when it ends abruptly. */
  readonly closed: Promise<WebTransportCloseInfo>;
  /** Resolves when the server asks to wind down (GOAWAY or DRAIN_WEBTRANSPORT_SESSION), or once the session ended. */
  readonly draining: Promise<void>;
  /** The session's HTTP datagrams (RFC 9297) as a readable and a writable stream. */
  readonly datagrams = new WebTransportDatagramDuplexStream();
  /** Bidirectional streams the server opens, as `{ readable, writable }` pairs. */
  readonly incomingBidirectionalStreams: ReadableStream<WebTransportBidirectionalStream>;
  /** Unidirectional streams the server opens, as readable byte streams. */
  readonly incomingUnidirectionalStreams: ReadableStream<ReadableStream<Uint8Array>>;
  /** `'pending'` until ready, then `'supports-unreliable'` (datagrams are always available). */
  reliability: 'pending' | 'reliable-only' | 'supports-unreliable' = 'pending';
  /** The congestion control asked for in the options (default `'default'`: bbr2, as every nquic connection). */
  readonly congestionControl: 'default' | 'throughput' | 'low-latency';
  /** The subprotocol the server chose: always '' (none are negotiated yet). */
  readonly protocol = '';
  #state: State = 'connecting';
  #connection: QuicConnection | undefined;
  #session: WebTransportSession | undefined;
  #settle!: { ready: (err?: unknown) => void; closed: (outcome: { info: WebTransportCloseInfo } | { error: unknown }) => void; draining: () => void };
  #bidi: ReadableStreamDefaultController<WebTransportBidirectionalStream> | undefined;
  #uni: ReadableStreamDefaultController<ReadableStream<Uint8Array>> | undefined;

  constructor(url: string | URL, options: WebTransportOptions = {}) {
    let parsed: URL;
    try {
      parsed = new URL(String(url));
    } catch {
      throw syntaxError(`Invalid URL: ${String(url)}`);
    }
    if (parsed.protocol !== 'https:') throw syntaxError('A WebTransport URL must use the https scheme');
    if (parsed.hash !== '') throw syntaxError('A WebTransport URL must not have a fragment');
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    const hashes = (options.serverCertificateHashes ?? []).filter((h) => String(h?.algorithm).toLowerCase() === 'sha-256').map((h) => hashBytes(h.value));
    if (hashes.some((h) => h === undefined)) throw new TypeError('serverCertificateHashes[].value must be a BufferSource');
    if (options.allowPooling && options.serverCertificateHashes?.length) {
      throw new DOMException('allowPooling cannot be combined with serverCertificateHashes', 'NotSupportedError');
    }
    validateInteger(options.timeout, 'options.timeout', 1, MAX_U32);
    this.congestionControl = options.congestionControl ?? 'default';

    let settleReady!: (err?: unknown) => void;
    this.ready = quiet(new Promise<void>((resolve, reject) => {
      settleReady = (err) => (err === undefined ? resolve() : reject(err));
    }));
    // (Not `instanceof Error`: DOMException may come from another realm.)
    let settleClosed!: (outcome: { info: WebTransportCloseInfo } | { error: unknown }) => void;
    this.closed = quiet(new Promise<WebTransportCloseInfo>((resolve, reject) => {
      settleClosed = (outcome) => ('info' in outcome ? resolve(outcome.info) : reject(outcome.error));
    }));
    let settleDraining!: () => void;
    this.draining = new Promise<void>((resolve) => {
      settleDraining = resolve;
    });
    this.#settle = { ready: settleReady, closed: settleClosed, draining: settleDraining };
    this.incomingBidirectionalStreams = new ReadableStream<WebTransportBidirectionalStream>({ start: (c) => void (this.#bidi = c) });
    this.incomingUnidirectionalStreams = new ReadableStream<ReadableStream<Uint8Array>>({ start: (c) => void (this.#uni = c) });
    void this.#start(parsed, options, hashes as Buffer[]);
    const timeout = options.timeout ?? DEFAULT_READY_TIMEOUT;
    const timer = setTimeout(() => this.#readyTimedOut(timeout), timeout);
    void this.ready.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
  }

  /** `ready` did not come within `timeout` ms: give up the attempt. */
  #readyTimedOut(timeout: number): void {
    if (this.#state !== 'connecting') return;
    const cause = new QuicError('ERR_QUIC_HANDSHAKE_TIMEOUT', `The WebTransport session was not ready within ${timeout} ms`);
    this.#fail(webTransportError(`Opening the WebTransport session failed: ${cause.message}`, { source: 'session' }, cause));
    // A connection still being set up closes itself once it sees the state.
    const connection = this.#connection;
    if (connection && !connection.destroyed) void connection.close({ code: H3_NO_ERROR });
  }

  async #start(url: URL, options: WebTransportOptions, hashes: Buffer[]): Promise<void> {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port === '' ? 443 : Number(url.port);
    let socket = options.socket;
    let connection: QuicConnection | undefined;
    try {
      socket ??= await QuicSocket.bind({ address: isIP(host) === 6 ? '::' : '0.0.0.0' });
      const ownsSocket = options.socket === undefined;
      if (this.#state !== 'connecting') {
        if (ownsSocket) await socket.close();
        return;
      }
      const congestion = { 'low-latency': 'bbr2', throughput: 'cubic', default: undefined }[this.congestionControl] as 'bbr2' | 'cubic' | undefined;
      const connecting = socket._connect(
        {
          host,
          port,
          alpn: ['h3'],
          ...(hashes.length > 0 ? { verify: hashVerifier(hashes) } : {}),
          ...(options.ca !== undefined ? { ca: options.ca } : {}),
          ...(congestion ? { congestionControl: congestion } : {}),
        },
        ownsSocket,
        true,
      );
      connection = await connecting;
      this.#connection = connection;
      if (this.#state !== 'connecting') {
        void connection.close({ code: H3_NO_ERROR });
        return;
      }
      const h3 = new H3Connection(connection);
      connection.once('close', () => this.#onConnectionGone());
      const onOpen = (session: WebTransportSession): void => {
        if (this.#state === 'connecting') this.#onSession(session);
        else void session.close();
      };
      await h3.connect(url.host, `${url.pathname}${url.search}`, options.headers ?? {}, onOpen);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.#fail(webTransportError(`Opening the WebTransport session failed: ${message}`, { source: 'session' }, err));
      if (connection) void connection.close({ code: H3_NO_ERROR });
      else if (socket && options.socket === undefined) void socket.close();
    }
  }

  #onSession(session: WebTransportSession): void {
    this.#session = session;
    this.#state = 'connected';
    this.reliability = 'supports-unreliable';
    this.datagrams._attach(session);
    session.on('stream', (stream) => {
      if (stream.bidirectional) this.#bidi?.enqueue(bidirectionalStream(stream));
      else this.#uni?.enqueue(receiveStream(stream));
    });
    session.once('draining', () => {
      if (this.#state === 'connected') this.#state = 'draining';
      this.#settle.draining();
    });
    session.once('close', (info) => {
      if (info.error) {
        this.#fail(webTransportError(`The WebTransport session ended abruptly: ${info.error.message}`, { source: 'session' }, info.error));
      } else {
        this.#finish({ closeCode: info.code, reason: info.reason });
      }
      // Each WebTransport has its own connection: it goes with the session.
      const connection = this.#connection;
      if (connection && !connection.destroyed) void session.close().then(() => connection.close({ code: H3_NO_ERROR }));
    });
    this.#settle.ready();
  }

  #onConnectionGone(): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    this.#fail(webTransportError('The connection closed', { source: 'session' }));
  }

  /** Ends cleanly: `closed` resolves, incoming streams end. */
  #finish(info: WebTransportCloseInfo): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    this.#state = 'closed';
    this.#settle.closed({ info });
    this.#settle.draining();
    this.#endIncoming();
  }

  /** Ends abruptly: `ready` (if pending) and `closed` reject with `error`. */
  #fail(error: WebTransportError): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    this.#state = 'failed';
    this.#settle.ready(error);
    this.#settle.closed({ error });
    this.#settle.draining();
    this.#endIncoming(error);
  }

  #endIncoming(error?: WebTransportError): void {
    for (const controller of [this.#bidi, this.#uni]) {
      try {
        if (error) controller?.error(error);
        else controller?.close();
      } catch {
        // Already closed (cancelled by the application).
      }
    }
    this.datagrams._end();
  }

  #openSession(): WebTransportSession {
    if (this.#state === 'connecting') throw new DOMException('The WebTransport session is not ready yet', 'InvalidStateError');
    const session = this.#session;
    if (!session || this.#state === 'closed' || this.#state === 'failed') {
      throw new DOMException('The WebTransport session is closed', 'InvalidStateError');
    }
    return session;
  }

  /** Opens a bidirectional stream (waits for ready, then for stream credit). */
  async createBidirectionalStream(): Promise<WebTransportBidirectionalStream> {
    if (this.#state === 'connecting') await this.ready;
    const stream = await this.#openSession().openStream();
    return bidirectionalStream(stream);
  }

  /** Opens a unidirectional (send-only) stream. */
  async createUnidirectionalStream(): Promise<WritableStream<Uint8Array>> {
    if (this.#state === 'connecting') await this.ready;
    const stream = await this.#openSession().openStream({ unidirectional: true });
    return sendStream(stream);
  }

  /**
   * Closes the session with `closeCode` (0 to 2^32-1) and `reason` (cut to
   * 1024 bytes of UTF-8); `closed` resolves with them. Before the session
   * is ready, the attempt is abandoned (`ready` and `closed` reject).
   */
  close(closeInfo: { closeCode?: number; reason?: string } = {}): void {
    const closeCode = closeInfo.closeCode ?? 0;
    if (!Number.isInteger(closeCode) || closeCode < 0 || closeCode > 0xffff_ffff) {
      throw new RangeError('closeCode must be an integer from 0 to 4294967295');
    }
    const reason = truncateUtf8(String(closeInfo.reason ?? ''));
    if (this.#state === 'connecting') {
      this.#fail(new WebTransportError('The WebTransport session was closed before it was ready', { source: 'session' }));
      this.#state = 'closed';
      const connection = this.#connection;
      if (connection) void connection.close({ code: H3_NO_ERROR });
      return;
    }
    if (this.#state === 'closed' || this.#state === 'failed') return;
    const session = this.#session;
    this.#finish({ closeCode, reason });
    const connection = this.#connection;
    void session?.close({ code: closeCode, reason }).then(() => connection?.close({ code: H3_NO_ERROR }));
  }

  /** Connection statistics (W3C `getStats()`, the fields nquic knows); zeros once the connection is gone. */
  async getStats(): Promise<WebTransportConnectionStats> {
    const connection = this.#connection;
    const s = connection && !connection.destroyed ? connection.stats() : undefined;
    return {
      bytesSent: s?.bytesSent ?? 0,
      bytesReceived: s?.bytesReceived ?? 0,
      packetsSent: s?.packetsSent ?? 0,
      packetsReceived: s?.packetsReceived ?? 0,
      packetsLost: s?.packetsLost ?? 0,
      smoothedRtt: s?.rtt ?? 0,
      datagrams: {
        droppedIncoming: this.datagrams.droppedIncoming + (s?.datagramsDroppedOnReceive ?? 0),
        expiredIncoming: this.datagrams.expiredIncoming,
        expiredOutgoing: 0,
        lostOutgoing: s?.datagramsLost ?? 0,
      },
    };
  }
}
