// The UDP gateway's target policy (lib/gateway/target-policy.ts) and the
// validation of createUdpGateway()'s options (lib/gateway/options.ts).
import { gatewayConfig } from '../lib/gateway/options';
import { parseAllowRule, rulesAllow, specialRange } from '../lib/gateway/target-policy';
import { parseIp } from '../lib/gateway/udp-gateway-client';

function ip(text: string): Uint8Array {
  const bytes = parseIp(text);
  if (bytes === null) throw new Error(`not an IP address: ${text}`);
  return bytes;
}

function allows(rules: string[], address: string, port: number): boolean {
  return rulesAllow(
    rules.map((r, i) => parseAllowRule(r, `rules[${i}]`)),
    ip(address),
    port,
  );
}

describe('specialRange', () => {
  test.each([
    ['0.1.2.3', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.9.8.7', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['224.0.0.251', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::7f00:1', 'reserved'],
    ['64:ff9b::a00:1', 'reserved'],
    ['fd12:3456::1', 'private'],
    ['fe80::1', 'link-local'],
    ['ff02::fb', 'multicast'],
    ['2001:db8::1', 'reserved'],
  ])('%s is %s', (address, range) => {
    expect(specialRange(ip(address))?.range).toBe(range);
  });

  test.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '172.15.255.255', '100.128.0.1', '11.0.0.1', '2606:4700::1111', '2001:4860::8888', '::ffff:8.8.8.8'])(
    '%s is a global address',
    (address) => {
      expect(specialRange(ip(address))).toBeUndefined();
    },
  );
});

describe('--allow rules', () => {
  test.each([
    ['127.0.0.1', '127.0.0.1/32 any port'],
    ['127.0.0.1:9000', '127.0.0.1/32 port 9000'],
    ['10.0.0.0/8', '10/8'],
    ['10.0.0.0/8:53', '10/8 port 53'],
    ['10.0.0.0/8:9000-9100', '10/8 ports 9000-9100'],
    ['0.0.0.0/0', 'everything IPv4'],
    ['::/0', 'everything IPv6'],
    ['::1', '::1'],
    ['[::1]:5353', '::1 port 5353'],
    ['[2001:db8::]/32:53', '2001:db8::/32 port 53'],
    ['[2001:db8::/32]:53', '2001:db8::/32 port 53'],
    ['::ffff:10.0.0.0/104', '10/8 as IPv4'],
  ])('%s parses (%s)', (rule) => {
    expect(() => parseAllowRule(rule, 'options.allow[0]')).not.toThrow();
  });

  test.each([
    'localhost',
    '',
    '10.0.0.0/33',
    '10.0.0.0/08',
    '10.0.0.1/8',
    '10.0.0.0/8/8',
    '10.0.0.0/8:0',
    '10.0.0.0/8:65536',
    '10.0.0.0/8:100-90',
    '10.0.0.0/8:1-2-3',
    '10.0.0.0/8:',
    '1.2.3.4:053',
    '[::1',
    '[::1]x',
    '[::1]:',
    '::1/129',
    '::ffff:0:0/95',
    '[10.0.0.1]:53:54',
    '[::1/128]/128',
  ])('%j is refused with ERR_INVALID_ARG_VALUE naming the option', (rule) => {
    expect(() => parseAllowRule(rule, 'options.allow[3]')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('"options.allow[3]"') }));
  });

  test('a rule allows the addresses and ports it covers', () => {
    expect(allows(['127.0.0.1:9000'], '127.0.0.1', 9000)).toBe(true);
    expect(allows(['127.0.0.1:9000'], '127.0.0.1', 9001)).toBe(false);
    expect(allows(['127.0.0.1:9000'], '127.0.0.2', 9000)).toBe(false);
    expect(allows(['10.0.0.0/8:9000-9100'], '10.200.1.1', 9100)).toBe(true);
    expect(allows(['10.0.0.0/8:9000-9100'], '10.200.1.1', 9101)).toBe(false);
    expect(allows(['[2001:db8::/32]:53'], '2001:db8:ffff::1', 53)).toBe(true);
    expect(allows(['[2001:db8::/32]:53'], '2001:db9::1', 53)).toBe(false);
    expect(allows(['93.184.0.0/16'], '93.184.215.14', 1)).toBe(true);
    expect(allows(['93.184.0.0/17'], '93.184.215.14', 1)).toBe(false);
  });

  test('0.0.0.0/0 and ::/0 open global addresses only; special-purpose ones need a rule inside their range', () => {
    const everything = ['0.0.0.0/0', '::/0'];
    expect(allows(everything, '8.8.8.8', 53)).toBe(true);
    expect(allows(everything, '2606:4700::1111', 53)).toBe(true);
    for (const special of ['127.0.0.1', '10.1.2.3', '192.168.0.1', '169.254.169.254', '224.0.0.251', '255.255.255.255', '0.1.2.3', '::1', 'fe80::1', 'fd00::1', 'ff02::1', '64:ff9b::a00:1']) {
      expect({ special, allowed: allows(everything, special, 53) }).toEqual({ special, allowed: false });
    }
    expect(allows(['127.0.0.0/8'], '127.0.0.1', 53)).toBe(true);
    expect(allows(['126.0.0.0/7'], '127.0.0.1', 53)).toBe(false);
    expect(allows(['10.0.0.0/8'], '10.1.2.3', 53)).toBe(true);
    expect(allows(['10.0.0.0/7'], '10.1.2.3', 53)).toBe(false);
    expect(allows(['10.0.0.0/7'], '11.1.2.3', 53)).toBe(true);
    expect(allows(['::1'], '::1', 53)).toBe(true);
    expect(allows(['255.255.255.255'], '255.255.255.255', 53)).toBe(true);
    // A broadcast address is more specific than the reserved 240/4 around it.
    expect(allows(['240.0.0.0/4'], '255.255.255.255', 53)).toBe(false);
    expect(allows(['240.0.0.0/4'], '240.0.0.1', 53)).toBe(true);
  });

  test('IPv4-mapped rules and targets are IPv4; ::/0 does not cover IPv4', () => {
    expect(allows(['::ffff:127.0.0.1'], '127.0.0.1', 53)).toBe(true);
    expect(allows(['127.0.0.1'], '::ffff:127.0.0.1', 53)).toBe(true);
    expect(allows(['::ffff:0:0/96'], '8.8.8.8', 53)).toBe(true);
    expect(allows(['::/0'], '8.8.8.8', 53)).toBe(false);
  });
});

