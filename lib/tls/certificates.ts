// Certificates for tests, demos and peer-to-peer identities.
import native from '../binding';
import { callNative } from '../errors';
import type { PemOrDer } from '../types';
import { invalidArgValue } from '../errors';
import { validateBytes, validateInteger, validateOptionalObject, validatePemOrDer, validateString } from '../validate';

/** Options of {@link generateCertificate}. */
export interface GenerateCertificateOptions {
  /** DNS names and IP addresses for the subjectAltName extension; the first is also the subject's common name. Default `['localhost']`. */
  subjectAltNames?: string[];
  /** Key algorithm. Default `'ecdsa-p256'`. `'ecdsa-p256'` with `days` ≤ 14 suits WebTransport's `serverCertificateHashes`. */
  keyType?: 'ed25519' | 'ecdsa-p256' | 'rsa-2048';
  /** Validity in days from now, 1-36500. Default 365. */
  days?: number;
  /** Sign with this CA instead of self-signing. */
  ca?: {
    /** The CA's private key. */
    key: PemOrDer;
    /** The CA's certificate (made with `isCa: true`). */
    cert: PemOrDer;
  };
  /** Make the new certificate a CA (basicConstraints CA:TRUE, keyCertSign), for building test PKIs. Default false. */
  isCa?: boolean;
}

/** A new key and certificate from {@link generateCertificate}. */
export interface GeneratedCertificate {
  /** The private key, PEM (PKCS #8). */
  key: string;
  /** The X.509 certificate, PEM. */
  cert: string;
  /** SHA-256 of the certificate's DER, lowercase hex: what {@link RelayedConnectOptions.peer} and {@link PeerInfo.fingerprint} use. */
  fingerprint: string;
}

const KEY_TYPES = ['ed25519', 'ecdsa-p256', 'rsa-2048'];

function toBuffer(v: PemOrDer): Buffer {
  return typeof v === 'string' ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/**
 * Creates a private key and an X.509 certificate (PEM), self-signed or signed
 * by `opts.ca`: identities for peer-to-peer nodes, tests and demos. Bad
 * options throw `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` /
 * `ERR_OUT_OF_RANGE`; an unusable CA key or certificate throws
 * `ERR_QUIC_INVALID_KEY` / `ERR_QUIC_INVALID_CERTIFICATE`.
 *
 * {@includeCode ../../examples/mutual-tls.mjs#pki}
 */
export function generateCertificate(opts: GenerateCertificateOptions = {}): GeneratedCertificate {
  validateOptionalObject(opts, 'options');
  const names = opts.subjectAltNames ?? ['localhost'];
  if (!Array.isArray(names)) throw invalidArgValue('options.subjectAltNames', 'must be an array of strings');
  names.forEach((n, i) => validateString(n, `options.subjectAltNames[${i}]`));
  if (opts.keyType !== undefined && !KEY_TYPES.includes(opts.keyType)) {
    throw invalidArgValue('options.keyType', `must be one of ${KEY_TYPES.join(', ')}`);
  }
  validateInteger(opts.days, 'options.days', 1, 36500);
  if (opts.ca !== undefined) {
    validateOptionalObject(opts.ca, 'options.ca');
    validatePemOrDer(opts.ca.key, 'options.ca.key');
    validatePemOrDer(opts.ca.cert, 'options.ca.cert');
  }
  return callNative(() =>
    native.generateCertificate({
      subjectAltNames: names,
      keyType: opts.keyType,
      days: opts.days,
      caKey: opts.ca ? toBuffer(opts.ca.key) : undefined,
      caCert: opts.ca ? toBuffer(opts.ca.cert) : undefined,
      isCa: opts.isCa,
    }),
  );
}

/**
 * SHA-256 of a DER certificate (e.g. one of {@link QuicConnection.peerCertificates}),
 * as 64 lowercase hex digits: the fingerprint used to pin and name peers.
 *
 * {@includeCode ../../examples/pinning.mjs#pinning}
 */
export function certificateFingerprint(der: Uint8Array): string {
  validateBytes(der, 'der');
  return native.certificateFingerprint(der);
}
