// Certificates for tests, demos and peer-to-peer identities.
import native from '../binding';
import { callNative } from '../errors';
import type { PemOrDer } from '../types';
import { invalidArgValue } from '../errors';
import { validateBytes, validateInteger, validateOptionalObject, validatePemOrDer, validateString } from '../validate';

export interface GenerateCertificateOptions {
  /** DNS names and IP addresses; the first is also the common name. Default ['localhost']. */
  subjectAltNames?: string[];
  keyType?: 'ed25519' | 'ecdsa-p256' | 'rsa-2048';
  /** Validity in days. Default 365. */
  days?: number;
  /** Sign with this CA instead of self-signing. */
  ca?: { key: PemOrDer; cert: PemOrDer };
  /** Make the new certificate a CA (for building test PKIs). */
  isCa?: boolean;
}

export interface GeneratedCertificate {
  key: string;
  cert: string;
  /** SHA-256 of the certificate's DER, lowercase hex. */
  fingerprint: string;
}

const KEY_TYPES = ['ed25519', 'ecdsa-p256', 'rsa-2048'];

function toBuffer(v: PemOrDer): Buffer {
  return typeof v === 'string' ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Creates a private key and an X.509 certificate (PEM). */
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

/** SHA-256 of a DER certificate, lowercase hex. */
export function certificateFingerprint(der: Uint8Array): string {
  validateBytes(der, 'der');
  return native.certificateFingerprint(der);
}