describe('createUdpGateway options', () => {
  const base = { key: 'k', cert: 'c', allow: ['0.0.0.0/0'] };

  test('defaults', () => {
    const config = gatewayConfig(base);
    expect(config).toEqual({
      path: '/udp',
      allow: [expect.objectContaining({ ports: [1, 65535] })],
      maxSessions: 100,
      maxPacketRate: 1000,
      maxByteRate: 1048576,
      idleTimeout: 300000,
      maxTargets: 1024,
      mappingTimeout: 120000,
    });
  });

  test.each([
    ['no options', undefined, 'ERR_INVALID_ARG_TYPE', 'options'],
    ['no allow', { key: 'k', cert: 'c' }, 'ERR_INVALID_ARG_TYPE', 'options.allow'],
    ['allow of the wrong type', { ...base, allow: '0.0.0.0/0' }, 'ERR_INVALID_ARG_TYPE', 'options.allow'],
    ['a bad rule', { ...base, allow: ['0.0.0.0/0', 'example.com'] }, 'ERR_INVALID_ARG_VALUE', 'options.allow[1]'],
    ['a rule that is no string', { ...base, allow: [7] }, 'ERR_INVALID_ARG_TYPE', 'options.allow[0]'],
    ['no key', { cert: 'c', allow: [] }, 'ERR_INVALID_ARG_TYPE', 'options.key'],
    ['no cert', { key: 'k', allow: [] }, 'ERR_INVALID_ARG_TYPE', 'options.cert'],
    ['a path without /', { ...base, path: 'udp' }, 'ERR_INVALID_ARG_VALUE', 'options.path'],
    ['a path with a query', { ...base, path: '/udp?x' }, 'ERR_INVALID_ARG_VALUE', 'options.path'],
    ['port 65536', { ...base, port: 65536 }, 'ERR_OUT_OF_RANGE', 'options.port'],
    ['maxSessions 0', { ...base, maxSessions: 0 }, 'ERR_OUT_OF_RANGE', 'options.maxSessions'],
    ['maxPacketRate -1', { ...base, maxPacketRate: -1 }, 'ERR_OUT_OF_RANGE', 'options.maxPacketRate'],
    ['maxByteRate 1.5', { ...base, maxByteRate: 1.5 }, 'ERR_OUT_OF_RANGE', 'options.maxByteRate'],
    ['idleTimeout as a string', { ...base, idleTimeout: '1000' }, 'ERR_INVALID_ARG_TYPE', 'options.idleTimeout'],
    ['maxTargets 0', { ...base, maxTargets: 0 }, 'ERR_OUT_OF_RANGE', 'options.maxTargets'],
    ['mappingTimeout 0', { ...base, mappingTimeout: 0 }, 'ERR_OUT_OF_RANGE', 'options.mappingTimeout'],
  ])('%s: %s naming %s', (_name, opts, code, path) => {
    expect(() => gatewayConfig(opts)).toThrow(expect.objectContaining({ code, message: expect.stringContaining(`"${path}"`) }));
  });
});
