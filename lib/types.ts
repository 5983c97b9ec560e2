// Public option and record types (the API contract in shared/API.md).
import type { QuicSocket } from './socket';
import type { QuicConnection } from './connection';
import type { WebTransportServerOptions } from './webtransport/options';

/**
 * A UDP address, as `dgram` reports it but normalised: an IPv4 peer reached
 * through a dual-stack socket is `{ address: '127.0.0.1', family: 'IPv4' }`,
 * never `::ffff:127.0.0.1`.
 */
export interface Address {
  /** IPv4 dotted quad or IPv6 text form (`'203.0.113.7'`, `'2001:db8::1'`). */
  address: string;
  /** UDP port, 0-65535. */
  port: number;
  /** Address family of `address`. */
  family: 'IPv4' | 'IPv6';
}

/**
 * What a {@link TlsOptions.verify} hook (and a relay's
 * {@link RelayOptions.allow} policy) learns about a peer during its handshake.
 */
export interface PeerInfo {
  /** The peer's certificate chain as sent, DER-encoded X.509 (RFC 5280), leaf first; empty when it sent none. */
  certificates: Uint8Array[];
  /**
   * The built-in check's verdict: the chain leads to a trusted CA
   * ({@link TlsOptions.ca}) and, on a client, the leaf names the server
   * (`serverName`, else the host). The hook may accept a peer even when this is false.
   */
  chainValid: boolean;
  /** Why `chainValid` is false, for people: mostly BoringSSL's verify error text (e.g. `'certificate has expired'`). */
  chainError?: string;
  /** Server side: the name the client asked for in SNI (RFC 6066 §3), if any. */
  serverName?: string;
  /** Where the peer's packets come from (for a relayed connection: the relay). */
  remoteAddress: Address;
  /** SHA-256 of the leaf certificate's DER, lowercase hex (absent without a certificate). */
  fingerprint?: string;
}

/** A key or certificate: PEM text (a string, or its bytes) or DER bytes. */
export type PemOrDer = string | Buffer | Uint8Array;

/**
 * TLS 1.3 settings (RFC 8446, as QUIC uses it: RFC 9001), for `listen()` and
 * `connect()`. Invalid values throw `TypeError`/`RangeError` synchronously
 * (`ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE`) naming the option; keys
 * and certificates that cannot be used fail with `ERR_QUIC_INVALID_KEY` /
 * `ERR_QUIC_INVALID_CERTIFICATE`.
 */
export interface TlsOptions {
  /**
   * Application protocols (ALPN, RFC 7301), most preferred first; each 1-255
   * bytes. Required: the handshake fails with `ERR_QUIC_ALPN_MISMATCH` when
   * the sides share none. The chosen one is {@link QuicConnection.alpnProtocol}.
   */
  alpn: string[];
  /** Private key (PEM or DER): RSA, ECDSA P-256/P-384 or Ed25519. Required on a server, and on a client that presents a certificate. */
  key?: PemOrDer;
  /** This side's certificate: a PEM (which may hold the chain, leaf first) or a list of PEM/DER certificates, leaf first. */
  cert?: PemOrDer | PemOrDer[];
  /**
   * Trust anchors for checking the peer (PEM, may hold several, or a list).
   * Default on a client: Node's bundled root CAs (`tls.rootCertificates`). A
   * certificate listed here is trusted as is, so a self-signed peer can be pinned.
   */
  ca?: PemOrDer | PemOrDer[];
  /**
   * Whether the peer's certificate must chain to {@link ca} (and, on a
   * client, name the server). Client default `true`; server default `false`
   * (`true` = mutual TLS: clients must present a certificate, else
   * `ERR_QUIC_CERT_REQUIRED`).
   */
  verifyPeer?: boolean;
  /**
   * Decides about the peer inside the handshake, which waits for the answer
   * (it may be async). It runs after the built-in check, whose verdict is in
   * {@link PeerInfo.chainValid}. Returning `false`, throwing or rejecting
   * refuses the peer with a TLS alert (`ERR_QUIC_CERT_REFUSED` on this side);
   * anything else accepts it, even when `chainValid` is false. A server with
   * `verify` but without `verifyPeer` asks for a client certificate but does
   * not require one (the hook runs only when one is sent).
   */
  verify?: (peer: PeerInfo) => boolean | void | Promise<boolean | void>;
  /**
   * Client: the name sent in SNI (RFC 6066 §3) and the name the server's
   * certificate must carry. Default: `host` when it is a name; for an IP
   * address, the address is checked against the certificate's IP SANs.
   */
  serverName?: string;
  /** TLS secrets in the NSS key log format (for Wireshark): a file path (lines are appended) or a function called with each line. Off unless set. */
  keylog?: string | ((line: string) => void);
  /** qlog (JSON-SEQ) per connection: a directory (files `nquic-<side>-<handle>.sqlog`) or a callback receiving the stream in pieces. */
  qlog?: string | ((chunk: string) => void);
}

