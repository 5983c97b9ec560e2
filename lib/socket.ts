// QuicSocket: one UDP socket owned by JavaScript, carrying any number of QUIC
// connections (a server's and outgoing ones) through one native endpoint.
//
// The driver loop, once per event-loop turn (see src/endpoint.rs):
//   receive (each 'message' → endpoint.recv) → poll events → flush packets →
//   re-arm the one timer. On Linux a lone datagram is driven at once, inside
//   its 'message' callback (see `#onMessage`).
import dgram from 'node:dgram';
import dns from 'node:dns';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import native from './binding';
import { DestinationCache, toAddress } from './address';
import { QuicConnection } from './connection';
import { debug } from './debug';
import { callNative, invalidArgValue, QuicError } from './errors';
import { dispatchEvents } from './dispatch';
import { RECORD_STRIDE } from './inbox';
import { clientConfig } from './options';
import { QuicServer } from './server';
import type { Address, BindOptions, ConnectOptions, DialOptions, RelayedConnectOptions, ServerOptions } from './types';
import { validateBoolean, validateInteger, validateOptionalObject, validatePort, validateRemotePort, validateString } from './validate';
import { isPunch, PUNCH_PACKET, punchToken } from './p2p/punch';
import { P2pAgent } from './p2p/agent';
import { dial } from './p2p/dial';
import { validateDialOptions } from './p2p/validation';
import { bindingRequest, isStun, parseBindingResponse, transactionOf } from './p2p/stun';
import { validateConnectOptions, validateServerOptions } from './entry-validation';
import { BatchSender } from './io/batch-send';
import { DatagramBatch } from './datagram-batch';
import { BatchReceiver, type ReceivedDatagram } from './io/batch-recv';
import { TtlSender } from './io/ttl-send';
import { fastCalls, RECV_QUEUED, type FastCalls } from './fast-calls';

type NativeEndpoint = InstanceType<typeof native.NativeEndpoint>;

const OUT_BYTES = 256 * 1024;
const META_ROWS = 192;
const META_STRIDE = 8;
/** Where `flush` reports in `meta`, after its rows: `[sent, pending, timeout µs]` (src/fast_calls.rs, FLUSH_STATUS). */
const STATUS = META_ROWS * META_STRIDE;
/** `timeout` in the status row when no deadline is armed. */
const NO_TIMEOUT = 0xffffffff;
/** More than any packet `flush` writes (src/transmit.rs, MAX_SEND_UDP_PAYLOAD). */
const ROOM_TO_SPARE = 64 * 1024;
const INBOX_BYTES = 1024 * 1024;
const RECORD_ROWS = 1024;
/** The last number of `records`: whether `pollEvents` left events waiting (1) or not (0). */
const MORE = RECORD_ROWS * RECORD_STRIDE;

/**
 * Batch buffers shared by every socket of this thread: they are only used
 * synchronously inside one socket's drive (payloads are copied out before the
 * next poll), so one set serves all sockets. `out` is replaced whenever the
 * kernel queued a send that still points into it.
 */
const shared = {
  out: Buffer.allocUnsafe(OUT_BYTES),
  meta: new Uint32Array((META_ROWS + 1) * META_STRIDE),
  inbox: Buffer.allocUnsafe(INBOX_BYTES),
  records: new Float64Array(RECORD_ROWS * RECORD_STRIDE + 1),
};
/** Bounds on one drive, so a flood can never pin the event loop. */
const MAX_BATCHES = 1024;
/** What `#receive` learned about the socket's queue (see `#onMessage`). */
const ALONE = 0;
const QUEUED = 1;
const NOT_ASKED = 2;
const NOT_QUIC = 3;
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/** QUIC transport error CONNECTION_REFUSED (RFC 9000 §20.1). */
const CONNECTION_REFUSED = 0x2;

/** Resolves IP literals synchronously so that dgram sends right away. */
function lookup(hostname: string, options: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  const family = isIP(hostname);
  if (family !== 0) {
    callback(null, hostname, family);
    return;
  }
  dns.lookup(hostname, options as dns.LookupOptions, callback as never);
}

