import type { NativeCloseInfo } from '../index.js';

/**
 * Every stable error code nquic raises, with what it means: error code →
 * description. The README's Errors table lists the same codes (a test keeps
 * them equal). `ERR_INVALID_ARG_*` and `ERR_OUT_OF_RANGE` come on
 * `TypeError`/`RangeError` thrown synchronously for bad arguments; every
 * other code comes on a {@link QuicError}.
 */
export const ERROR_CODES = {
  ERR_INVALID_ARG_TYPE: 'An argument or option has the wrong type.',
  ERR_INVALID_ARG_VALUE: 'An argument or option has an unacceptable value.',
  ERR_OUT_OF_RANGE: 'A number is outside its allowed range.',
  ERR_QUIC_INVALID_KEY: 'The private key cannot be parsed or does not match the certificate.',
  ERR_QUIC_INVALID_CERTIFICATE: 'A certificate cannot be parsed, or a server has none.',
  ERR_QUIC_TLS: 'The TLS context could not be set up.',
  ERR_QUIC_CONNECTION_CLOSED: 'The connection is closed (or closing); the operation is not possible.',
  ERR_QUIC_SOCKET_CLOSED: 'The socket is closed.',
  ERR_QUIC_SERVER_EXISTS: 'The socket already has a server.',
  ERR_QUIC_HANDSHAKE_TIMEOUT: 'The handshake did not complete within `timeout` ms.',
  ERR_QUIC_IDLE_TIMEOUT: 'Nothing was received for `idleTimeout` ms.',
  ERR_QUIC_CONNECTION_LOST: 'The connection ended without a close from either side.',
  ERR_QUIC_APPLICATION_ERROR: 'A side closed the connection with a non-zero application code (`appCode`).',
  ERR_QUIC_TRANSPORT_ERROR: 'A side closed the connection with a QUIC transport error (`transportCode`).',
  ERR_QUIC_CONNECTION_REFUSED: 'The server refused the connection.',
  ERR_QUIC_INTERNAL_PEER_ERROR: 'The peer reported an internal error.',
  ERR_QUIC_TLS_HANDSHAKE_FAILED: 'The TLS handshake failed (`tlsAlert` says why).',
  ERR_QUIC_ALPN_MISMATCH: 'Client and server have no ALPN protocol in common.',
  ERR_QUIC_CERT_UNTRUSTED: "The peer's certificate does not chain to a trusted CA.",
  ERR_QUIC_CERT_EXPIRED: "The peer's certificate has expired.",
  ERR_QUIC_CERT_INVALID: "The peer's certificate failed verification for another reason (`tlsAlert`, message).",
  ERR_QUIC_CERT_NAME_MISMATCH: "The peer's certificate does not name the expected host or IP address.",
  ERR_QUIC_CERT_NOT_YET_VALID: "The peer's certificate is not valid yet.",
  ERR_QUIC_CERT_REFUSED: 'The `verify` callback refused the peer (returned false, threw or rejected).',
  ERR_QUIC_CERT_REQUIRED: 'The server requires a client certificate and none was sent.',
  ERR_QUIC_CERT_REJECTED: 'The peer rejected our certificate.',
  ERR_QUIC_STREAM_RESET: 'The peer reset the stream (RESET_STREAM); `appCode` is its code.',
  ERR_QUIC_STREAM_STOPPED: 'The peer asked us to stop sending (STOP_SENDING); `appCode` is its code.',
  ERR_QUIC_STREAM_LIMIT: 'No stream credit is available where nquic cannot wait for it (a WebTransport client\'s CONNECT request).',
  ERR_QUIC_INVALID_STREAM_STATE: 'The stream cannot do that in its current state.',
  ERR_QUIC_DATAGRAM_TOO_LARGE: 'The datagram is larger than `maxDatagramSize`.',
  ERR_QUIC_DATAGRAMS_DISABLED: 'Datagrams are disabled on this side or by the peer.',
  ERR_QUIC_INTERNAL: 'A bug in nquic: the native core caught a panic. Please report it.',
  ERR_NQUIC_NATIVE_BINDING: 'No prebuilt native binary could be loaded for this platform (thrown when the package loads, on a plain Error; the message names the platform and every path tried).',
  ERR_QUIC_TTL_UNSUPPORTED: 'punch({ ttl }) toward an IPv4 peer from an IPv6 (dual-stack) socket where the TTL cannot be set per packet (not Linux, or NQUIC_TTL_SEND=0).',
  ERR_QUIC_STUN_TIMEOUT: 'No STUN response arrived within `timeout` ms.',
  ERR_QUIC_CERT_FINGERPRINT_MISMATCH: "The peer's leaf certificate does not have the fingerprint given as `peer` (a relay cannot impersonate the target).",
  ERR_QUIC_RELAY_PEER_UNKNOWN: 'No peer with that certificate fingerprint is registered at the relay (it has not called acceptRelayed()).',
  ERR_QUIC_RELAY_LIMIT: 'The relay already serves `maxFlows` flows.',
  ERR_QUIC_RELAY_DENIED: "The relay's `allow` policy refused the flow.",
  ERR_QUIC_RELAY_CLOSED: 'The relayed path ended: the connection to the relay closed, or the relay dropped the flow (the other side left, or it was idle).',
  ERR_QUIC_RELAY_UNAVAILABLE: 'The peer did not answer acceptRelayed() as a relay.',
  ERR_QUIC_RELAY_CERT_REQUIRED: 'acceptRelayed() / register() needs a client certificate on the connection to the relay or rendezvous: it names peers by it.',
  ERR_QUIC_RELAY_NO_SERVER: 'acceptRelayed() / register() needs a server on the same socket to accept the connections of other peers.',
  ERR_QUIC_PEER_UNKNOWN: 'dial(): no rendezvous in `via` has a peer registered with that fingerprint (or it left during the dial).',
  ERR_QUIC_DIAL_REFUSED: "dial(): the rendezvous's `allow` policy or the relay refused the dial, or the target declined it (busy, or no server).",
  ERR_QUIC_RENDEZVOUS_GONE: 'dial(): the connection to the rendezvous closed during the dial.',
  ERR_QUIC_RENDEZVOUS_UNAVAILABLE: 'register() / dial(): the peer does not serve as a rendezvous, or did not answer.',
  ERR_QUIC_RENDEZVOUS_FULL: 'register(): the rendezvous already has `maxPeers` registered peers.',
  ERR_QUIC_DIAL_FAILED: 'dial(): all candidates failed: hole punching found no direct path within `punchTimeout`, and no relayed connection could be made (`relay: false`, or the rendezvous does not relay).',
  ERR_QUIC_WEBTRANSPORT_SESSION_CLOSED: 'The WebTransport session is closed (by either side, or its connection ended).',
  ERR_QUIC_WEBTRANSPORT_SESSION_RESET: "The WebTransport session ended abruptly: its CONNECT stream was reset or broke the protocol.",
  ERR_QUIC_WEBTRANSPORT_REFUSED: 'The server answered the WebTransport request with an HTTP status other than 2xx (`status`).',
  ERR_QUIC_WEBTRANSPORT_UNSUPPORTED: "The server's HTTP/3 SETTINGS do not offer WebTransport (or it did not negotiate ALPN h3).",
  ABORT_ERR: 'The operation was aborted through its AbortSignal.',
} as const;