/** QUIC transport settings (RFC 9000), the same for clients and servers. */
export interface TransportOptions {
  /**
   * Milliseconds without traffic before the connection ends with
   * `ERR_QUIC_IDLE_TIMEOUT` (RFC 9000 §10.1; the smaller of both sides' values
   * applies). 0 disables. Default 30000.
   */
  idleTimeout?: number;
  /** Milliseconds between PINGs when idle, to keep the connection and NAT bindings alive; 0 (default) disables. */
  keepAlive?: number;
  /** Concurrent peer-initiated bidirectional streams allowed (MAX_STREAMS, RFC 9000 §4.6). Default 100. */
  maxStreamsBidi?: number;
  /** Concurrent peer-initiated unidirectional streams allowed (MAX_STREAMS, RFC 9000 §4.6). Default 100. */
  maxStreamsUni?: number;
  /** Initial per-stream flow-control window in bytes (RFC 9000 §4.1), auto-tuned up to 16 MiB. Default 1 MiB. */
  streamWindow?: number;
  /** Initial connection flow-control window in bytes (RFC 9000 §4.1), auto-tuned up to 24 MiB. Default 4 MiB. */
  connectionWindow?: number;
  /** Offer and accept unreliable datagrams (RFC 9221). Default true. */
  datagrams?: boolean;
  /** Datagrams queued for sending or reading (1 to 2^20) before new ones are dropped. Default 1024. */
  datagramQueueLength?: number;
  /**
   * Congestion controller (RFC 9002 §7 for `'reno'`; RFC 8312 `'cubic'`;
   * BBRv2). Default `'bbr2'`: it sizes its window to the measured bandwidth
   * and round trip, keeping queues short where cubic fills socket buffers.
   */
  congestionControl?: 'cubic' | 'reno' | 'bbr2';
}

interface ConnectOptionsBase extends TlsOptions, TransportOptions {
  /** Share an existing socket (peer-to-peer). */
  socket?: QuicSocket;
  /**
   * A ticket from an earlier connection to the same server
   * ({@link QuicConnection.sessionTicket}) to resume its TLS session (RFC 8446
   * §2.2, RFC 9001 §4.5). An unusable ticket just means a full handshake.
   */
  sessionTicket?: Uint8Array;
  /**
   * With `sessionTicket`: send 0-RTT data (RFC 9001 §4.6). `connect()` then
   * resolves as soon as 0-RTT data may be sent, before the handshake
   * completes ('handshake' event). 0-RTT data can be replayed by an attacker:
   * send only idempotent requests in it. Default false.
   */
  earlyData?: boolean;
  /** Aborts the connection attempt: `connect()` rejects with `ABORT_ERR` and the connection is closed. */
  signal?: AbortSignal;
  /** Handshake timeout in ms; `connect()` rejects with `ERR_QUIC_HANDSHAKE_TIMEOUT` after it. Default 10000. */
  timeout?: number;
}

/** A connection straight to `host:port`. */
export interface DirectConnectOptions extends ConnectOptionsBase {
  /** The server: an IP address or a host name (resolved with `dns.lookup`). */
  host: string;
  /** The server's UDP port. */
  port: number;
  /** Only for relayed connections ({@link RelayedConnectOptions}). */
  via?: undefined;
  /** Only for relayed connections ({@link RelayedConnectOptions}). */
  peer?: undefined;
}

/**
 * A connection through a relay: `via` is this socket's connection to the
 * relay, `peer` the SHA-256 fingerprint (hex) of the target's leaf
 * certificate. The target is verified by that fingerprint, end to end.
 */
export interface RelayedConnectOptions extends ConnectOptionsBase {
  /** This socket's connection to the relay (a server listening with {@link ServerOptions.relay}). */
  via: QuicConnection;
  /**
   * The target's leaf certificate fingerprint: SHA-256 of its DER, 64 hex
   * digits. It replaces CA and name checks (a `verify` hook still runs);
   * another certificate fails with `ERR_QUIC_CERT_FINGERPRINT_MISMATCH`.
   */
  peer: string;
  /** Not with `via`: the relay is the way to the peer. */
  host?: undefined;
  /** Not with `via`: the relay is the way to the peer. */
  port?: undefined;
}

