// The top-level entry points: listen() and connect(), each with a socket of
// its own. Both validate synchronously and throw before any packet is sent.
import type { QuicConnection } from './connection';
import { validateConnectOptions, validateListenOptions } from './entry-validation';
import type { QuicServer } from './server';
import { QuicSocket } from './socket';
import type { ConnectOptions, ListenOptions } from './types';
import { isIP } from 'node:net';

/** Binds a socket and starts a server on it. */
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

/** Connects to a server, on `opts.socket` or on a new ephemeral socket. */
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
