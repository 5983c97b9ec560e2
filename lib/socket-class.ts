// Late access to the QuicSocket class for `instanceof` checks in modules
// that socket.ts itself imports (avoids a circular import at load time).
import type { QuicSocket } from './socket';

type SocketClass = abstract new (...args: never[]) => QuicSocket;

export function QuicSocketClass(): SocketClass {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./socket') as { QuicSocket: SocketClass }).QuicSocket;
}