/** Options of `connect()` and {@link QuicSocket.connect}: to an address, or through a relay. */
export type ConnectOptions = DirectConnectOptions | RelayedConnectOptions;

/**
 * Options of {@link QuicSocket.dial}: reach a peer by its key, the SHA-256
 * fingerprint of its certificate, through rendezvous peers
 * (`docs/peer-to-peer.md`, "Reaching peers by key"). The connection options (`alpn`, `key`/`cert` to be
 * named by, `verify`, transport options, `timeout` for each handshake,
 * `signal`) apply to the connection made; `ca` and `serverName` are not
 * needed: the target is verified by `peer` on every path.
 */
export interface DialOptions extends Omit<ConnectOptionsBase, 'socket'> {
  /**
   * The target's leaf certificate fingerprint: SHA-256 of its DER, 64 hex
   * digits ({@link certificateFingerprint}). Every path is checked against it;
   * another certificate fails that path (`ERR_QUIC_CERT_FINGERPRINT_MISMATCH`).
   */
  peer: string;
  /**
   * This socket's connections to rendezvous peers (servers listening with
   * {@link ServerOptions.rendezvous}), tried in order until one works; at most
   * 16. They must be connections of this very socket: the address the
   * rendezvous sees is the NAT mapping that punching uses.
   */
  via: QuicConnection | QuicConnection[];
  /**
   * Milliseconds of hole punching, counted from the rendezvous's answer,
   * before falling back to a relayed connection; 0 = relayed at once, with
   * direct attempts in the background ({@link QuicConnectionEvents.upgrade}).
   * 0 to 60000, default 3000.
   */
  punchTimeout?: number;
  /**
   * Fall back to a connection relayed by the rendezvous (which must also
   * listen with {@link ServerOptions.relay}). Default true; with false a dial
   * without a direct path fails with `ERR_QUIC_DIAL_FAILED`.
   */
  relay?: boolean;
  /**
   * IP TTL (IPv6: hop limit) of the first, low-TTL punches: enough hops to
   * leave this side's NAT, too few to reach the peer's. 1 to 255, default 2.
   */
  punchTtl?: number;
  /** After a relayed result, keep trying for a direct path and emit `'upgrade'` on the relayed connection. Default true. */
  upgrade?: boolean;
  /** Not with a dial: the rendezvous finds the peer. */
  host?: undefined;
  /** Not with a dial: the rendezvous finds the peer. */
  port?: undefined;
}

/** Options of {@link QuicConnection.register}. */
export interface RegisterOptions {
  /** IP TTL (IPv6: hop limit) of this side's first, low-TTL punches when it is dialed. 1 to 255, default 2. */
  punchTtl?: number;
}

/**
 * `listen({ rendezvous })`: introduce registered peers to the peers that dial
 * them and coordinate their hole punching (`docs/peer-to-peer.md`, "Reaching peers by key").
 */
export interface RendezvousOptions {
  /**
   * Decides about each dial: `from` is the dialer, `to` the registered target
   * (each with `fingerprint` when it presented a certificate). Returning
   * false, throwing, rejecting or not answering within 30 s refuses: the
   * dialer gets `ERR_QUIC_DIAL_REFUSED`.
   */
  allow?: (from: PeerInfo, to: PeerInfo) => boolean | Promise<boolean>;
  /** Registered peers at most; further registrations fail with `ERR_QUIC_RENDEZVOUS_FULL`. 1 to 1000000, default 1024. */
  maxPeers?: number;
}

/** `listen({ relay })`: serve as a relay for peers that cannot reach each other. */
export interface RelayOptions {
  /** Flows relayed at once at most; further ones are refused (`ERR_QUIC_RELAY_LIMIT`). Default 256. */
  maxFlows?: number;
  /** Bytes per second one flow may carry, both directions together; excess packets are dropped. 0 = no limit. Default 16 MiB/s. */
  maxFlowRate?: number;
  /** Decides about each new flow: `from` is the dialer, `to` the target. Refusal: `ERR_QUIC_RELAY_DENIED` at the dialer. */
  allow?: (from: PeerInfo, to: PeerInfo) => boolean | Promise<boolean>;
}

