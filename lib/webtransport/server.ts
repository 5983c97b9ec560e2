// The server side: an accepted connection that negotiated `h3` on a server
// with `webTransport` becomes an HTTP/3 connection whose sessions are the
// server's `'session'` events (it is not a `'connection'` event).
import type { QuicConnection } from '../connection';
import type { QuicServer } from '../server';
import { H3Connection } from './h3-connection';
import { h3Of } from './registry';
import type { WebTransportServerOptions } from './options';

/** Takes over `conn` if it is a WebTransport connection of `server`; returns whether it did. */
export function acceptWebTransport(server: QuicServer, conn: QuicConnection, options: WebTransportServerOptions | undefined): boolean {
  if (options === undefined || conn.alpnProtocol !== 'h3') return false;
  new H3Connection(conn, {
    options,
    hasListener: () => server.listenerCount('session') > 0,
    onSession: (session) => server.emit('session', session),
  });
  return true;
}

/** Closes a server's connection: WebTransport ones wind their sessions down first. */
export function closeServerConnection(conn: QuicConnection): Promise<unknown> {
  return h3Of(conn)?.close() ?? conn.close();
}