/**
 * One UDP socket, owned by JavaScript (a `dgram` socket), carrying any number
 * of QUIC connections: at most one server's and any number of outgoing ones.
 * A peer-to-peer node keeps one, so that one NAT binding carries its server,
 * its outgoing connections, hole punching ({@link punch}), address discovery
 * ({@link stun}) and raw datagrams ({@link send}). `listen()` and `connect()`
 * make one for you.
 *
 * Events: {@link QuicSocketEvents} (`'message'`, `'punch'`, `'error'`, `'close'`).
 *
 * {@includeCode ../examples/p2p.mjs#p2p}
 */
export class QuicSocket extends EventEmitter {
  readonly #udp: dgram.Socket;
  readonly #endpoint: NativeEndpoint;
  readonly #fast: FastCalls;
  readonly #connections = new Map<number, QuicConnection>();
  readonly #destinations = new DestinationCache();
  readonly #batch: BatchSender;
  readonly #receiver: BatchReceiver;
  readonly #datagrams = new DatagramBatch();
  /** Large stream data of the poll being dispatched (see `_chunk`). */
  #chunks: Buffer[] | undefined;
  /**
   * @internal Moves on whenever a connection's datagram queue or path may
   * have changed natively (see lib/datagram-batch.ts).
   */
  _sendEpoch = 0;
  /** Datagrams dgram delivered this turn (see `#onMessage`). */
  #turnMessages = 0;
  readonly #ttl: TtlSender;
  #p2p: P2pAgent | undefined;
  #server: QuicServer | undefined;
  #driveScheduled = false;
  #flushQueued = false;
  #flushedEarly = false;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #closing: Promise<void> | undefined;
  readonly #stunWaiters = new Map<string, (mapped: Address) => void>();
  #closed = false;
  /** The local address the socket is bound to (with the port chosen when 0 was asked for). */
  readonly address: Address;

  /**
   * Binds a UDP socket. Default address `'::'` (dual-stack IPv4 and IPv6),
   * port 0 (a free one). Bad options throw synchronously
   * (`ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE`); a failed bind (e.g.
   * `EADDRINUSE`) rejects with Node's error.
   */
  static override bind(opts: BindOptions = {}): Promise<QuicSocket> {
    validateOptionalObject(opts, 'options');
    const address = opts.address ?? '::';
    validateString(address, 'options.address');
    validatePort(opts.port, 'options.port', true);
    validateBoolean(opts.ipv6Only, 'options.ipv6Only');
    return QuicSocket.#bind(address, opts.port ?? 0, opts.ipv6Only ?? false);
  }

