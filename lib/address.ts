// Address helpers: reported addresses are normalised (IPv4-mapped IPv6
// becomes IPv4); outgoing destinations are decoded from the native
// transmit rows without building strings for repeated destinations.
import { isIP } from 'node:net';
import type { Address } from './types';

const MAPPED_PREFIX = '::ffff:';

export function toAddress(address: string, port: number): Address {
  if (address.toLowerCase().startsWith(MAPPED_PREFIX) && isIP(address.slice(MAPPED_PREFIX.length)) === 4) {
    address = address.slice(MAPPED_PREFIX.length);
  }
  return { address, port, family: isIP(address) === 6 ? 'IPv6' : 'IPv4' };
}

function v4(word: number): string {
  return `${word >>> 24}.${(word >>> 16) & 255}.${(word >>> 8) & 255}.${word & 255}`;
}

function v6(w0: number, w1: number, w2: number, w3: number): string {
  if (w0 === 0 && w1 === 0 && w2 === 0xffff) return MAPPED_PREFIX + v4(w3);
  const groups: string[] = [];
  for (const w of [w0, w1, w2, w3]) groups.push((w >>> 16).toString(16), (w & 0xffff).toString(16));
  return groups.join(':');
}

/** Decodes `[family, w0..w3]` at `meta[at]`, remembering recent results. */
export class DestinationCache {
  readonly #v4 = new Map<number, string>();
  #last6: [number, number, number, number, string] = [-1, -1, -1, -1, ''];

  ip(meta: Uint32Array, at: number): string {
    if (meta[at] === 4) {
      const word = meta[at + 1];
      let ip = this.#v4.get(word);
      if (ip === undefined) {
        if (this.#v4.size > 4096) this.#v4.clear();
        ip = v4(word);
        this.#v4.set(word, ip);
      }
      return ip;
    }
    const l = this.#last6;
    const [w0, w1, w2, w3] = [meta[at + 1], meta[at + 2], meta[at + 3], meta[at + 4]];
    if (l[0] !== w0 || l[1] !== w1 || l[2] !== w2 || l[3] !== w3) {
      this.#last6 = [w0, w1, w2, w3, v6(w0, w1, w2, w3)];
    }
    return this.#last6[4];
  }
}