/** One of the stable codes in {@link ERROR_CODES}. */
export type QuicErrorCode = keyof typeof ERROR_CODES;

/** The protocol-level details a {@link QuicError} carries, where known. */
export interface QuicErrorDetails {
  /** Application error code: the peer's RESET_STREAM / STOP_SENDING code (RFC 9000 §19.4, §19.5), or a CONNECTION_CLOSE's application code (§19.19). */
  appCode?: number;
  /** TLS alert number (RFC 8446 §6, e.g. 42 bad_certificate, 48 unknown_ca, 116 certificate_required), sent or received. */
  tlsAlert?: number;
  /** QUIC transport error code of a CONNECTION_CLOSE (RFC 9000 §20.1; 0x0100-0x01ff carry a TLS alert, RFC 9001 §4.8). */
  transportCode?: number;
}

/**
 * An error of a QUIC operation: a failed handshake, a closed connection, a
 * reset stream… `code` is one of {@link ERROR_CODES}; `message` is for
 * people and may change, `code` does not. Connection failures arrive as the
 * rejection of the pending call and as {@link CloseInfo.error}.
 */
export class QuicError extends Error {
  /** Stable code, one of {@link ERROR_CODES} (e.g. `'ERR_QUIC_IDLE_TIMEOUT'`). */
  readonly code: string;
  /** See {@link QuicErrorDetails.appCode}. */
  appCode?: number;
  /** See {@link QuicErrorDetails.tlsAlert}. */
  tlsAlert?: number;
  /** See {@link QuicErrorDetails.transportCode}. */
  transportCode?: number;

