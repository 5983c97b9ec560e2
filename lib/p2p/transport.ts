// Sending one signalling message on a connection, through the native
// reliable channel (src/p2p/channel.rs). A connection that is closed, or
// whose peer stopped acknowledging, simply does not get it: every waiting
// step has its own deadline.
import type { QuicConnection } from '../connection';
import { debug } from '../debug';
import { encode, type Message } from './signal';

export function sendSignal(conn: QuicConnection, message: Message): boolean {
  if (conn.destroyed) return false;
  try {
    const sent = conn.socket._endpoint.signalSend(conn.handle, encode(message));
    conn.socket._schedule();
    if (!sent) debug('signalling backlog on connection %d: message %d dropped', conn.handle, message.type);
    return sent;
  } catch (err) {
    debug('signalling on connection %d failed: %s', conn.handle, (err as Error).message);
    return false;
  }
}
