import { debuglog } from 'node:util';

/** Debug output, enabled with `NODE_DEBUG=nquic`. */
export const debug = debuglog('nquic');
