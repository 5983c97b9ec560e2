// Which QuicConnections carry WebTransport, and their HTTP/3 state.
import type { QuicConnection } from '../connection';
import type { H3Connection } from './h3-connection';

const connections = new WeakMap<QuicConnection, H3Connection>();

export function h3Of(conn: QuicConnection): H3Connection | undefined {
  return connections.get(conn);
}

export function register(conn: QuicConnection, h3: H3Connection): void {
  connections.set(conn, h3);
}
