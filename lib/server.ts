// QuicServer: accepts connections on a QuicSocket. A connection is announced
// ('connection', async iteration) only after its handshake succeeded.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { writeKeylog, writeQlog } from './keylog';
import { peerInfo, runVerifyHook } from './tls/peer-verification';
import { QuicConnection } from './connection';
import { debug } from './debug';
import { callNative, QuicError } from './errors';
import { serverConfig } from './options';
import type { QuicSocket } from './socket';
import type { Address, PeerInfo, ServerOptions, TlsOptions } from './types';
import { DEFAULT_MAX_PEERS, RendezvousService } from './p2p/rendezvous';
import { validateObject } from './validate';
import { acceptWebTransport, closeServerConnection } from './webtransport/server';
import { webTransportOptions } from './webtransport/options';

const DEFAULT_MAX_FLOWS = 256;
const DEFAULT_MAX_FLOW_RATE = 16 * 1024 * 1024;

/** What a relay's `allow` policy learns about one side of a flow. */
function relayPeer(conn: QuicConnection, options: ServerOptions): PeerInfo {
  return peerInfo(conn.peerCertificates, options.verifyPeer === true, conn.remoteAddress);
}

/**
 * Accepts QUIC connections on a {@link QuicSocket} (made by `listen()` or
 * {@link QuicSocket.listen}). A connection is announced only after its
 * handshake and every peer check (CA, `verify` hook) succeeded, as the
 * `'connection'` event and through async iteration
 * (`for await (const conn of server)`; connections arriving while nobody
 * listens or iterates are queued for the iterator).
 *
 * Events: {@link QuicServerEvents} (`'connection'`, `'session'` for
 * WebTransport, `'close'`).
 *
 * {@includeCode ../examples/mutual-tls.mjs#mutual-tls}
 */
export class QuicServer extends EventEmitter implements AsyncIterable<QuicConnection> {
  /** The socket this server listens on. */
  readonly socket: QuicSocket;
  readonly #ownsSocket: boolean;
  readonly #connections = new Set<QuicConnection>();
  /** Protects session tickets; stable for the server's life so that tickets survive `setSecureContext`. */
  readonly #ticketKey = randomBytes(48);
  #options: ServerOptions;
  #closing: Promise<void> | undefined;
  readonly #queue: QuicConnection[] = [];
  readonly #readers: Array<(r: IteratorResult<QuicConnection>) => void> = [];
  /** @internal Set when this server is a rendezvous (`listen({ rendezvous })`). */
  _rendezvous: RendezvousService | undefined;

  /** @internal */
  constructor(socket: QuicSocket, options: ServerOptions, ownsSocket: boolean) {
    super();
    this.socket = socket;
    this.#ownsSocket = ownsSocket;
    this.#options = options;
    this.#listen();
  }

