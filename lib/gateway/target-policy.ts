// Which UDP destinations a gateway session may reach. Addresses are compared
// as bytes (IPv4-mapped IPv6 addresses are IPv4); special-purpose ranges
// (RFC 6890 and the IANA special-purpose address registries) are named, and
// the `--allow ADDRESS[/PREFIX][:PORT[-PORT]]` rules of the CLI (and of
// `createUdpGateway({ allow: [...] })`) reach a special-purpose address only
// when the rule lies inside its range.
import { invalidArgValue } from '../errors';
import { formatIp, parseIp } from './udp-gateway-client';

/**
 * The special-purpose range a destination lies in, if any (RFC 6890, RFC
 * 1918, RFC 4193, RFC 4291, RFC 6598, RFC 5737, RFC 3849, RFC 2544):
 * `'unspecified'` 0.0.0.0/8, `::`; `'loopback'` 127.0.0.0/8, `::1`;
 * `'private'` 10/8, 172.16/12, 192.168/16, 100.64/10 (shared CGN space),
 * fc00::/7, fec0::/10, 64:ff9b:1::/48; `'link-local'` 169.254/16, fe80::/10;
 * `'multicast'` 224/4, ff00::/8; `'broadcast'` 255.255.255.255;
 * `'reserved'` 192.0.0.0/24, the documentation and benchmarking ranges,
 * 240/4, the IPv4-compatible ::/96, 64:ff9b::/96 (NAT64: it reaches IPv4
 * through a translator), 100::/64, 2001:db8::/32, 3fff::/20.
 */
export type AddressRange = 'unspecified' | 'loopback' | 'private' | 'link-local' | 'multicast' | 'broadcast' | 'reserved';

interface Prefix {
  /** 4 or 16 bytes, with no bits set beyond `length`. */
  bytes: Uint8Array;
  length: number;
}

function prefixOf(text: string): Prefix {
  const [address, length] = text.split('/');
  return { bytes: parseIp(address)!, length: Number(length) };
}

/** Whether `address` (4 or 16 bytes) lies in `prefix`. */
function contains(prefix: Prefix, address: Uint8Array): boolean {
  if (prefix.bytes.length !== address.length) return false;
  const whole = prefix.length >> 3;
  for (let i = 0; i < whole; i++) if (prefix.bytes[i] !== address[i]) return false;
  const bits = prefix.length & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (prefix.bytes[whole] & mask) === (address[whole] & mask);
}

const SPECIAL_RANGES: { prefix: Prefix; range: AddressRange }[] = (
  [
    ['0.0.0.0/8', 'unspecified'],
    ['10.0.0.0/8', 'private'],
    ['100.64.0.0/10', 'private'],
    ['127.0.0.0/8', 'loopback'],
    ['169.254.0.0/16', 'link-local'],
    ['172.16.0.0/12', 'private'],
    ['192.0.0.0/24', 'reserved'],
    ['192.0.2.0/24', 'reserved'],
    ['192.168.0.0/16', 'private'],
    ['198.18.0.0/15', 'reserved'],
    ['198.51.100.0/24', 'reserved'],
    ['203.0.113.0/24', 'reserved'],
    ['224.0.0.0/4', 'multicast'],
    ['240.0.0.0/4', 'reserved'],
    ['255.255.255.255/32', 'broadcast'],
    ['::/128', 'unspecified'],
    ['::1/128', 'loopback'],
    ['::/96', 'reserved'],
    ['64:ff9b::/96', 'reserved'],
    ['64:ff9b:1::/48', 'private'],
    ['100::/64', 'reserved'],
    ['2001:db8::/32', 'reserved'],
    ['3fff::/20', 'reserved'],
    ['fc00::/7', 'private'],
    ['fe80::/10', 'link-local'],
    ['fec0::/10', 'private'],
    ['ff00::/8', 'multicast'],
  ] as const
).map(([text, range]) => ({ prefix: prefixOf(text), range }));

/** The most specific special-purpose range holding `address` (4 or 16 bytes), with its prefix length. */
export function specialRange(address: Uint8Array): { range: AddressRange; length: number } | undefined {
  let best: { range: AddressRange; length: number } | undefined;
  for (const { prefix, range } of SPECIAL_RANGES) {
    if (contains(prefix, address) && (best === undefined || prefix.length > best.length)) best = { range, length: prefix.length };
  }
  return best;
}

