// The top-level entry points: listen() and connect(), each with a socket of
// its own. Both validate synchronously and throw before any packet is sent.
import type { QuicConnection } from './connection';
import { validateConnectOptions, validateListenOptions } from './entry-validation';
import type { QuicServer } from './server';
import { QuicSocket } from './socket';
import type { ConnectOptions, ListenOptions } from './types';
import { isIP } from 'node:net';

/**
 * Binds a socket (`opts.address`, default `'::'`; `opts.port`, default 0 = a
 * free one) and starts a {@link QuicServer} on it; closing the server closes
 * the socket. Bad options throw synchronously, before anything is bound:
 * `TypeError`/`RangeError` with `ERR_INVALID_ARG_TYPE`,
 * `ERR_INVALID_ARG_VALUE` or `ERR_OUT_OF_RANGE` naming the option
 * (`options.alpn`). Rejects with `ERR_QUIC_INVALID_KEY` /
 * `ERR_QUIC_INVALID_CERTIFICATE` for unusable credentials, or Node's bind
 * error (`EADDRINUSE`…).
 *
 * {@includeCode ../examples/tour.mjs#tour}
 */
export function listen(opts: ListenOptions): Promise<QuicServer> {
  validateListenOptions(opts, 'options');
  return (async () => {
    const socket = await QuicSocket.bind({ address: opts.address, port: opts.port });
    try {
      return socket._listen(opts, true);
    } catch (err) {
      await socket.close();
      throw err;
    }
  })();
}

/**
 * Connects to a server, on `opts.socket` or on a new ephemeral socket (closed
 * with the connection); with `via` and `peer`, through a relay (on the
 * socket of `via`). Resolves once the handshake completed and the server
 * passed every check (with 0-RTT, see {@link ConnectOptions}: as soon as
 * early data may be sent). Bad options throw synchronously, before any
 * packet is sent (`ERR_INVALID_ARG_*`, `ERR_OUT_OF_RANGE`). Rejects with the
 * handshake's failure: `ERR_QUIC_HANDSHAKE_TIMEOUT` (after `timeout` ms),
 * `ERR_QUIC_CERT_UNTRUSTED` / `_EXPIRED` / `_NAME_MISMATCH` / `_REFUSED`…,
 * `ERR_QUIC_ALPN_MISMATCH`, `ERR_QUIC_TLS_HANDSHAKE_FAILED`, `ABORT_ERR`
 * (`signal`). In TLS 1.3 the client finishes first, so a server that refuses
 * this client's certificate is seen afterwards, in {@link QuicConnection.closed}
 * (`ERR_QUIC_CERT_REQUIRED`, `ERR_QUIC_CERT_REJECTED`).
 *
 * {@includeCode ../examples/resumption.mjs#resumption}
 */
export function connect(opts: ConnectOptions): Promise<QuicConnection> {
  validateConnectOptions(opts, 'options');
  if (opts.via !== undefined && opts.socket === undefined) return opts.via.socket._connect(opts, false);
  if (opts.socket !== undefined) {
    if (!(opts.socket instanceof QuicSocket)) {
      throw Object.assign(new TypeError('The "options.socket" argument must be a QuicSocket'), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    return opts.socket._connect(opts, false);
  }
  return (async () => {
    const address = isIP(opts.host ?? '') === 6 ? '::' : '0.0.0.0';
    const socket = await QuicSocket.bind({ address });
    try {
      return await socket._connect(opts, true);
    } catch (err) {
      await socket.close();
      throw err;
    }
  })();
}
