// Argument checks of socket.dial(): synchronous, before any packet is sent,
// with Node-style codes naming the option's path.
import { validateClientOptions, validateFingerprint } from '../entry-validation';
import { invalidArgType, invalidArgValue } from '../errors';
import { QuicConnectionClass } from '../socket-class';
import type { QuicSocket } from '../socket';
import type { DialOptions } from '../types';
import { validateBoolean, validateInteger, validateObject } from '../validate';

/** Rendezvous connections one dial may try at most. */
const MAX_VIAS = 16;

export function validateDialOptions(socket: QuicSocket, opts: unknown, path: string): asserts opts is DialOptions {
  validateObject(opts, path);
  validateFingerprint(opts.peer, `${path}.peer`);
  const vias = Array.isArray(opts.via) ? opts.via : [opts.via];
  if (vias.length === 0 || vias.length > MAX_VIAS) throw invalidArgValue(`${path}.via`, `must list 1 to ${MAX_VIAS} connections`);
  vias.forEach((via: unknown, i) => {
    const at = Array.isArray(opts.via) ? `${path}.via[${i}]` : `${path}.via`;
    if (!(via instanceof QuicConnectionClass())) throw invalidArgType(at, 'a QuicConnection', via);
    if (via.socket !== socket) throw invalidArgValue(at, 'must be a connection of this socket (its rendezvous sees the address punching uses)');
  });
  if (opts.host !== undefined || opts.port !== undefined) {
    throw invalidArgValue(`${path}.peer`, 'cannot be combined with host and port: the rendezvous finds the peer');
  }
  if (opts.verifyPeer === false) {
    throw invalidArgValue(`${path}.verifyPeer`, 'cannot be false for a dial: the peer fingerprint is checked end to end');
  }
  validateClientOptions(opts, path);
  validateInteger(opts.punchTimeout, `${path}.punchTimeout`, 0, 60_000);
  validateInteger(opts.punchTtl, `${path}.punchTtl`, 1, 255);
  validateBoolean(opts.relay, `${path}.relay`);
  validateBoolean(opts.upgrade, `${path}.upgrade`);
}
