// QuicConnection: one QUIC connection, client or server side. All protocol
// work happens in the native endpoint; this class keeps the JavaScript view
// (streams, waiters, events) in step with it.
import { EventEmitter } from 'node:events';
import type { NativeConnectionInfo } from '../index.js';
import { toAddress } from './address';
import { debug } from './debug';
import { callNative, CloseInfo, connectionClosed, QuicError, toCloseInfo } from './errors';
import type { QuicSocket } from './socket';
import { QuicStream, STREAM_REFUSED } from './stream';
import type { Address, CloseOptions, ConnectionStats, RegisterOptions, StreamOptions, TlsOptions, TransportOptions } from './types';
import { DatagramQueue } from './datagram-queue';
import { writeKeylog, writeQlog } from './keylog';
import { runVerifyHook } from './tls/peer-verification';
import { validateBytes, validateInteger, validateObject, validateString } from './validate';
import { invalidArgType, invalidArgValue } from './errors';
import { QuicSocketClass } from './socket-class';

interface StreamWaiter {
  bidirectional: boolean;
  resolve: (stream: QuicStream) => void;
  reject: (err: Error) => void;
}

interface RelayRegistration {
  resolve: () => void;
  reject: (e: Error) => void;
  promise: Promise<void>;
}

const MAX_APP_CODE = Number.MAX_SAFE_INTEGER;

/**
 * One QUIC connection (RFC 9000), client or server side: streams
 * ({@link openStream}, `'stream'`), unreliable datagrams ({@link sendDatagram},
 * `'datagram'`, RFC 9221) and its TLS 1.3 identity. Made by `connect()` /
 * {@link QuicSocket.connect} (resolved after the handshake) and announced by
 * a server's `'connection'` event.
 *
 * It ends with {@link close} (graceful, a code and reason for the peer),
 * {@link destroy}, the peer's close, or a timeout; either way {@link closed}
 * resolves (never rejects) with a {@link CloseInfo} and `'close'` is emitted.
 * Streams still open then error with the close's error, except after a clean
 * local `close()`.
 *
 * Events: {@link QuicConnectionEvents} (`'stream'`, `'datagram'`,
 * `'handshake'`, `'sessionTicket'`, `'close'`).
 *
 * {@includeCode ../examples/tour.mjs#tour}
 */
export class QuicConnection extends EventEmitter {
  /** Which end of the connection this is. */
  readonly side: 'client' | 'server';
  #socket: QuicSocket;
  /** The send epoch in which the native layer reported the two limits below (lib/datagram-batch.ts). */
  #datagramEpoch = -1;
  /** More datagrams the native send queue takes. */
  #datagramRoom = 0;
  /** The largest datagram allowed. */
  #datagramMax = 0;
  /** @internal native handle */
  readonly handle: number;
  #ownsSocket: boolean;
  readonly #tls: TlsOptions & TransportOptions;
  readonly #streams = new Map<number, QuicStream>();
  readonly #waiters: StreamWaiter[] = [];
  #info: NativeConnectionInfo | undefined;
  #closeInfo: CloseInfo | undefined;
  #resolveClosed!: (info: CloseInfo) => void;
  #handshake: { resolve: (c: QuicConnection) => void; reject: (e: Error) => void } | undefined;
  #streamsOpened = 0;
  #streamsRefused = 0;
  /**
   * Peer-opened streams that arrived before the application had the
   * connection (and a turn to listen for 'stream'); `undefined` once they
   * have been offered. See `_handOut`.
   */
  #held: QuicStream[] | undefined = [];
  #releaseScheduled = false;
  /** Next peer-opened stream ID not yet seen, bidirectional and unidirectional. */
  readonly #nextRemote: [number, number];
  /** Peer stream IDs skipped over (their frames arrived out of order), not yet seen. */
  readonly #skippedRemote = new Set<number>();
  readonly #datagramReaders = new Set<DatagramQueue>();
  #datagramsDroppedByReaders = 0;
  #lastTicket: Uint8Array | undefined;
  #lastRemote: Address | undefined;
  #relayRegistration: RelayRegistration | undefined;
  /** Resolves (never rejects) once the connection has ended. */
  readonly closed: Promise<CloseInfo>;