  #listen(): void {
    const config = serverConfig(this.#options, this.#ticketKey);
    callNative(() => this.socket._endpoint.listen(config, this.#options.maxConnections));
    const relay = this.#options.relay;
    const limits = relay === undefined || relay === false ? null : relay === true ? {} : relay;
    const rendezvous = this.#options.rendezvous;
    if (rendezvous !== undefined && rendezvous !== false) {
      const hooks = { allow: rendezvous === true ? undefined : rendezvous.allow, maxPeers: (rendezvous === true ? undefined : rendezvous.maxPeers) ?? DEFAULT_MAX_PEERS, verifyPeer: this.#options.verifyPeer === true };
      if (this._rendezvous) this._rendezvous.configure(hooks);
      else this._rendezvous = new RendezvousService(hooks);
    }
    this.socket._endpoint.enableRendezvous(this._rendezvous !== undefined);
    callNative(() =>
      this.socket._endpoint.enableRelay(
        limits && {
          maxFlows: limits.maxFlows ?? DEFAULT_MAX_FLOWS,
          maxFlowRate: limits.maxFlowRate ?? DEFAULT_MAX_FLOW_RATE,
          policy: typeof limits.allow === 'function',
        },
      ),
    );
  }

  /**
   * A relay's counters ({@link ServerOptions.relay}): `flows` relayed now and
   * `peers` registered through {@link QuicConnection.acceptRelayed}. Both 0
   * on a server that is not a relay.
   */
  relayStats(): {
    /** Flows relayed now. */
    flows: number;
    /** Peers registered now. */
    peers: number;
  } {
    return this.socket._endpoint.relayCounts();
  }

  /**
   * A rendezvous's counters ({@link ServerOptions.rendezvous}): `peers`
   * registered now through {@link QuicConnection.register}. 0 on a server
   * that is not a rendezvous.
   */
  rendezvousStats(): {
    /** Peers registered now. */
    peers: number;
  } {
    return { peers: this._rendezvous?.peerCount ?? 0 };
  }

  /** @internal A new relayed flow from connection `from` to `to` awaits the `allow` policy. */
  _relayRequest(from: number, key: number, to: number): void {
    const relay = this.#options.relay;
    const allow = typeof relay === 'object' ? relay.allow : undefined;
    const dialer = this.socket._connection(from);
    const target = this.socket._connection(to);
    const decide = (allowed: boolean): void => {
      debug('relay flow %d from connection %d to %d: %s', key, from, to, allowed ? 'allowed' : 'denied');
      this.socket._endpoint.relayVerdict(key, allowed);
      this.socket._schedule();
    };
    if (!allow || !dialer || !target) return decide(false);
    let result: boolean | Promise<boolean>;
    try {
      result = allow(relayPeer(dialer, this.#options), relayPeer(target, this.#options));
    } catch {
      return decide(false);
    }
    if (typeof result === 'object' && typeof result.then === 'function') {
      result.then(
        (v) => decide(v === true),
        () => decide(false),
      );
      return;
    }
    decide(result === true);
  }

  /** The local address the server listens on (its socket's). */
  get address(): Address {
    return this.socket.address;
  }

  /**
   * Replaces TLS settings (e.g. a renewed certificate) for new connections;
   * existing ones keep theirs, and session tickets issued before stay valid.
   * Throws like `listen()` for unusable settings (the old ones then stay),
   * and `ERR_QUIC_SOCKET_CLOSED` once the server is closed.
   */
  setSecureContext(tls: Partial<TlsOptions>): void {
    validateObject(tls, 'options');
    if (this.#closing) throw new QuicError('ERR_QUIC_SOCKET_CLOSED', 'The server is closed');
    const previous = this.#options;
    this.#options = { ...previous, ...tls };
    try {
      this.#listen();
    } catch (err) {
      this.#options = previous;
      throw err;
    }
  }

  /** @internal A handshake completed on a connection nobody knew yet. */
  _accept(handle: number): void {
    if (this.#closing) {
      // Stopped accepting: the peer must not believe it is connected.
      this.socket._refuseConnection(handle);
      return;
    }
    const conn = new QuicConnection(this.socket, handle, 'server', false, this.#options);
    if (!conn._onEstablished()) return; // it ended at once: nothing to announce
    this.socket._addConnection(conn);
    this.#connections.add(conn);
    conn.once('close', () => {
      this.#connections.delete(conn);
      // A connection nobody took from the queue is of no use once closed.
      const queued = this.#queue.indexOf(conn);
      if (queued >= 0) this.#queue.splice(queued, 1);
    });
    // HTTP/3 connections of a WebTransport server bring 'session' events
    // instead; the WebTransport layer has the connection (and its streams).
    if (acceptWebTransport(this, conn, webTransportOptions(this.#options.webTransport))) {
      conn._handOut();
      return;
    }
    debug('server accepted connection %d from %s:%d', handle, conn.remoteAddress.address, conn.remoteAddress.port);
    const reader = this.#readers.shift();
    if (reader) {
      reader({ value: conn, done: false });
      conn._handOut();
    } else if (this.listenerCount('connection') === 0) {
      this.#queue.push(conn);
    }
    if (this.listenerCount('connection') > 0) conn._handOut();
    try {
      this.emit('connection', conn);
    } finally {
      // After the application has set the connection up: it may be the
      // direct successor of a relayed one ('upgrade').
      this.socket._p2p.onAccepted(conn);
    }
  }

  /** @internal A client's certificate awaits the `verify` hook. */
  _verify(handle: number): void {
    const verify = this.#options.verify;
    if (verify) runVerifyHook(this.socket, handle, verify);
    else this.socket._endpoint.setVerdict(handle, null);
  }

  /** @internal Key-log lines of a connection still in its handshake. */
  _keylog(lines: Buffer): void {
    if (this.#options.keylog !== undefined) writeKeylog(this.#options.keylog, lines);
  }

  /** @internal qlog of a connection still in its handshake. */
  _qlog(handle: number, chunk: Buffer): void {
    if (this.#options.qlog !== undefined) writeQlog(this.#options.qlog, 'server', handle, chunk);
  }

  /**
   * Stops accepting, closes this server's connections gracefully (code 0),
   * ends pending iterations, and closes the socket if `listen()` made it.
   * Emits `'close'`. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.socket._endpoint.stopListening();
    this._rendezvous?.close();
    this.socket._serverClosed();
    for (const reader of this.#readers.splice(0)) reader({ value: undefined, done: true });
    await Promise.all([...this.#connections].map(closeServerConnection));
    if (this.#ownsSocket) await this.socket.close();
    this.emit('close');
  }

  /** Accepted connections in arrival order; the iteration ends when the server closes. */
  [Symbol.asyncIterator](): AsyncIterator<QuicConnection> {
    return {
      next: (): Promise<IteratorResult<QuicConnection>> => {
        const queued = this.#queue.shift();
        if (queued) {
          queued._handOut();
          return Promise.resolve({ value: queued, done: false });
        }
        if (this.#closing) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#readers.push(resolve));
      },
      return: (): Promise<IteratorResult<QuicConnection>> => Promise.resolve({ value: undefined, done: true }),
    };
  }
}
