// Validation of the options objects given to listen() and connect().
import { validateCommonOptions } from './options';
import type { ConnectOptions, ListenOptions, ServerOptions } from './types';
import { invalidArgType } from './errors';
import { validateBoolean, validateInteger, validateObject, validatePort, validateString } from './validate';

export function validateConnectOptions(opts: unknown, path: string): asserts opts is ConnectOptions {
  validateObject(opts, path);
  validateString(opts.host, `${path}.host`);
  validatePort(opts.port, `${path}.port`, false);
  validateCommonOptions(opts, path);
  if (opts.sessionTicket !== undefined && !(opts.sessionTicket instanceof Uint8Array)) {
    throw invalidArgType(`${path}.sessionTicket`, 'a Uint8Array', opts.sessionTicket);
  }
  validateBoolean(opts.earlyData, `${path}.earlyData`);
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
    throw invalidArgType(`${path}.signal`, 'an AbortSignal', opts.signal);
  }
}

export function validateServerOptions(opts: unknown, path: string): asserts opts is ServerOptions {
  validateObject(opts, path);
  validateCommonOptions(opts, path);
  validateBoolean(opts.retry, `${path}.retry`);
  validateBoolean(opts.earlyData, `${path}.earlyData`);
  validateInteger(opts.handshakeRateLimit, `${path}.handshakeRateLimit`, 0, 1_000_000);
  validateInteger(opts.maxConnections, `${path}.maxConnections`, 1, 0xffffffff);
}

export function validateListenOptions(opts: unknown, path: string): asserts opts is ListenOptions {
  validateServerOptions(opts, path);
  const o = opts as unknown as Record<string, unknown>;
  if (o.address !== undefined) validateString(o.address, `${path}.address`);
  validatePort(o.port, `${path}.port`, true);
}