/** One parsed `--allow` rule. */
export interface AllowRule {
  prefix: Prefix;
  /** Lowest and highest port allowed. */
  ports: [number, number];
}

const PREFIX_LENGTH = /^(?:0|[1-9][0-9]{0,2})$/;
const PORT = /^[1-9][0-9]{0,4}$/;

function parsePorts(text: string, rule: string, path: string): [number, number] {
  const [low, high = low, extra] = text.split('-');
  const ports = [low, high].map((p) => (PORT.test(p) ? Number(p) : NaN));
  if (extra !== undefined || !ports.every((p) => p <= 65535) || ports[0] > ports[1]) {
    throw invalidArgValue(path, `has a bad port or port range in '${rule}': ports are 1-65535, a range is LOW-HIGH`);
  }
  return [ports[0], ports[1]];
}

/**
 * Parses one rule: `ADDRESS[/PREFIX][:PORT[-PORT]]`, with an IPv6 address in
 * brackets when a port follows (`[2001:db8::/32]:53`, `[::1]:9000`,
 * `2001:db8::/32`). A rule in ::ffff:0:0/96 is read as the IPv4 rule it
 * maps. Throws `ERR_INVALID_ARG_VALUE` naming `path`.
 */
export function parseAllowRule(rule: string, path: string): AllowRule {
  let addressPart = rule;
  let portPart: string | undefined;
  if (rule.startsWith('[')) {
    // [ADDRESS/PREFIX]:PORT or [ADDRESS]/PREFIX:PORT
    const bracketed = /^\[([^\]]*)\](\/[^:]*)?(?::(.*))?$/.exec(rule);
    if (bracketed === null || (bracketed[2] !== undefined && bracketed[1].includes('/'))) {
      throw invalidArgValue(path, `must be ADDRESS[/PREFIX][:PORT], IPv6 in brackets before a port. Received '${rule}'`);
    }
    addressPart = bracketed[1] + (bracketed[2] ?? '');
    portPart = bracketed[3];
  } else if (rule.indexOf(':') === rule.lastIndexOf(':') && rule.includes(':')) {
    [addressPart, portPart] = rule.split(':');
  }
  const [address, length, extra] = addressPart.split('/');
  let bytes = parseIp(address);
  if (bytes === null || extra !== undefined || (length !== undefined && !PREFIX_LENGTH.test(length))) {
    throw invalidArgValue(path, `must be ADDRESS[/PREFIX][:PORT] with an IPv4 or IPv6 address. Received '${rule}'`);
  }
  const written = address.includes(':') ? 128 : 32;
  let prefixLength = length === undefined ? written : Number(length);
  if (prefixLength > written) throw invalidArgValue(path, `has a prefix longer than the address in '${rule}'`);
  if (written === 128 && bytes.length === 4) {
    // An IPv4-mapped rule (parseIp gave the 4 IPv4 bytes).
    if (prefixLength < 96) {
      throw invalidArgValue(path, `spans IPv4-mapped and other IPv6 addresses in '${rule}': write IPv4 rules as IPv4`);
    }
    prefixLength -= 96;
  }
  const prefix = { bytes, length: prefixLength };
  const masked = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixLength - 8 * i));
    masked[i] = bytes[i] & ((0xff << (8 - keep)) & 0xff);
  }
  if (!masked.every((b, i) => b === bytes![i])) {
    throw invalidArgValue(path, `has address bits beyond /${prefixLength} in '${rule}' (the network is ${formatIp(masked)}/${prefixLength})`);
  }
  bytes = masked;
  return { prefix: { ...prefix, bytes }, ports: portPart === undefined ? [1, 65535] : parsePorts(portPart, rule, path) };
}

/**
 * Whether `rules` allow `address` (4 or 16 bytes) and `port`: a rule must
 * contain both, and for a special-purpose address the rule must also lie
 * inside that range (its prefix at least as long), so `0.0.0.0/0` opens the
 * public IPv4 internet but not 127.0.0.1 or 10.0.0.0/8.
 */
export function rulesAllow(rules: readonly AllowRule[], address: Uint8Array, port: number): boolean {
  const special = specialRange(address);
  return rules.some(
    (rule) =>
      port >= rule.ports[0] &&
      port <= rule.ports[1] &&
      contains(rule.prefix, address) &&
      (special === undefined || rule.prefix.length >= special.length),
  );
}
