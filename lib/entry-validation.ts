// Validation of the options objects given to listen() and connect().
import { validateCommonOptions } from './options';
import type { ConnectOptions, ListenOptions, ServerOptions } from './types';
import { invalidArgType, invalidArgValue, outOfRange } from './errors';
import { MAX_U32, validateBoolean, validateFunction, validateInteger, validateObject, validatePort, validateRemotePort, validateString } from './validate';
import { QuicConnectionClass } from './socket-class';
import { validateWebTransportOptions } from './webtransport/options';

const FINGERPRINT = /^[0-9a-fA-F]{64}$/;
/** Bytes per second a relayed flow needs to carry one full relayed packet (1252 bytes plus its 9-byte header) each second. */
const MIN_FLOW_RATE = 1261;

export function validateConnectOptions(opts: unknown, path: string): asserts opts is ConnectOptions {
  validateObject(opts, path);
  if (opts.via === undefined) {
    validateString(opts.host, `${path}.host`);
    validateRemotePort(opts.port, `${path}.port`);
  } else {
    validateRelayedTarget(opts, path);
  }
  validateClientOptions(opts, path);
}

/** The options every outgoing connection takes (TLS, transport, resumption, abort). */
export function validateClientOptions(opts: Record<string, unknown>, path: string): void {
  validateCommonOptions(opts, path);
  if (opts.sessionTicket !== undefined && !(opts.sessionTicket instanceof Uint8Array)) {
    throw invalidArgType(`${path}.sessionTicket`, 'a Uint8Array', opts.sessionTicket);
  }
  validateBoolean(opts.earlyData, `${path}.earlyData`);
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
    throw invalidArgType(`${path}.signal`, 'an AbortSignal', opts.signal);
  }
}

/** The SHA-256 fingerprint naming a peer (`options.peer`). */
export function validateFingerprint(value: unknown, path: string): asserts value is string {
  validateString(value, path);
  if (!FINGERPRINT.test(value)) throw invalidArgValue(path, 'must be a SHA-256 fingerprint: 64 hexadecimal digits');
}

function validateRelayedTarget(opts: Record<string, unknown>, path: string): void {
  if (!(opts.via instanceof QuicConnectionClass())) throw invalidArgType(`${path}.via`, 'a QuicConnection', opts.via);
  validateFingerprint(opts.peer, `${path}.peer`);
  if (opts.host !== undefined || opts.port !== undefined) {
    throw invalidArgValue(`${path}.via`, 'cannot be combined with host and port: a relayed connection goes through the relay');
  }
  if (opts.verifyPeer === false) {
    throw invalidArgValue(`${path}.verifyPeer`, 'cannot be false for a relayed connection: the peer fingerprint is checked end to end');
  }
}

function validateRelayOptions(relay: unknown, path: string): void {
  if (relay === undefined || typeof relay === 'boolean') return;
  validateObject(relay, path);
  validateInteger(relay.maxFlows, `${path}.maxFlows`, 1, 1_000_000);
  validateInteger(relay.maxFlowRate, `${path}.maxFlowRate`, 0, Number.MAX_SAFE_INTEGER);
  if (relay.maxFlowRate !== undefined && relay.maxFlowRate > 0 && relay.maxFlowRate < MIN_FLOW_RATE) {
    throw outOfRange(`${path}.maxFlowRate`, `0 (no limit) or at least ${MIN_FLOW_RATE} (one relayed packet per second)`, relay.maxFlowRate);
  }
  validateFunction(relay.allow, `${path}.allow`);
}

function validateRendezvousOptions(rendezvous: unknown, path: string): void {
  if (rendezvous === undefined || typeof rendezvous === 'boolean') return;
  validateObject(rendezvous, path);
  validateInteger(rendezvous.maxPeers, `${path}.maxPeers`, 1, 1_000_000);
  validateFunction(rendezvous.allow, `${path}.allow`);
}

export function validateServerOptions(opts: unknown, path: string): asserts opts is ServerOptions {
  validateObject(opts, path);
  validateCommonOptions(opts, path);
  validateRelayOptions(opts.relay, `${path}.relay`);
  validateRendezvousOptions(opts.rendezvous, `${path}.rendezvous`);
  validateWebTransportOptions(opts, `${path}.webTransport`);
  validateBoolean(opts.retry, `${path}.retry`);
  validateBoolean(opts.earlyData, `${path}.earlyData`);
  validateInteger(opts.handshakeRateLimit, `${path}.handshakeRateLimit`, 0, 1_000_000);
  validateInteger(opts.maxConnections, `${path}.maxConnections`, 1, MAX_U32);
}

export function validateListenOptions(opts: unknown, path: string): asserts opts is ListenOptions {
  validateServerOptions(opts, path);
  const o = opts as unknown as Record<string, unknown>;
  if (o.address !== undefined) validateString(o.address, `${path}.address`);
  validatePort(o.port, `${path}.port`, true);
}