  static async #bind(address: string, port: number, ipv6Only: boolean): Promise<QuicSocket> {
    let ip = address;
    if (isIP(address) === 0) ip = (await dns.promises.lookup(address)).address;
    const type = isIP(ip) === 6 ? 'udp6' : 'udp4';
    const udp = dgram.createSocket({ type, ipv6Only, lookup: lookup as never });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, ip, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    for (const set of [udp.setRecvBufferSize, udp.setSendBufferSize]) {
      try {
        set.call(udp, SOCKET_BUFFER_BYTES);
      } catch {
        // The OS may cap or refuse larger buffers; the defaults still work.
      }
    }
    return new QuicSocket(udp);
  }

  private constructor(udp: dgram.Socket) {
    super();
    this.#udp = udp;
    const local = udp.address();
    this.address = toAddress(local.address, local.port);
    this.#endpoint = callNative(() => new native.NativeEndpoint(local.address, local.port));
    this.#fast = fastCalls(this.#endpoint);
    this.#batch = new BatchSender(udp, local.family === 'IPv6');
    this.#receiver = new BatchReceiver(udp, this.#endpoint, (err) => this.#onError(err));
    this.#ttl = new TtlSender(udp, local.family === 'IPv6');
    udp.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo));
    udp.on('error', (err) => this.#onError(err));
    debug('socket bound to %s:%d', local.address, local.port);
  }

  /**
   * Starts a server on this socket. Throws `ERR_QUIC_SERVER_EXISTS` if the
   * socket already has one, `ERR_QUIC_SOCKET_CLOSED` if it is closed, and
   * `ERR_QUIC_INVALID_KEY` / `ERR_QUIC_INVALID_CERTIFICATE` for unusable
   * credentials (a server needs `key` and `cert`).
   */
  listen(opts: ServerOptions): QuicServer {
    validateServerOptions(opts, 'options');
    return this._listen(opts, false);
  }

  /** @internal */
  _listen(opts: ServerOptions, ownsSocket: boolean): QuicServer {
    this.#assertOpen();
    if (this.#server) throw new QuicError('ERR_QUIC_SERVER_EXISTS', 'This socket already has a server');
    const server = new QuicServer(this, opts, ownsSocket);
    this.#server = server;
    return server;
  }

  /**
   * Opens an outgoing connection on this socket: to `host:port`, or through a
   * relay (`via` + `peer`, see {@link RelayedConnectOptions}). Resolves once
   * the handshake completed and the server passed every check (with 0-RTT:
   * once early data may be sent). Rejects with the handshake's error:
   * `ERR_QUIC_HANDSHAKE_TIMEOUT`, `ERR_QUIC_CERT_*`, `ERR_QUIC_ALPN_MISMATCH`,
   * `ERR_QUIC_TLS_HANDSHAKE_FAILED`, `ABORT_ERR`…
   */
  connect(opts: ConnectOptions): Promise<QuicConnection> {
    validateConnectOptions(opts, 'options');
    return this._connect(opts, false);
  }

  /**
   * Reaches the peer whose leaf certificate has the SHA-256 fingerprint
   * `opts.peer`, through the rendezvous peers `opts.via` (connections of this
   * socket), ICE-style (RFC 8445 terms): host and server-reflexive
   * candidates, low-TTL punches, then punches on the rendezvous's go; a
   * direct connection where the NATs allow, else one relayed through the
   * rendezvous, upgraded later when a direct path opens (`docs/peer-to-peer.md`,
   * "Reaching peers by key"). Resolves with the connection ({@link QuicConnection.path} says
   * which). Rejects with `ERR_QUIC_PEER_UNKNOWN`, `ERR_QUIC_DIAL_REFUSED`,
   * `ERR_QUIC_RENDEZVOUS_GONE`, `ERR_QUIC_RENDEZVOUS_UNAVAILABLE`,
   * `ERR_QUIC_DIAL_FAILED` or `ABORT_ERR`; bad options throw synchronously.
   */
  dial(opts: DialOptions): Promise<QuicConnection> {
    validateDialOptions(this, opts, 'options');
    this.#assertOpen();
    opts.signal?.throwIfAborted();
    return dial(this, this._p2p, opts);
  }

  /** @internal This socket's peer-to-peer agent (registrations, dials, punch requests). */
  get _p2p(): P2pAgent {
    this.#p2p ??= new P2pAgent(this);
    return this.#p2p;
  }

  /** @internal One punch packet (of a dial), with a TTL if given; false when it could not be sent. */
  _sendPunch(packet: Buffer, to: Address, ttl?: number): boolean {
    if (this.#closed || this.#closing) return false;
    const host = to.address;
    if (to.family === 'IPv6' && this.address.family === 'IPv4') return false;
    try {
      if (ttl === undefined) this.#udp.send(packet, to.port, this.#toSocketFamily(host));
      else if (this.#ttl.supports(host)) this.#ttl.send(packet, to.port, host, ttl);
      else return false;
      return true;
    } catch (err) {
      debug('punch to %s:%d not sent: %s', host, to.port, (err as Error).message);
      return false;
    }
  }

  /**
   * @internal `webTransport`: speak HTTP/3 and WebTransport if the server
   * picks `h3` (the W3C client). `pin`: the server's leaf certificate
   * fingerprint replaces name verification (a dial by key).
   */
  async _connect(opts: ConnectOptions, ownsSocket: boolean, webTransport = false, pin?: string): Promise<QuicConnection> {
    this.#assertOpen();
    opts.signal?.throwIfAborted();
    if (opts.via !== undefined) return this.#connectRelayed(opts);
    let ip = opts.host;
    if (isIP(ip) === 0) ip = (await dns.promises.lookup(opts.host, { family: this.address.family === 'IPv4' ? 4 : 0 })).address;
    // A dual-stack socket reaches IPv4 peers through mapped addresses.
    if (isIP(ip) === 4 && this.address.family === 'IPv6') ip = `::ffff:${ip}`;
    // SNI carries names only; the certificate must name `serverName`, else
    // the host as given (a name or an IP address).
    const serverName = opts.serverName ?? (isIP(opts.host) === 0 ? opts.host : undefined);
    const verifyName = serverName ?? opts.host;
    const ticket = opts.sessionTicket === undefined ? undefined : Buffer.from(opts.sessionTicket);
    const config = clientConfig(opts, webTransport);
    this.#assertOpen();
    const id = callNative(() =>
      pin === undefined
        ? this.#endpoint.connect(config, ip, opts.port, serverName, verifyName, ticket)
        : this.#endpoint.connectPinned(config, ip, opts.port, pin, opts.serverName, ticket),
    );
    const conn = new QuicConnection(this, id, 'client', ownsSocket, opts);
    this.#connections.set(id, conn);
    this._schedule();
    return conn._handshake(opts.signal);
  }

  /** A connection through the relay at the other end of `opts.via` (see docs/peer-to-peer.md, "Relayed connections"). */
  #connectRelayed(opts: RelayedConnectOptions): Promise<QuicConnection> {
    const via = opts.via;
    if (via.socket !== this) throw invalidArgValue('options.via', 'must be a connection of this socket');
    if (via.destroyed) throw new QuicError('ERR_QUIC_CONNECTION_CLOSED', 'The connection to the relay is closed');
    const ticket = opts.sessionTicket === undefined ? undefined : Buffer.from(opts.sessionTicket);
    const config = clientConfig(opts);
    const peer = opts.peer.toLowerCase();
    const id = callNative(() => this.#endpoint.connectRelayed(config, via.handle, peer, opts.serverName, ticket));
    const conn = new QuicConnection(this, id, 'client', false, opts);
    this.#connections.set(id, conn);
    this._schedule();
    return conn._handshake(opts.signal);
  }

  /**
   * Sends a raw UDP datagram from this socket (not QUIC: the peer's socket
   * sees it as `'message'` if its first byte is below 0x40). Resolves once
   * handed to the OS; rejects with Node's send error.
   */
  send(data: Uint8Array, port: number, host: string): Promise<void> {
    if (!(data instanceof Uint8Array)) throw Object.assign(new TypeError('The "data" argument must be a Uint8Array'), { code: 'ERR_INVALID_ARG_TYPE' });
    validateRemotePort(port, 'port');
    validateString(host, 'host');
    this.#assertOpen();
    return new Promise((resolve, reject) => {
      this.#udp.send(data, port, this.#toSocketFamily(host), (err) => (err ? reject(err) : resolve()));
    });
  }

  #toSocketFamily(host: string): string {
    return isIP(host) === 4 && this.address.family === 'IPv6' ? `::ffff:${host}` : host;
  }

  #assertOpen(): void {
    if (this.#closed || this.#closing) throw new QuicError('ERR_QUIC_SOCKET_CLOSED', 'The socket is closed');
  }

  /**
   * Closes every connection gracefully (code 0; also those still in their
   * handshake), stops the server, then closes the UDP socket and emits
   * `'close'`. Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#endpoint.stopListening();
    this.#p2p?.close();
    const closing = Promise.all([...this.#connections.values()].map((c) => c.close()));
    // Connections still in their handshake are unknown to JavaScript; close
    // them too, and put every CONNECTION_CLOSE on the wire now.
    callNative(() => this.#endpoint.closeAll(0, ''));
    this.#drive();
    // Now, not once the application's reactions ran: the socket may be
    // closed before that.
    this.#flush();
    await closing;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    // Draining connections would wait for a timer that no longer runs.
    this.#endpoint.shutdown();
    await new Promise<void>((resolve) => this.#udp.close(() => resolve()));
    debug('socket %s:%d closed', this.address.address, this.address.port);
    this.emit('close');
  }

  /** Whether the socket is closed (set once {@link close} completed). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Live native connections, including draining ones (for leak checks). */
  get nativeConnectionCount(): number {
    return this.#endpoint.connectionCount();
  }

  /** @internal */
  get _endpoint(): NativeEndpoint {
    return this.#endpoint;
  }

  /** @internal The per-packet native calls (lib/fast-calls.ts). */
  get _fast(): FastCalls {
    return this.#fast;
  }

  /** @internal */
  get _server(): QuicServer | undefined {
    return this.#server;
  }

  /** @internal */
  _serverClosed(): void {
    this.#server = undefined;
  }

  /** @internal */
  _connection(id: number): QuicConnection | undefined {
    return this.#connections.get(id) ?? this.#departed.get(id);
  }

  /**
   * Connections that migrated to another socket while this one dispatched a
   * batch: the batch's remaining rows for them (stream data already taken
   * out of the native layer) must still reach them.
   */
  readonly #departed = new Map<number, QuicConnection>();

  /** @internal A connection moved to another socket (`migrate`). */
  _departConnection(id: number): void {
    const conn = this.#connections.get(id);
    this.#connections.delete(id);
    if (conn === undefined) return;
    this.#departed.set(id, conn);
    queueMicrotask(() => this.#departed.delete(id));
  }

  /** @internal */
  _addConnection(conn: QuicConnection): void {
    this.#connections.set(conn.handle, conn);
  }

  /**
   * @internal Closes a server connection that completed its handshake after
   * its server stopped accepting (CONNECTION_REFUSED), so that its peer does
   * not believe it is connected.
   */
  _refuseConnection(id: number): void {
    try {
      this.#endpoint.close(id, false, CONNECTION_REFUSED, 'the server is not accepting connections');
    } catch {
      // Already gone.
    }
    this._schedule();
  }

  /** @internal */
  _removeConnection(id: number): void {
    this.#connections.delete(id);
  }

  /**
   * @internal After a command (a write, a close, a verdict…): flushes soon;
   * any events the command brings are polled after the flush (see
   * `#finishDrive`), so a command alone costs no drive.
   */
  _schedule(): void {
    if (!this.#closed) this.#flushSoon();
  }

  /** Runs the driver loop (poll events, then flush) on this event-loop turn. */
  #scheduleDrive(): void {
    if (this.#driveScheduled || this.#closed) return;
    this.#driveScheduled = true;
    setImmediate(this.#drive);
  }

  #onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    // Linux fast path: the native `recv` also says whether more datagrams
    // wait on the socket. A lone datagram, as in request/response traffic,
    // has its events handled now, inside this callback (no drive later in
    // the turn); a queue is read natively at once, and the turn's drive
    // handles it all.
    const fd = this.#receiver.descriptor();
    const queue = this.#receive(msg, rinfo, fd);
    if (this.#closed || queue === NOT_QUIC) {
      this.#countMessage();
      return;
    }
    if (queue === ALONE && !this.#driveScheduled) {
      this.#flushedEarly = false;
      try {
        this.#pollEvents();
      } finally {
        this.#flushSoon();
      }
      return;
    }
    this.#scheduleDrive();
    if (queue === QUEUED) this.#drain();
    else if (queue === NOT_ASKED) this.#countMessage();
  }

  /**
   * Without an answer from the native `recv`: a second datagram in one turn
   * means a queue, so read the rest of it natively (again on later ones
   * while the turn's budget lasts). While the drains find datagrams (a
   * steady stream), the first one drains.
   */
  #countMessage(): void {
    if (++this.#turnMessages >= (this.#receiver.streaming ? 1 : 2) && !this.#closed) this.#drain();
  }

  /**
   * Hands one datagram to the endpoint, or to the application if it is not
   * QUIC. With a descriptor (`fd` >= 0), tells whether more datagrams wait
   * on it.
   */
  #receive(msg: Buffer, rinfo: dgram.RemoteInfo, fd: number): number {
    if (msg.length === 0) return NOT_QUIC;
    // RFC 9000 §17: every QUIC packet has the fixed bit (0x40) set; other
    // traffic (STUN, punches, app datagrams) is the application's.
    if ((msg[0] & 0x40) === 0) {
      this.#onOtherMessage(msg, toAddress(rinfo.address, rinfo.port));
      return NOT_QUIC;
    }
    const answer = this.#fast.recv(msg, rinfo.address, rinfo.port, fd);
    this._sendEpoch++;
    const outcome = answer & (RECV_QUEUED - 1);
    if (outcome !== 0) debug('datagram from %s:%d: outcome %d', rinfo.address, rinfo.port, outcome);
    return fd < 0 ? NOT_ASKED : (answer & RECV_QUEUED) !== 0 ? QUEUED : ALONE;
  }

  /**
   * @internal Queues natively the datagrams batched so far (before a flush,
   * a close or a migration), and starts a new send epoch.
   */
  _pushDatagrams(): void {
    this._sendEpoch++;
    callNative(() => this.#datagrams.push(this.#endpoint));
  }

  /**
   * @internal Large stream data of the poll being dispatched, by index: the
   * native layer hands it over in buffers of its own (src/events.rs,
   * `EventSink::with_chunks`), taken on first use.
   */
  _chunk(index: number): Buffer {
    this.#chunks ??= callNative(() => this.#endpoint.takeChunks());
    return this.#chunks[index];
  }

  /** @internal Batches a datagram of connection `handle`; false when the batch is full. */
  _batchDatagram(handle: number, datagram: Uint8Array): boolean {
    return this.#datagrams.add(handle, datagram);
  }

  /** Linux fast path (lib/io/batch-recv.ts); elsewhere every datagram is a 'message'. */
  #drain(): void {
    const others = this.#receiver.drain();
    if (others === undefined) return;
    // Many datagrams queued behind this one: a transfer, most likely. The
    // receiver takes the reads over (with GRO) while the turns find more.
    this.#receiver.own();
    this._sendEpoch++;
    this.#scheduleDrive();
    this.#onOtherMessages(others);
  }

  #onOtherMessages(others: readonly ReceivedDatagram[]): void {
    for (const d of others) this.#onOtherMessage(d.data, toAddress(d.address, d.port));
  }

  /** @internal Datagrams read by the native drain so far (tests). */
  get _batchReceived(): number {
    return this.#receiver.received;
  }

  /** @internal How often the receiver took the socket's reads over with GRO, and whether it has them now (tests). */
  get _readsOwned(): { takeovers: number; now: boolean } {
    return { takeovers: this.#receiver.takeovers, now: this.#receiver.owned };
  }

  #onOtherMessage(msg: Buffer, from: Address): void {
    // After close() the application hears nothing more from the socket
    // (QUIC packets still reach closing connections).
    if (this.#closing !== undefined) return;
    if (isPunch(msg)) {
      // Punches of a dial by key carry its token and are nquic's own.
      const token = punchToken(msg);
      if (token === undefined) this.emit('punch', from);
      else this.#p2p?.onPunch(token, from);
      return;
    }
    if (isStun(msg)) {
      const waiter = this.#stunWaiters.get(transactionOf(msg));
      const mapped = waiter ? parseBindingResponse(msg) : undefined;
      if (waiter && mapped) {
        waiter(mapped);
        return;
      }
    }
    this.emit('message', msg, from);
  }

  /**
   * Sends hole-punching packets to `host:port`: `count` (1-1000, default 5),
   * `interval` ms apart (default 20). With `ttl` (1-255) they carry that IP
   * TTL / hop limit: low enough to open this side's NAT without reaching the
   * peer's NAT (see `docs/peer-to-peer.md`, "Hole punching"). Resolves when the last one is
   * sent. Throws `ERR_QUIC_TTL_UNSUPPORTED` for `ttl` toward an IPv4 peer from
   * an IPv6 (dual-stack) socket, which cannot set the IPv4 TTL.
   */
  punch(port: number, host: string, opts: { count?: number; interval?: number; ttl?: number } = {}): Promise<void> {
    validateRemotePort(port, 'port');
    validateString(host, 'host');
    validateOptionalObject(opts, 'options');
    validateInteger(opts.count, 'options.count', 1, 1000);
    validateInteger(opts.interval, 'options.interval', 0, 60_000);
    validateInteger(opts.ttl, 'options.ttl', 1, 255);
    this.#assertOpen();
    if (opts.ttl !== undefined && !this.#ttl.supports(host)) {
      // Node sets only the IPv6 hop limit on an IPv6 socket; IPv4 packets
      // from it would silently keep the default TTL.
      throw new QuicError('ERR_QUIC_TTL_UNSUPPORTED', 'options.ttl cannot limit IPv4 packets from an IPv6 (dual-stack) socket here; bind the socket to an IPv4 address such as 0.0.0.0');
    }
    const count = opts.count ?? 5;
    const interval = opts.interval ?? 20;
    const target = this.#toSocketFamily(host);
    return (async () => {
      for (let i = 0; i < count && !this.#closed; i++) {
        if (i > 0 && interval > 0) await new Promise((r) => setTimeout(r, interval));
        if (this.#closed) return;
        if (opts.ttl === undefined) this.#udp.send(PUNCH_PACKET, port, target);
        else this.#ttl.send(PUNCH_PACKET, port, host, opts.ttl);
      }
    })();
  }

  /**
   * Asks a STUN server (a Binding request, RFC 8489 §3 / RFC 5389, sent from
   * this very socket) which address and port the socket's packets come from,
   * as seen from there (XOR-MAPPED-ADDRESS). Retransmits after 100, 200,
   * 400… ms (at most 1600 ms apart) until `timeout` (ms, default 3000), then
   * rejects with `ERR_QUIC_STUN_TIMEOUT`; `ERR_QUIC_SOCKET_CLOSED` if the
   * socket closes first.
   */
  stun(port: number, host: string, opts: { timeout?: number } = {}): Promise<Address> {
    validateRemotePort(port, 'port');
    validateString(host, 'host');
    validateOptionalObject(opts, 'options');
    validateInteger(opts.timeout, 'options.timeout', 1, 600_000);
    this.#assertOpen();
    const { packet, transaction } = bindingRequest();
    const target = this.#toSocketFamily(host);
    const deadline = Date.now() + (opts.timeout ?? 3000);
    return new Promise<Address>((resolve, reject) => {
      let delay = 100;
      let timer: NodeJS.Timeout | undefined;
      const finish = (err: Error | undefined, mapped?: Address): void => {
        clearTimeout(timer);
        this.#stunWaiters.delete(transaction);
        if (err) reject(err);
        else if (mapped) resolve(mapped);
      };
      this.#stunWaiters.set(transaction, (mapped) => finish(undefined, mapped));
      const attempt = (): void => {
        if (this.#closed) return finish(new QuicError('ERR_QUIC_SOCKET_CLOSED', 'The socket closed during the STUN request'));
        const left = deadline - Date.now();
        if (left <= 0) return finish(new QuicError('ERR_QUIC_STUN_TIMEOUT', `No STUN response from ${host}:${port}`));
        this.#udp.send(packet, port, target);
        timer = setTimeout(attempt, Math.min(delay, left));
        delay = Math.min(delay * 2, 1600);
      };
      attempt();
    });
  }

  #onError(err: Error): void {
    debug('socket error %s', err.message);
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  readonly #drive = (): void => {
    this.#driveScheduled = false;
    this._sendEpoch++;
    this.#turnMessages = 0;
    this.#receiver.newTurn();
    this.#flushedEarly = false;
    if (this.#closed) return;
    if (this.#receiver.owned) {
      // No 'message' wakes this socket while the receiver reads it: every
      // turn drains, until two in a row find the queue empty and the reads
      // go back to dgram (lib/io/batch-recv.ts).
      const others = this.#receiver.drainOwned();
      if (this.#receiver.owned) this.#scheduleDrive();
      if (others !== undefined) {
        this._sendEpoch++;
        this.#onOtherMessages(others);
      }
    }
    try {
      this.#pollEvents();
    } finally {
      this.#flushSoon();
    }
  };

  /**
   * Flushes once the application's reactions to this turn's events have
   * run: its process.nextTick callbacks (e.g. a pipe's end() after the last
   * write, so a stream's FIN leaves with its last data: see `stream_write`
   * in src/streams.rs) and its promise reactions (e.g. the next request of
   * an awaiting loop, so the ACK of the answer rides with it). A nextTick
   * queued from a microtask runs once the microtask queue is empty.
   */
  #flushSoon(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(this.#queueFlushTick);
  }

  readonly #queueFlushTick = (): void => {
    process.nextTick(this.#finishDrive);
  };

  readonly #finishDrive = (): void => {
    this.#flushQueued = false;
    if (this.#closed) return;
    let flushed = false;
    try {
      this.#flush();
      flushed = true;
    } finally {
      // Events found while sending (a close, say) are dispatched by another
      // drive, never from this callback, so that handlers always run as
      // they do for I/O (their process.nextTick work before promise
      // reactions). Every connection keeps its timer, whatever threw. The
      // last flush call reported both (its status row); after a throw, ask.
      if (!this.#closed) {
        const meta = shared.meta;
        if (flushed ? meta[STATUS + 1] !== 0 : this.#endpoint.hasPendingEvents()) this.#scheduleDrive();
        const timeout = meta[STATUS + 2];
        this.#armTimer(flushed ? (timeout === NO_TIMEOUT ? -1 : timeout / 1000) : this.#endpoint.nextTimeout());
      }
    }
  };

  #pollEvents(): void {
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const rows = callNative(() => this.#fast.pollEvents(shared.inbox, shared.records));
      if (rows === 0) return;
      this.#chunks = undefined;
      const more = shared.records[MORE] !== 0;
      dispatchEvents(this, shared.records, rows, shared.inbox);
      this.#chunks = undefined; // the streams have their chunks
      // Events the handlers bring are found by the flush that follows (its
      // status row), which drives again: no poll that finds nothing.
      if (!more) return;
    }
  }

  /**
   * @internal Sends what is ready once the current callbacks (pending
   * process.nextTick work such as other streams' ends, and promise
   * reactions) have run, without waiting for the turn's drive.
   */
  _flushSoon(): void {
    this.#flushSoon();
  }

  /**
   * @internal Sends now what a pending flush would send: a connection about
   * to close first sends what its last events left to send (a client's
   * handshake Finished when the application closes as soon as `connect()`
   * resolves), since a closed connection only sends CONNECTION_CLOSE.
   */
  _flushPending(): void {
    if (!this.#flushQueued || this.#flushedEarly || this.#closed) return;
    this.#flushedEarly = true; // once per drive: closing many connections flushes once
    this.#flush();
  }

  #flush(): void {
    this._pushDatagrams();
    const meta = shared.meta;
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const out = shared.out;
      const fd = this.#batch.descriptor();
      const packets = callNative(() => this.#fast.flush(out, meta, fd, this.#batch.flags));
      if (packets === 0) return;
      for (let i = this.#batch.sent(fd, meta[STATUS] | 0, out, meta, packets); i < packets; i++) {
        const row = i * META_STRIDE;
        this.#udp.send(out, meta[row], meta[row + 1], meta[row + 2], this.#destinations.ip(meta, row + 3));
      }
      // A send the kernel could not take at once still points into `out`;
      // give the next batch a fresh buffer instead of overwriting it.
      if (this.#udp.getSendQueueCount() > 0) shared.out = Buffer.allocUnsafe(OUT_BYTES);
      // `flush` stops early only when the batch is full (no room for another
      // packet): a batch with room to spare was everything.
      const last = (packets - 1) * META_STRIDE;
      if (packets < META_ROWS && meta[last] + meta[last + 1] <= OUT_BYTES - ROOM_TO_SPARE) return;
    }
  }

  /** Arms the timer for the earliest deadline, `ms` from now (-1: none). */
  #armTimer(ms: number): void {
    if (ms < 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
      return;
    }
    const at = performance.now() + ms;
    // A timer that fires early is harmless (nothing is due yet), so only
    // re-arm when the new deadline is sooner than the armed one.
    if (this.#timer !== undefined && this.#timerAt <= at + 1) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#onTimer, Math.max(1, Math.ceil(ms)));
    this.#timer.unref();
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    if (this.#closed) return;
    callNative(() => this.#endpoint.onTimeout());
    this.#drive(); // which starts a new send epoch
  };
}