  /** For tests and wrappers: nquic itself creates these. */
  constructor(code: string, message: string, details: QuicErrorDetails = {}) {
    super(message);
    this.name = 'QuicError';
    this.code = code;
    if (details.appCode !== undefined) this.appCode = details.appCode;
    if (details.tlsAlert !== undefined) this.tlsAlert = details.tlsAlert;
    if (details.transportCode !== undefined) this.transportCode = details.transportCode;
  }
}

type CodedError<E extends Error> = E & { code: string };

function withCode<E extends Error>(error: E, code: string): CodedError<E> {
  return Object.assign(error, { code });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `type string ('${value.length > 20 ? value.slice(0, 20) + '…' : value}')`;
  return `type ${typeof value} (${String(value)})`;
}

export function invalidArgType(path: string, expected: string, actual: unknown): CodedError<TypeError> {
  return withCode(new TypeError(`The "${path}" argument must be ${expected}. Received ${describe(actual)}`), 'ERR_INVALID_ARG_TYPE');
}

export function invalidArgValue(path: string, reason: string): CodedError<TypeError> {
  return withCode(new TypeError(`The "${path}" argument ${reason}`), 'ERR_INVALID_ARG_VALUE');
}

export function outOfRange(path: string, range: string, actual: unknown): CodedError<RangeError> {
  return withCode(new RangeError(`The value of "${path}" is out of range. It must be ${range}. Received ${String(actual)}`), 'ERR_OUT_OF_RANGE');
}

/**
 * Turns an error thrown by the native binding (which carries its code) into
 * the matching JavaScript error class.
 */
export function fromNative(err: unknown): Error {
  // Not `instanceof Error`: errors made by the addon may come from another
  // realm (vm contexts, test runners).
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (typeof message !== 'string') return new QuicError('ERR_QUIC_INTERNAL', String(err));
  if (typeof code !== 'string') return err as Error;
  if (code === 'ERR_OUT_OF_RANGE') return withCode(new RangeError(message), code);
  if (code.startsWith('ERR_INVALID_ARG')) return withCode(new TypeError(message), code);
  return new QuicError(code, message);
}

/** Calls into the binding, converting its errors. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

/**
 * How a connection ended: {@link QuicConnection.closed} resolves with it and
 * the `'close'` event carries it. It mirrors the CONNECTION_CLOSE frame (RFC
 * 9000 §19.19) that ended the connection, if one did.
 */
export interface CloseInfo {
  /** The close's error code: an application code when `application`, else a transport error code (0 = no error). */
  code: number;
  /** The reason phrase sent with the close (`''` if none). */
  reason: string;
  /** Whether the peer closed (true), or this side (false, also for timeouts). */
  remote: boolean;
  /** Whether it was an application close (CONNECTION_CLOSE type 0x1d) rather than a transport one (0x1c). */
  application: boolean;
  /** Absent for a clean close (application code 0 or transport NO_ERROR, from either side); otherwise why it ended, e.g. `ERR_QUIC_IDLE_TIMEOUT`, `ERR_QUIC_APPLICATION_ERROR`. */
  error?: QuicError;
}

export function toCloseInfo(info: NativeCloseInfo): CloseInfo {
  const result: CloseInfo = {
    code: info.code,
    reason: info.reason,
    remote: info.remote,
    application: info.application,
  };
  if (info.errorCode !== undefined) {
    result.error = new QuicError(info.errorCode, info.errorMessage ?? info.errorCode, {
      appCode: info.appCode,
      tlsAlert: info.tlsAlert,
      transportCode: info.transportCode,
    });
  }
  return result;
}

export function connectionClosed(): QuicError {
  return new QuicError('ERR_QUIC_CONNECTION_CLOSED', 'The connection is closed');
}
