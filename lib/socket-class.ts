// Late access to the QuicSocket and QuicConnection classes for `instanceof` checks in modules
// that socket.ts itself imports (avoids a circular import at load time).
import type { QuicConnection } from './connection';
import type { QuicSocket } from './socket';

type SocketClass = abstract new (...args: never[]) => QuicSocket;

export function QuicSocketClass(): SocketClass {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./socket') as { QuicSocket: SocketClass }).QuicSocket;
}

type ConnectionClass = abstract new (...args: never[]) => QuicConnection;

export function QuicConnectionClass(): ConnectionClass {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./connection') as { QuicConnection: ConnectionClass }).QuicConnection;
}