  /** @internal */
  constructor(socket: QuicSocket, handle: number, side: 'client' | 'server', ownsSocket: boolean, tls: TlsOptions & TransportOptions) {
    super();
    this.#tls = tls;
    const firstRemote = side === 'client' ? 1 : 0;
    this.#nextRemote = [firstRemote, firstRemote + 2];
    this.#socket = socket;
    this.handle = handle;
    this.side = side;
    this.#ownsSocket = ownsSocket;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  /** @internal Resolves when established, rejects if the handshake fails. */
  _handshake(signal?: AbortSignal): Promise<QuicConnection> {
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const err = new QuicError('ABORT_ERR', 'The connection attempt was aborted');
        this.#handshake = undefined;
        reject(err);
        this.destroy();
      };
      this.#handshake = {
        resolve: (c) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(c);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The socket this connection currently uses. */
  get socket(): QuicSocket {
    return this.#socket;
  }

  /**
   * Client only: moves this connection to another local socket (e.g. a new
   * network interface; connection migration, RFC 9000 §9). The server
   * validates the new path and the connection carries on; streams and
   * datagrams are unaffected. A socket that `connect()` created for this
   * connection alone is closed. Throws `ERR_QUIC_INVALID_STREAM_STATE` on a
   * server connection, `ERR_QUIC_CONNECTION_CLOSED` / `ERR_QUIC_SOCKET_CLOSED`
   * when either is closed. Relayed connections cannot migrate.
   */
  migrate(socket: QuicSocket): void {
    if (!(socket instanceof QuicSocketClass())) throw invalidArgType('socket', 'a QuicSocket', socket);
    if (this.side !== 'client') throw new QuicError('ERR_QUIC_INVALID_STREAM_STATE', 'Only a client connection can migrate');
    if (this.#closeInfo !== undefined) throw connectionClosed();
    if (socket === this.#socket) return;
    if (socket.closed) throw new QuicError('ERR_QUIC_SOCKET_CLOSED', 'The target socket is closed');
    const previous = this.#socket;
    previous._pushDatagrams();
    callNative(() => socket._endpoint.adopt(previous._endpoint, this.handle));
    previous._departConnection(this.handle);
    socket._addConnection(this);
    this.#socket = socket;
    socket._schedule();
    if (this.#ownsSocket) {
      this.#ownsSocket = false;
      void previous.close();
    }
  }

  /** Whether the connection has ended (its {@link closed} promise has resolved or is about to). */
  get destroyed(): boolean {
    return this.#closeInfo !== undefined;
  }

  #endpoint() {
    if (this.#closeInfo !== undefined) throw connectionClosed();
    return this.socket._endpoint;
  }

  #fast() {
    if (this.#closeInfo !== undefined) throw connectionClosed();
    return this.socket._fast;
  }

  /** The application protocol both sides chose (ALPN, RFC 7301); undefined until the handshake completes. */
  get alpnProtocol(): string | undefined {
    return this.#info?.alpn;
  }

  /** The server name of the handshake (SNI, RFC 6066 §3): what the client asked for; undefined when none was sent. */
  get serverName(): string | undefined {
    return this.#info?.serverName;
  }

  /** The peer's certificate chain as it sent it, DER-encoded, leaf first; empty if it sent none. */
  get peerCertificates(): Uint8Array[] {
    return this.#info?.peerCertificates ?? [];
  }

  /**
   * Client: the latest session ticket (RFC 8446 §4.6.1), to resume with
   * `connect({ sessionTicket })`; undefined until the server sent one,
   * shortly after the handshake (`'sessionTicket'` event). Opaque bytes.
   */
  get sessionTicket(): Uint8Array | undefined {
    if (this.side !== 'client' || this.#closeInfo !== undefined) return this.#lastTicket;
    try {
      const ticket = this.socket._endpoint.sessionTicket(this.handle) ?? undefined;
      if (ticket) this.#lastTicket = ticket;
    } catch {
      // Freed natively; its CLOSED event is being dispatched.
    }
    return this.#lastTicket;
  }

  /** Whether the handshake resumed an earlier session. */
  get resumed(): boolean {
    return this.#info?.resumed ?? false;
  }

  /** Client: whether the server accepted the 0-RTT data sent before the handshake completed. */
  get earlyDataAccepted(): boolean {
    return this.#info?.earlyDataAccepted ?? false;
  }

  /** Whether this connection travels through a relay (its {@link remoteAddress} is then the relay's). */
  get relayed(): boolean {
    return this.#info?.relayed ?? (this.#tls as { via?: unknown }).via !== undefined;
  }

  /** `'relayed'` when this connection travels through a relay, else `'direct'` (on both ends). */
  get path(): 'direct' | 'relayed' {
    return this.relayed ? 'relayed' : 'direct';
  }

  /**
   * Registers this socket with the peer of this connection, a rendezvous
   * ({@link ServerOptions.rendezvous}), under this connection's certificate
   * fingerprint: from then on other peers can {@link QuicSocket.dial} it
   * through that rendezvous, by hole punching or relayed (it also becomes
   * reachable through the rendezvous's relay, without
   * {@link QuicConnection.acceptRelayed}), and the resulting connections
   * reach this socket's server as ordinary `'connection'` events. Resolves
   * once the rendezvous agreed; the registration lasts as long as this
   * connection (give it `keepAlive`). Rejects with
   * `ERR_QUIC_RENDEZVOUS_UNAVAILABLE`, `ERR_QUIC_RENDEZVOUS_FULL`,
   * `ERR_QUIC_RELAY_CERT_REQUIRED`, `ERR_QUIC_RELAY_NO_SERVER` or the
   * connection's close error.
   */
  register(opts: RegisterOptions = {}): Promise<void> {
    validateObject(opts, 'options');
    validateInteger(opts.punchTtl, 'options.punchTtl', 1, 255);
    if (this.#closeInfo !== undefined) return Promise.reject(connectionClosed());
    return this.#socket._p2p.register(this, opts.punchTtl);
  }

  /** @internal A rendezvous signalling message arrived on this connection. */
  _onSignal(data: Buffer): void {
    this.#socket._p2p.onSignal(this, data);
  }

  /**
   * Asks the peer of this connection, a relay (`listen({ relay })`), to make
   * this socket reachable through it under this connection's certificate
   * fingerprint. Relayed connections then arrive at this socket's server as
   * `'connection'` with `relayed === true`. Resolves once the relay agreed.
   * Rejects with `ERR_QUIC_RELAY_NO_SERVER` (no server on this socket),
   * `ERR_QUIC_RELAY_CERT_REQUIRED` (this connection has no client
   * certificate), `ERR_QUIC_RELAY_UNAVAILABLE` (the peer is not a relay) or
   * the connection's close error.
   *
   * {@includeCode ../examples/relay.mjs#relay}
   */
  acceptRelayed(): Promise<void> {
    if (this.#closeInfo !== undefined) return Promise.reject(connectionClosed());
    if (this.#socket._server === undefined) {
      return Promise.reject(new QuicError('ERR_QUIC_RELAY_NO_SERVER', 'acceptRelayed() needs a server on this socket (socket.listen()) to accept the relayed connections'));
    }
    if (this.#relayRegistration) return this.#relayRegistration.promise;
    try {
      callNative(() => this.#endpoint().relayRegister(this.handle));
    } catch (err) {
      return Promise.reject(err);
    }
    let settle!: Pick<RelayRegistration, 'resolve' | 'reject'>;
    const promise = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    this.#relayRegistration = { ...settle, promise };
    this.socket._schedule();
    return promise;
  }

  /** @internal The relay answered `acceptRelayed()` (0 ok, 1 no certificate, 2 no answer). */
  _onRelayRegistered(outcome: number): void {
    const registration = this.#relayRegistration;
    if (registration === undefined) return;
    if (outcome === 0) {
      registration.resolve();
      return;
    }
    this.#relayRegistration = undefined;
    registration.reject(
      outcome === 1
        ? new QuicError('ERR_QUIC_RELAY_CERT_REQUIRED', 'The relay names peers by their certificate: connect to it with key and cert')
        : new QuicError('ERR_QUIC_RELAY_UNAVAILABLE', 'The peer did not answer as a relay (does it listen with the relay option?)'),
    );
  }

  /** The local address: its socket's. */
  get localAddress(): Address {
    return this.socket.address;
  }

  /**
   * The peer's current address (it follows the peer's migrations and NAT
   * rebindings); after the end, the last one. Throws
   * `ERR_QUIC_CONNECTION_CLOSED` if the connection ended before it had one.
   */
  get remoteAddress(): Address {
    if (this.#closeInfo === undefined) {
      const peer = callNative(() => this.#socket._endpoint.remoteAddress(this.handle));
      this.#lastRemote = toAddress(peer.address, peer.port);
    }
    if (this.#lastRemote === undefined) throw connectionClosed();
    return this.#lastRemote;
  }

  /**
   * The largest datagram payload, in bytes, that {@link sendDatagram} accepts
   * now: the peer's `max_datagram_frame_size` (RFC 9221 §3) and the path's
   * packet size allow it (about 1310 by default; about 100 less on a relayed
   * connection). 0 when datagrams are off on either side or the connection ended.
   */
  get maxDatagramSize(): number {
    if (this.#closeInfo !== undefined) return 0;
    return callNative(() => this.socket._endpoint.maxDatagramSize(this.handle));
  }

  /**
   * Opens a stream: bidirectional, or send-only with `{ unidirectional: true }`
   * (RFC 9000 §2). When the peer's stream limit (MAX_STREAMS, RFC 9000 §4.6)
   * is reached it waits, first come first served, for the peer to grant more,
   * instead of failing. Rejects with the close error (or
   * `ERR_QUIC_CONNECTION_CLOSED`) if the connection ends first. The peer
   * learns of the stream when its first data (or FIN) arrives.
   */
  openStream(opts: StreamOptions = {}): Promise<QuicStream> {
    validateObject(opts, 'options');
    const bidirectional = !opts.unidirectional;
    if (this.#closeInfo !== undefined) return Promise.reject(connectionClosed());
    if (this.#waiters.length === 0) {
      const stream = this.#tryOpen(bidirectional);
      if (stream) return Promise.resolve(stream);
    }
    return new Promise((resolve, reject) => this.#waiters.push({ bidirectional, resolve, reject }));
  }

  #tryOpen(bidirectional: boolean): QuicStream | undefined {
    const id = callNative(() => this.#fast().openStream(this.handle, bidirectional));
    if (id < 0) return undefined;
    this.socket._schedule();
    this.#streamsOpened++;
    return this.#addStream(id, 'local', bidirectional);
  }

  #addStream(id: number, initiator: 'local' | 'remote', bidirectional: boolean): QuicStream {
    const stream = new QuicStream(this, id, initiator, bidirectional);
    this.#streams.set(id, stream);
    stream.once('close', () => this.#streams.delete(id));
    return stream;
  }

  /**
   * Queues one unreliable datagram (RFC 9221): it is sent once, in the next
   * packets, and may be lost. Returns false when the send queue
   * (`datagramQueueLength`) is full: this datagram is dropped and counted in
   * `stats().datagramsDroppedOnSend`. Throws `ERR_QUIC_DATAGRAM_TOO_LARGE`
   * above {@link maxDatagramSize}, `ERR_QUIC_DATAGRAMS_DISABLED` when either
   * side turned datagrams off, `ERR_QUIC_CONNECTION_CLOSED` after the end.
   */
  sendDatagram(data: Uint8Array): boolean {
    validateBytes(data, 'data');
    if (this.#closeInfo !== undefined) throw connectionClosed();
    const socket = this.socket;
    // Within what the native layer last said (see lib/datagram-batch.ts).
    if (this.#datagramEpoch === socket._sendEpoch && this.#datagramRoom > 0 && data.length <= this.#datagramMax && socket._batchDatagram(this.handle, data)) {
      this.#datagramRoom--;
      socket._schedule();
      return true;
    }
    // In order: what is batched is queued first.
    socket._pushDatagrams();
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const answer = callNative(() => socket._fast.sendDatagram(this.handle, buf));
    socket._schedule();
    if (answer < 0) return false;
    this.#datagramEpoch = socket._sendEpoch;
    this.#datagramRoom = Math.floor(answer / 65536);
    this.#datagramMax = answer % 65536;
    return true;
  }

  /**
   * Received datagrams as an async iterator. Each iterator holds at most
   * `datagramQueueLength` (default 1024) unread datagrams; beyond that the
   * oldest are dropped and counted in `stats().datagramsDroppedOnReceive`.
   * It ends when the connection closes.
   */
  datagrams(): AsyncIterableIterator<Uint8Array> {
    const queue = new DatagramQueue(
      this.#tls.datagramQueueLength ?? 1024,
      () => this.#datagramsDroppedByReaders++,
      () => this.#datagramReaders.delete(queue),
    );
    if (this.#closeInfo !== undefined) queue.end();
    else this.#datagramReaders.add(queue);
    return queue;
  }

  /** This connection's counters (RTT, congestion window, packets, bytes, datagram drops). Throws `ERR_QUIC_CONNECTION_CLOSED` once it ended. */
  stats(): ConnectionStats {
    const s = callNative(() => this.#endpoint().stats(this.handle));
    return {
      ...s,
      datagramsDroppedOnReceive: s.datagramsDroppedOnReceive + this.#datagramsDroppedByReaders,
      streamsOpened: this.#streamsOpened,
      streamsRefused: this.#streamsRefused,
    };
  }

  /**
   * Closes gracefully: sends CONNECTION_CLOSE with an application `code`
   * (default 0) and `reason` (RFC 9000 §10.2), which the peer sees in its
   * {@link CloseInfo}. Resolves with this side's CloseInfo once the close is
   * sent. Idempotent. Bad options throw `ERR_OUT_OF_RANGE` /
   * `ERR_INVALID_ARG_VALUE` (a reason over 1000 bytes).
   */
  close(opts: CloseOptions = {}): Promise<CloseInfo> {
    validateObject(opts, 'options');
    validateInteger(opts.code, 'options.code', 0, MAX_APP_CODE);
    if (opts.reason !== undefined) {
      validateString(opts.reason, 'options.reason');
      if (Buffer.byteLength(opts.reason) > 1000) throw invalidArgValue('options.reason', 'must be at most 1000 bytes');
    }
    const code = opts.code ?? 0;
    const reason = opts.reason ?? '';
    if (this.#closeInfo === undefined) {
      this.socket._pushDatagrams();
      this.socket._flushPending();
      try {
        callNative(() => this.socket._endpoint.close(this.handle, true, code, reason));
      } catch (err) {
        // Ended natively, its CLOSED event not dispatched yet (a handler
        // earlier in the same batch closing it): `closed` settles with it.
        if ((err as QuicError).code !== 'ERR_QUIC_CONNECTION_CLOSED') throw err;
      }
      this.socket._schedule();
    }
    return this.closed;
  }

  /**
   * Closes abruptly: every stream is destroyed at once (with `err`, whose
   * `appCode` becomes their reset code), then a close with code 0 and
   * `err.message` as reason is sent.
   */
  destroy(err?: Error): void {
    if (this.#closeInfo !== undefined) return;
    for (const stream of this.#streams.values()) stream.destroy(err);
    void this.close({ code: 0, reason: err?.message.slice(0, 200) ?? '' });
  }

  /** @internal */
  _onEstablished(): boolean {
    try {
      this.#info = this.socket._endpoint.connectionInfo(this.handle);
    } catch {
      // Established and freed within one batch of events: its CLOSED
      // event follows, and there is nothing to announce.
      return false;
    }
    this.#lastRemote = toAddress(this.#info.remoteAddress, this.#info.remotePort);
    debug('connection %d (%s) established, alpn %s', this.handle, this.side, this.#info.alpn);
    const handshake = this.#handshake;
    this.#handshake = undefined;
    if (handshake) {
      handshake.resolve(this);
      this._handOut();
    }
    this.emit('handshake');
    return true;
  }

  /** @internal A resuming client may send 0-RTT data: `connect()` resolves now. */
  _onEarlyData(): void {
    debug('connection %d sends 0-RTT data', this.handle);
    const handshake = this.#handshake;
    this.#handshake = undefined;
    if (handshake) {
      handshake.resolve(this);
      this._handOut();
    }
  }

  /** @internal */
  _onSessionTicket(): void {
    const ticket = this.sessionTicket;
    if (ticket) this.emit('sessionTicket', ticket);
  }

  /** @internal */
  _onVerify(): void {
    const verify = this.#tls.verify;
    if (verify) runVerifyHook(this.socket, this.handle, verify);
    else this.socket._endpoint.setVerdict(this.handle, null);
  }

  /** @internal */
  _onQlog(chunk: Buffer): void {
    if (this.#tls.qlog !== undefined) writeQlog(this.#tls.qlog, this.side, this.handle, chunk);
  }

  /** @internal */
  _onKeylog(lines: Buffer): void {
    if (this.#tls.keylog !== undefined) writeKeylog(this.#tls.keylog, lines);
  }

  /** @internal */
  _onClosed(native: ReturnType<QuicSocket['_endpoint']['takeCloseInfo']>): void {
    const info: CloseInfo = native
      ? toCloseInfo(native)
      : { code: 0, reason: '', remote: false, application: false, error: new QuicError('ERR_QUIC_CONNECTION_LOST', 'The connection ended') };
    this.#closeInfo = info;
    this.socket._removeConnection(this.handle);
    debug('connection %d (%s) closed: %s', this.handle, this.side, info.error?.code ?? 'clean');
    const failure = info.error ?? connectionClosed();
    for (const waiter of this.#waiters.splice(0)) waiter.reject(failure);
    for (const stream of this.#streams.values()) stream._onConnectionClosed(info);
    for (const reader of this.#datagramReaders) reader.end();
    this.#datagramReaders.clear();
    const handshake = this.#handshake;
    this.#handshake = undefined;
    handshake?.reject(info.error ?? new QuicError('ERR_QUIC_CONNECTION_CLOSED', 'The connection closed during the handshake'));
    const registration = this.#relayRegistration;
    this.#relayRegistration = undefined;
    registration?.reject(failure);
    this.#resolveClosed(info);
    this.emit('close', info);
    if (this.#ownsSocket) void this.socket.close();
  }

  /**
   * @internal The application has been handed this connection (`connect()`
   * resolved, or the server's 'connection' event or iterator gave it out).
   * Peer streams held until now are offered once the application has had a
   * turn to listen for 'stream' (its reactions to the hand-out, promise
   * continuations included, all run before the next `setImmediate`).
   */
  _handOut(): void {
    if (this.#releaseScheduled || this.#held === undefined) return;
    this.#releaseScheduled = true;
    setImmediate(() => {
      const held = this.#held ?? [];
      this.#held = undefined;
      for (const stream of held) if (!stream.destroyed) this.#offer(stream);
    });
  }

  /**
   * Whether anybody takes peer-opened streams now: any 'stream' listener
   * counts, the application's or a protocol layer's (WebTransport).
   */
  #acceptsStreams(): boolean {
    return this.listenerCount('stream') > 0;
  }

  /** Hands a peer-opened stream to the 'stream' listeners, or refuses it. */
  #offer(stream: QuicStream): void {
    if (!this.#acceptsStreams()) {
      this.#streamsRefused++;
      stream._refuse();
      return;
    }
    stream._handOut();
    this.emit('stream', stream);
  }

  /**
   * Applies an event row to stream `id`, announcing a peer-opened one on
   * first sight: offered to 'stream' listeners, held until the application
   * has the connection, or refused (STOP_SENDING and RESET_STREAM with
   * STREAM_REFUSED) when nobody listens, so that no object the application
   * never saw can fail. The row is applied before the 'stream' event, so a
   * throwing listener cannot lose it.
   */
  #incoming(id: number, apply: (stream: QuicStream) => void): void {
    const known = this.#streams.get(id);
    if (known !== undefined) {
      apply(known);
      return;
    }
    if (!this.#isRemote(id) || !this.#isNewRemote(id)) return;
    const bidirectional = (id & 2) === 0;
    if (this.#held === undefined && !this.#acceptsStreams()) {
      this.#streamsRefused++;
      this._streamShutdown(id, false, STREAM_REFUSED);
      if (bidirectional) this._streamShutdown(id, true, STREAM_REFUSED);
      return;
    }
    const stream = this.#addStream(id, 'remote', bidirectional);
    apply(stream);
    if (this.#held !== undefined) this.#held.push(stream);
    else this.#offer(stream);
  }

  /**
   * @internal A peer stream that a capability routes itself (WebTransport
   * announces its streams to sessions): tracked, but not a `'stream'` event.
   */
  _adoptRemoteStream(id: number): QuicStream | undefined {
    if (this.#streams.has(id) || !this.#isRemote(id) || !this.#isNewRemote(id)) return undefined;
    const stream = this.#addStream(id, 'remote', (id & 2) === 0);
    // The capability takes it: it is handed out (or refused) there.
    stream._handOut();
    return stream;
  }

  /** @internal */
  _onStreamData(id: number, data: Buffer, fin: boolean): void {
    const known = this.#streams.get(id);
    if (known !== undefined) known._onData(data, fin); // the hot path: no closure
    else this.#incoming(id, (s) => s._onData(data, fin));
  }

  /** Whether a peer stream ID is seen for the first time (a closed one never is). */
  #isNewRemote(id: number): boolean {
    const kind = (id & 2) >> 1;
    const next = this.#nextRemote[kind];
    if (id < next) return this.#skippedRemote.delete(id);
    // Peers open streams in order, but frames can overtake each other; the
    // peer's stream limit bounds how many IDs can be skipped.
    for (let skipped = next; skipped < id; skipped += 4) this.#skippedRemote.add(skipped);
    this.#nextRemote[kind] = id + 4;
    return true;
  }

  #isRemote(id: number): boolean {
    const initiatedByServer = (id & 1) === 1;
    return initiatedByServer === (this.side === 'client');
  }

  /** @internal */
  _onStreamReset(id: number, code: number): void {
    this.#incoming(id, (s) => s._onReset(code));
  }

  /** @internal */
  _onStreamStopped(id: number, code: number): void {
    this.#incoming(id, (s) => s._onStopped(code));
  }

  /** @internal */
  _onStreamWritable(id: number): void {
    this.#streams.get(id)?._onWritable();
  }

  /** @internal */
  _onDatagram(data: Buffer): void {
    if (this.#datagramReaders.size > 0) for (const reader of this.#datagramReaders) reader.push(data);
    this.emit('datagram', data);
  }

  /** @internal Serves waiting `openStream` calls in order. */
  _onStreamCredit(): void {
    while (this.#waiters.length > 0) {
      const waiter = this.#waiters[0];
      const stream = this.#tryOpen(waiter.bidirectional);
      if (!stream) return;
      this.#waiters.shift();
      waiter.resolve(stream);
    }
  }

  /** @internal Native calls for streams. */
  _streamWrite(id: number, data: Buffer, fin: boolean): number {
    const n = callNative(() => this.#fast().streamWrite(this.handle, id, data, fin));
    this.socket._schedule();
    return n;
  }

  /** @internal */
  _streamShutdown(id: number, write: boolean, code: number): void {
    if (this.#closeInfo !== undefined || !this.#command(() => this.socket._endpoint.streamShutdown(this.handle, id, write, code))) return;
    this.socket._schedule();
  }

  /** @internal */
  _streamSetPaused(id: number, paused: boolean): void {
    if (this.#closeInfo !== undefined || !this.#command(() => this.socket._endpoint.streamSetPaused(this.handle, id, paused))) return;
    if (!paused) this.socket._schedule();
  }

  /**
   * A stream command a stream issues on its own (while events are being
   * dispatched, say); false when the connection already ended natively in
   * the batch being dispatched (a peer's RESET_STREAM and CONNECTION_CLOSE
   * arriving together): its CLOSED event follows and settles the stream.
   */
  #command(fn: () => void): boolean {
    try {
      callNative(fn);
      return true;
    } catch (err) {
      if ((err as QuicError).code === 'ERR_QUIC_CONNECTION_CLOSED') return false;
      throw err;
    }
  }

  /** @internal */
  _streamSetPriority(id: number, urgency: number, incremental: boolean): void {
    callNative(() => this.#endpoint().streamSetPriority(this.handle, id, urgency, incremental));
    this.socket._schedule();
  }

  /**
   * Streams still tracked, in JavaScript and in the native layer (0 native
   * once the connection is gone). For leak checks and debugging.
   */
  streamCounts(): {
    /** Streams the connection object still tracks. */
    js: number;
    /** Streams with native state (0 once the connection is gone). */
    native: number;
  } {
    const native = this.#closeInfo === undefined ? callNative(() => this.socket._endpoint.streamCount(this.handle)) : 0;
    return { js: this.#streams.size, native };
  }
}