/** Options of a server: {@link QuicSocket.listen}, and `listen()` with {@link ListenOptions}. */
export interface ServerOptions extends TlsOptions, TransportOptions {
  /**
   * Validate each client's address with a Retry round trip (RFC 9000 §8.1.2)
   * before any handshake work: tokens are HMACs bound to the client address
   * and connection IDs, valid 10 s. Default false.
   */
  retry?: boolean;
  /** New handshakes accepted per source IP address per second (bursts of twice that); 0 = unlimited. Default 500. */
  handshakeRateLimit?: number;
  /** Accept 0-RTT data from resuming clients (it can be replayed by an attacker). Default false. */
  earlyData?: boolean;
  /** Most connections served at once (1 to 2^32-1); further clients are ignored. Default: no limit. */
  maxConnections?: number;
  /** Handshake timeout in ms for incoming connections. Default 10000. */
  timeout?: number;
  /**
   * Serve as a relay for connected peers that cannot reach each other (see
   * `docs/peer-to-peer.md`, "Relayed connections"): `true` for the defaults, or limits and a
   * policy. Clients are then asked for a certificate, which names them (its
   * fingerprint). Default off.
   */
  relay?: boolean | RelayOptions;
  /**
   * Serve as a rendezvous for peers that register
   * ({@link QuicConnection.register}) and dial each other by key
   * ({@link QuicSocket.dial}); see `docs/peer-to-peer.md`, "Reaching peers by key". Clients are
   * asked for a certificate, which names them. Usually together with `relay`,
   * so that dials can fall back to a relayed connection.
   */
  rendezvous?: boolean | RendezvousOptions;
  /**
   * WebTransport over HTTP/3 for browsers (needs `'h3'` in `alpn`):
   * connections that negotiate `h3` bring `'session'` events (see
   * `docs/browsers.md`) instead of `'connection'`.
   */
  webTransport?: boolean | WebTransportServerOptions;
}

/** Options of `listen()`: a server and the socket it binds. */
export interface ListenOptions extends ServerOptions {
  /** Local address to bind. Default `'::'` (dual-stack IPv6 and IPv4). */
  address?: string;
  /** Local UDP port; 0 (default) picks a free one (see {@link QuicServer.address}). */
  port?: number;
}

/** Options of {@link QuicSocket.bind}. */
export interface BindOptions {
  /** Local address (an IP address or a name). Default `'::'` (dual-stack). */
  address?: string;
  /** Local UDP port; 0 (default) picks a free one. */
  port?: number;
  /** With an IPv6 address: IPv6 only, no IPv4-mapped traffic. Default false. */
  ipv6Only?: boolean;
}

/** Options of {@link QuicConnection.openStream}. */
export interface StreamOptions {
  /** Open a unidirectional (send-only) stream instead of a bidirectional one (RFC 9000 §2.1). Default false. */
  unidirectional?: boolean;
}

/** Options of {@link QuicConnection.close}: the CONNECTION_CLOSE frame's application error (RFC 9000 §10.2, §19.19). */
export interface CloseOptions {
  /** Application error code, 0 to 2^53-1 (QUIC allows up to 2^62-1). 0 (default) is a clean close; others give the peer `ERR_QUIC_APPLICATION_ERROR`. */
  code?: number;
  /** Reason phrase for the peer, at most 1000 bytes of UTF-8. Default `''`. */
  reason?: string;
}

/** Counters of one connection ({@link QuicConnection.stats}); all count from the connection's start. */
export interface ConnectionStats {
  /** Smoothed round-trip time (RFC 9002 §5.3), ms. */
  rtt: number;
  /** Congestion window, bytes. */
  cwnd: number;
  /** UDP payload bytes sent, including retransmissions. */
  bytesSent: number;
  /** UDP payload bytes received. */
  bytesReceived: number;
  /** QUIC packets sent. */
  packetsSent: number;
  /** QUIC packets received. */
  packetsReceived: number;
  /** Packets that loss detection (RFC 9002 §6) declared lost. */
  packetsLost: number;
  /** Streams this side opened. */
  streamsOpened: number;
  /** Peer-opened streams refused because nobody listened for 'stream' (STOP_SENDING / RESET_STREAM with `STREAM_REFUSED`). */
  streamsRefused: number;
  /** Datagrams sent, including relay traffic this connection carries (to or at a relay). */
  datagramsSent: number;
  /** Datagrams received for the application (relay traffic is not counted). */
  datagramsReceived: number;
  /** `sendDatagram` calls that returned false because the send queue was full. */
  datagramsDroppedOnSend: number;
  /** Received datagrams dropped because a receive queue was full. */
  datagramsDroppedOnReceive: number;
  /** Sent datagrams that loss detection declared lost (RFC 9221 §5.2), on every path the connection has used; never decreases. */
  datagramsLost: number;
  /**
   * Validated changes of the active path (RFC 9000 §9). Server: each new client
   * address followed once validated (a NAT rebinding or a migration of the
   * client). Client: each `migrate()` whose new path answered; a NAT rebinding
   * is invisible to the client.
   */
  pathChanges: number;
}

export type { QuicConnection };
