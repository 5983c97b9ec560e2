// Options of WebTransport servers, validated when `listen()` is called.
import { invalidArgValue } from '../errors';
import { validateFunction, validateInteger, validateObject } from '../validate';

/** What `allow` learns about a session request (the extended CONNECT). */
export interface WebTransportRequest {
  /** Path and query of the request URL, e.g. `/chat?room=1`. */
  path: string;
  /** The `origin` header a browser sends (the page's origin); absent from non-browser clients. */
  origin?: string;
  /** `:authority` of the request: host and port as the client wrote them. */
  authority: string;
  /** Request headers, lower-case names (pseudo-headers excluded). */
  headers: Record<string, string>;
}

/**
 * `listen({ webTransport })`: WebTransport over HTTP/3 on connections that
 * negotiate ALPN `h3`.
 */
export interface WebTransportServerOptions {
  /**
   * Decides about each session request: `true` (or a 2xx status) accepts,
   * `false` refuses with 403, another number refuses with that HTTP status
   * (200-599). May be async; a throw or rejection refuses with 500.
   */
  allow?: (request: WebTransportRequest) => boolean | number | Promise<boolean | number>;
  /** Sessions one connection may hold at once (advertised in SETTINGS; more get 429). Default 100. */
  maxSessions?: number;
}

/** Validates `options.webTransport` against the rest of the server options (`path` is its dotted path). */
export function validateWebTransportOptions(opts: Record<string, unknown>, path: string): void {
  const value = opts.webTransport;
  if (value === undefined || value === false) return;
  if (value !== true) {
    validateObject(value, path);
    validateFunction(value.allow, `${path}.allow`);
    validateInteger(value.maxSessions, `${path}.maxSessions`, 1, 0xffff_ffff);
  }
  if (!Array.isArray(opts.alpn) || !opts.alpn.includes('h3')) {
    throw invalidArgValue(path, "needs 'h3' in options.alpn: browsers reach WebTransport over HTTP/3");
  }
  // SETTINGS_H3_DATAGRAM (RFC 9297) needs QUIC datagrams, and browsers need both.
  if (opts.datagrams === false) throw invalidArgValue(path, 'needs datagrams: options.datagrams cannot be false');
}

/** The server options' WebTransport settings, or undefined when off. */
export function webTransportOptions(value: boolean | WebTransportServerOptions | undefined): WebTransportServerOptions | undefined {
  if (value === undefined || value === false) return undefined;
  return value === true ? {} : value;
}
