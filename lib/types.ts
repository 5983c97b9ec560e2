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
  congestionControl?: 'cubic' | 'reno' | 'bbr2';
}

export interface ConnectOptions extends TlsOptions, TransportOptions {
  host: string;
  port: number;
  /** Share an existing socket (peer-to-peer). */
  socket?: QuicSocket;
  sessionTicket?: Uint8Array;
  earlyData?: boolean;
  signal?: AbortSignal;
  /** Handshake timeout in ms. Default 10000. */
  timeout?: number;
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
  datagramsSent: number;
  datagramsReceived: number;
  /** `sendDatagram` calls that returned false because the send queue was full. */
  datagramsDroppedOnSend: number;
  /** Received datagrams dropped because a receive queue was full. */
  datagramsDroppedOnReceive: number;
  /** Sent datagrams that loss detection declared lost. */
  datagramsLost: number;
}

export type { QuicConnection };
