// Argument validation for the public entry points. Every failure throws
// synchronously with a Node-style code and names the dotted option path.
import { invalidArgType, invalidArgValue, outOfRange } from './errors';

/** The largest unsigned 32-bit value: the upper bound of millisecond and count options the native layer keeps in a `u32`. */
export const MAX_U32 = 0xffffffff;

export function validateObject(value: unknown, path: string): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgType(path, 'of type object', value);
  }
}

export function validateOptionalObject(value: unknown, path: string): asserts value is Record<string, unknown> | undefined {
  if (value !== undefined) validateObject(value, path);
}

export function validateString(value: unknown, path: string): asserts value is string {
  if (typeof value !== 'string') throw invalidArgType(path, 'of type string', value);
}

export function validateBoolean(value: unknown, path: string): asserts value is boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw invalidArgType(path, 'of type boolean', value);
}

export function validateFunction(value: unknown, path: string): void {
  if (value !== undefined && typeof value !== 'function') throw invalidArgType(path, 'of type function', value);
}

/** An integer within `[min, max]`, or undefined when `optional`. */
export function validateInteger(value: unknown, path: string, min: number, max: number, optional = true): asserts value is number | undefined {
  if (value === undefined && optional) return;
  if (typeof value !== 'number') throw invalidArgType(path, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(path, `an integer >= ${min} and <= ${max}`, value);
  }
}

/** A local port to bind: 0 (any free port) to 65535. */
export function validatePort(value: unknown, path: string, optional: boolean): asserts value is number | undefined {
  validateInteger(value, path, 0, 65535, optional);
}

/** A port to send to: 1 to 65535 (nothing can be reached at port 0). */
export function validateRemotePort(value: unknown, path: string): asserts value is number {
  validateInteger(value, path, 1, 65535, false);
}

export function validateAlpn(value: unknown, path: string): asserts value is string[] {
  if (!Array.isArray(value)) throw invalidArgType(path, 'an array of strings', value);
  if (value.length === 0) throw invalidArgValue(path, 'must list at least one protocol');
  value.forEach((proto, i) => {
    if (typeof proto !== 'string') throw invalidArgType(`${path}[${i}]`, 'of type string', proto);
    const bytes = Buffer.byteLength(proto);
    if (bytes === 0 || bytes > 255) throw invalidArgValue(`${path}[${i}]`, 'must be 1 to 255 bytes long');
  });
}

export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/** `string | Uint8Array`, or undefined. */
export function validatePemOrDer(value: unknown, path: string): void {
  if (value !== undefined && typeof value !== 'string' && !isBytes(value)) {
    throw invalidArgType(path, 'a string or Buffer', value);
  }
}

/** `string | Uint8Array | Array<string | Uint8Array>`, or undefined. */
export function validateCertList(value: unknown, path: string): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => validatePemOrDer(v, `${path}[${i}]`));
  } else {
    validatePemOrDer(value, path);
  }
}

export function validateBytes(value: unknown, path: string): asserts value is Uint8Array {
  if (!isBytes(value)) throw invalidArgType(path, 'an instance of Buffer or Uint8Array', value);
}
