// QuicServer: accepts connections on a QuicSocket. A connection is announced
// ('connection', async iteration) only after its handshake succeeded.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { writeKeylog, writeQlog } from './keylog';
import { runVerifyHook } from './peer-verification';
import { QuicConnection } from './connection';
import { debug } from './debug';
import { callNative, QuicError } from './errors';
import { serverConfig } from './options';
import type { QuicSocket } from './socket';
import type { Address, ServerOptions, TlsOptions } from './types';
import { validateObject } from './validate';

export class QuicServer extends EventEmitter implements AsyncIterable<QuicConnection> {
  readonly socket: QuicSocket;
  readonly #ownsSocket: boolean;
  readonly #connections = new Set<QuicConnection>();
  /** Protects session tickets; stable for the server's life so that tickets survive `setSecureContext`. */
  readonly #ticketKey = randomBytes(48);
  #options: ServerOptions;
  #closing: Promise<void> | undefined;
  readonly #queue: QuicConnection[] = [];
  readonly #readers: Array<(r: IteratorResult<QuicConnection>) => void> = [];

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
  }

  get address(): Address {
    return this.socket.address;
  }

  /** Replaces TLS settings (e.g. a renewed certificate) for new connections. */
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
    if (this.#closing) return;
    const conn = new QuicConnection(this.socket, handle, 'server', false, this.#options);
    this.socket._addConnection(conn);
    this.#connections.add(conn);
    conn.once('close', () => this.#connections.delete(conn));
    conn._onEstablished();
    debug('server accepted connection %d from %s:%d', handle, conn.remoteAddress.address, conn.remoteAddress.port);
    const reader = this.#readers.shift();
    if (reader) reader({ value: conn, done: false });
    else if (this.listenerCount('connection') === 0) this.#queue.push(conn);
    this.emit('connection', conn);
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

  /** Stops accepting and closes this server's connections gracefully. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.socket._endpoint.stopListening();
    this.socket._serverClosed();
    for (const reader of this.#readers.splice(0)) reader({ value: undefined, done: true });
    await Promise.all([...this.#connections].map((c) => c.close()));
    if (this.#ownsSocket) await this.socket.close();
    this.emit('close');
  }

  [Symbol.asyncIterator](): AsyncIterator<QuicConnection> {
    return {
      next: (): Promise<IteratorResult<QuicConnection>> => {
        const queued = this.#queue.shift();
        if (queued) return Promise.resolve({ value: queued, done: false });
        if (this.#closing) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#readers.push(resolve));
      },
      return: (): Promise<IteratorResult<QuicConnection>> => Promise.resolve({ value: undefined, done: true }),
    };
  }
}
