// Public option and record types (the API contract in shared/API.md).
import type { QuicSocket } from './socket';
import type { QuicConnection } from './connection';

export interface Address {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

export interface PeerInfo {
  /** DER certificates, leaf first. */
  certificates: Uint8Array[];
  chainValid: boolean;
  chainError?: string;
  serverName?: string;
  remoteAddress: Address;
  /** SHA-256 of the leaf certificate's DER, lowercase hex (absent without a certificate). */
  fingerprint?: string;
}

export type PemOrDer = string | Buffer | Uint8Array;

export interface TlsOptions {
  /** Application protocols, most preferred first. Required. */
  alpn: string[];
  key?: PemOrDer;
  cert?: PemOrDer | PemOrDer[];
  ca?: PemOrDer | PemOrDer[];
  /** Client default true; server default false (true = mutual TLS). */
  verifyPeer?: boolean;
  verify?: (peer: PeerInfo) => boolean | void | Promise<boolean | void>;
  /** Client: SNI and the name the certificate must match. */
  serverName?: string;
  keylog?: string | ((line: string) => void);
  /** qlog (JSON-SEQ) per connection: a directory (files `nquic-<side>-<handle>.sqlog`) or a callback receiving the stream in pieces. */
  qlog?: string | ((chunk: string) => void);
}

export interface TransportOptions {
  /** Milliseconds without traffic before the connection ends. Default 30000. */
  idleTimeout?: number;
  /** Milliseconds between PINGs when idle; 0 (default) disables. */
  keepAlive?: number;
  /** Concurrent peer-initiated bidirectional streams allowed. Default 100. */
  maxStreamsBidi?: number;
  /** Concurrent peer-initiated unidirectional streams allowed. Default 100. */
  maxStreamsUni?: number;
  /** Initial per-stream flow-control window in bytes. Default 1 MiB. */
  streamWindow?: number;
  /** Initial connection flow-control window in bytes. Default 4 MiB. */
  connectionWindow?: number;
  /** RFC 9221 datagrams. Default true. */
  datagrams?: boolean;
  /** Datagrams queued for sending or reading before new ones are dropped. Default 1024. */
  datagramQueueLength?: number;
  /** Default 'bbr2'. */
  congestionControl?: 'cubic' | 'reno' | 'bbr2';
}

interface ConnectOptionsBase extends TlsOptions, TransportOptions {
  /** Share an existing socket (peer-to-peer). */
  socket?: QuicSocket;
  sessionTicket?: Uint8Array;
  earlyData?: boolean;
  signal?: AbortSignal;
  /** Handshake timeout in ms. Default 10000. */
  timeout?: number;
}

/** A connection straight to `host:port`. */
export interface DirectConnectOptions extends ConnectOptionsBase {
  host: string;
  port: number;
  via?: undefined;
  peer?: undefined;
}

/**
 * A connection through a relay: `via` is this socket's connection to the
 * relay, `peer` the SHA-256 fingerprint (hex) of the target's leaf
 * certificate. The target is verified by that fingerprint, end to end.
 */
export interface RelayedConnectOptions extends ConnectOptionsBase {
  via: QuicConnection;
  peer: string;
  host?: undefined;
  port?: undefined;
}

export type ConnectOptions = DirectConnectOptions | RelayedConnectOptions;

/**
 * `socket.dial()`: reach a peer by its key (README, "Reaching peers"). The
 * connection options (`alpn`, `key`/`cert`, `verify`, transport options,
 * `timeout`, `signal`) apply to the connection made; the target is verified
 * by `peer`, its certificate's fingerprint, on every path.
 */
export interface DialOptions extends Omit<ConnectOptionsBase, 'socket'> {
  /** SHA-256 fingerprint (64 hex digits) of the target's leaf certificate. */
  peer: string;
  /** Connections of this socket to rendezvous peers (`listen({ rendezvous })`), tried in order until one works. */
  via: QuicConnection | QuicConnection[];
  /** Milliseconds for hole punching (from the rendezvous's answer) before falling back to the relay; 0 = relayed at once, direct in the background. Default 3000. */
  punchTimeout?: number;
  /** Fall back to a connection relayed by the rendezvous (it must also listen with `relay`). Default true. */
  relay?: boolean;
  /** IP TTL (hop limit) of the first, low-TTL punches: enough hops to leave this side's NAT, too few to reach the peer's. Default 2. */
  punchTtl?: number;
  /** After a relayed result, keep trying for a direct path and emit `'upgrade'` on the relayed connection. Default true. */
  upgrade?: boolean;
  host?: undefined;
  port?: undefined;
}

/** `conn.register()`. */
export interface RegisterOptions {
  /** IP TTL of this side's first, low-TTL punches when dialed. Default 2. */
  punchTtl?: number;
}

/** `listen({ rendezvous })`: introduce peers to each other and coordinate their hole punching. */
export interface RendezvousOptions {
  /** Decides about each dial: `from` is the dialer, `to` the registered target. Refusal: `ERR_QUIC_DIAL_REFUSED` at the dialer. */
  allow?: (from: PeerInfo, to: PeerInfo) => boolean | Promise<boolean>;
  /** Registered peers at most; further registrations fail with `ERR_QUIC_RENDEZVOUS_FULL`. Default 1024. */
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

export interface ServerOptions extends TlsOptions, TransportOptions {
  /** Validate each client's address with a Retry round trip before any handshake work. Default false. */
  retry?: boolean;
  /** New handshakes accepted per source IP address per second (bursts of twice that); 0 = unlimited. Default 500. */
  handshakeRateLimit?: number;
  /** Accept 0-RTT data from resuming clients (it can be replayed by an attacker). Default false. */
  earlyData?: boolean;
  /** Most connections served at once; further clients are ignored. */
  maxConnections?: number;
  /** Handshake timeout in ms for incoming connections. Default 10000. */
  timeout?: number;
  /** Relay for connected peers (see README, "Relayed connections"). Clients are asked for a certificate, which names them. */
  relay?: boolean | RelayOptions;
  /** Serve as a rendezvous for peers that register and dial each other by key (see README, "Reaching peers"). Clients are asked for a certificate, which names them. */
  rendezvous?: boolean | RendezvousOptions;
}

export interface ListenOptions extends ServerOptions {
  address?: string;
  port?: number;
}

export interface BindOptions {
  /** Default '::' (dual-stack). */
  address?: string;
  port?: number;
  ipv6Only?: boolean;
}

export interface StreamOptions {
  unidirectional?: boolean;
}

export interface CloseOptions {
  code?: number;
  reason?: string;
}

export interface ConnectionStats {
  /** Smoothed round-trip time, ms. */
  rtt: number;
  cwnd: number;
  bytesSent: number;
  bytesReceived: number;
  packetsSent: number;
  packetsReceived: number;
  packetsLost: number;
  streamsOpened: number;
  /** Datagrams sent, including relay traffic this connection carries (to or at a relay). */
  datagramsSent: number;
  /** Datagrams received for the application (relay traffic is not counted). */
  datagramsReceived: number;
  /** `sendDatagram` calls that returned false because the send queue was full. */
  datagramsDroppedOnSend: number;
  /** Received datagrams dropped because a receive queue was full. */
  datagramsDroppedOnReceive: number;
  /** Sent datagrams that loss detection declared lost. */
  datagramsLost: number;
}

export type { QuicConnection };
