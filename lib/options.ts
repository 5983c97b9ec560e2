// Option validation and conversion into the native config object.
import { rootCertificates } from 'node:tls';
import native from './binding';
import type { NativeConfigOptions } from '../index.js';
import { callNative } from './errors';
import type { ConnectOptions, PemOrDer, ServerOptions, TlsOptions, TransportOptions } from './types';
import {
  MAX_U32,
  validateAlpn,
  validateBoolean,
  validateCertList,
  validateFunction,
  validateInteger,
  validatePemOrDer,
  validateString,
} from './validate';
import { invalidArgValue } from './errors';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/**
 * The smallest flow-control window that lets data flow: the receiver grants
 * more credit once less than half of its window is left unused, and half of
 * a 1-byte window is 0, so a 1-byte window stops after the first byte (and a
 * 0-byte one before it). From 2 bytes up, windows also grow by auto-tuning.
 */
export const MIN_FLOW_WINDOW = 2;
const CONGESTION_CONTROLS = ['cubic', 'reno', 'bbr2'];

/** Validates the TLS and transport options shared by clients and servers. */
export function validateCommonOptions(opts: Record<string, unknown>, path: string): void {
  validateAlpn(opts.alpn, `${path}.alpn`);
  validatePemOrDer(opts.key, `${path}.key`);
  validateCertList(opts.cert, `${path}.cert`);
  validateCertList(opts.ca, `${path}.ca`);
  validateBoolean(opts.verifyPeer, `${path}.verifyPeer`);
  validateFunction(opts.verify, `${path}.verify`);
  if (opts.serverName !== undefined) validateString(opts.serverName, `${path}.serverName`);
  if (opts.keylog !== undefined && typeof opts.keylog !== 'string') validateFunction(opts.keylog, `${path}.keylog`);
  if (opts.qlog !== undefined && typeof opts.qlog !== 'string') validateFunction(opts.qlog, `${path}.qlog`);
  validateInteger(opts.idleTimeout, `${path}.idleTimeout`, 0, MAX_U32);
  validateInteger(opts.keepAlive, `${path}.keepAlive`, 0, MAX_U32);
  validateInteger(opts.timeout, `${path}.timeout`, 1, MAX_U32);
  validateInteger(opts.maxStreamsBidi, `${path}.maxStreamsBidi`, 0, MAX_SAFE);
  validateInteger(opts.maxStreamsUni, `${path}.maxStreamsUni`, 0, MAX_SAFE);
  validateInteger(opts.streamWindow, `${path}.streamWindow`, MIN_FLOW_WINDOW, MAX_SAFE);
  validateInteger(opts.connectionWindow, `${path}.connectionWindow`, MIN_FLOW_WINDOW, MAX_SAFE);
  validateBoolean(opts.datagrams, `${path}.datagrams`);
  validateInteger(opts.datagramQueueLength, `${path}.datagramQueueLength`, 1, 1 << 20);
  if (opts.congestionControl !== undefined) {
    validateString(opts.congestionControl, `${path}.congestionControl`);
    if (!CONGESTION_CONTROLS.includes(opts.congestionControl)) {
      throw invalidArgValue(`${path}.congestionControl`, `must be one of ${CONGESTION_CONTROLS.join(', ')}`);
    }
  }
}

function toBuffer(value: PemOrDer): Buffer {
  if (typeof value === 'string') return Buffer.from(value);
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function toBufferList(value: PemOrDer | PemOrDer[] | undefined): Buffer[] | undefined {
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value : [value]).map(toBuffer);
}

let defaultRootsInstalled = false;

/** Installs Node's bundled CA roots as the native default trust store, once. */
function ensureDefaultRoots(): void {
  if (defaultRootsInstalled) return;
  callNative(() => native.setDefaultRoots([...rootCertificates]));
  defaultRootsInstalled = true;
}

function transport(opts: TransportOptions & { timeout?: number }): Partial<NativeConfigOptions> {
  return {
    idleTimeout: opts.idleTimeout,
    keepAlive: opts.keepAlive,
    handshakeTimeout: opts.timeout,
    maxStreamsBidi: opts.maxStreamsBidi,
    maxStreamsUni: opts.maxStreamsUni,
    streamWindow: opts.streamWindow,
    connectionWindow: opts.connectionWindow,
    datagrams: opts.datagrams,
    datagramQueueLength: opts.datagramQueueLength,
    congestionControl: opts.congestionControl,
  };
}

function identity(opts: TlsOptions): Pick<NativeConfigOptions, 'key' | 'certs'> {
  return {
    key: opts.key === undefined ? undefined : toBuffer(opts.key),
    certs: toBufferList(opts.cert),
  };
}

function verification(opts: TlsOptions, verifyPeer: boolean): Pick<NativeConfigOptions, 'verifyPeer' | 'verifyHook' | 'ca' | 'keylog' | 'qlog'> {
  const verifyHook = typeof opts.verify === 'function';
  if ((verifyPeer || verifyHook) && opts.ca === undefined) ensureDefaultRoots();
  return { verifyPeer, verifyHook, ca: toBufferList(opts.ca), keylog: opts.keylog !== undefined, qlog: opts.qlog !== undefined };
}

/** `webTransport`: HTTP/3 and WebTransport when the server picks ALPN `h3` (the W3C client). */
export function clientConfig(opts: ConnectOptions, webTransport = false): InstanceType<typeof native.NativeConfig> {
  return callNative(() => new native.NativeConfig({
    isServer: false,
    alpn: opts.alpn,
    earlyData: opts.earlyData ?? false,
    webTransport,
    ...verification(opts, opts.verifyPeer ?? true),
    ...identity(opts),
    ...transport(opts),
  }));
}

export function serverConfig(opts: ServerOptions, ticketKey: Buffer): InstanceType<typeof native.NativeConfig> {
  return callNative(() => new native.NativeConfig({
    isServer: true,
    alpn: opts.alpn,
    earlyData: opts.earlyData ?? false,
    ticketKey,
    retry: opts.retry ?? false,
    handshakeRateLimit: opts.handshakeRateLimit,
    // Relays and rendezvous name their peers by their certificates.
    requestCert: (opts.relay !== undefined && opts.relay !== false) || (opts.rendezvous !== undefined && opts.rendezvous !== false),
    webTransport: opts.webTransport !== undefined && opts.webTransport !== false,
    webTransportMaxSessions: typeof opts.webTransport === 'object' ? opts.webTransport.maxSessions : undefined,
    ...verification(opts, opts.verifyPeer ?? false),
    ...identity(opts),
    ...transport(opts),
  }));
}
