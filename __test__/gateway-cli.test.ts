// `nquic gateway` (lib/cli/gateway.ts): its arguments, what it prints, and
// the renewal of its certificate.
import { X509Certificate } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CERTIFICATE_DAYS, gatewayCertificate, gatewayUrl, parseGatewayArgs, runGatewayCli, UsageError } from '../lib/cli/gateway';
import { WebTransport } from '../lib';
import { certFor, tempDir, trackServer, withTimeout } from './helpers';

const ROOT = path.resolve(__dirname, '..');

describe('nquic gateway arguments', () => {
  test('rules, numbers and defaults become gateway options', () => {
    const cli = parseGatewayArgs(['--allow', '0.0.0.0/0', '--allow', '[::1]:9000', '--port', '0', '--max-sessions', '5', '--max-packet-rate', '0', '--idle-timeout', '1000']);
    expect(cli).toEqual({
      host: 'localhost',
      generated: true,
      gateway: expect.objectContaining({ address: '::', port: 0, allow: ['0.0.0.0/0', '[::1]:9000'], maxSessions: 5, maxPacketRate: 0, idleTimeout: 1000, maxByteRate: undefined }),
    });
    expect(parseGatewayArgs(['--allow', '::/0', '--address', '127.0.0.1']).host).toBe('127.0.0.1');
    expect(parseGatewayArgs(['--allow', '::/0', '--address', '127.0.0.1', '--host', 'gw.example']).host).toBe('gw.example');
  });

  test('--key and --cert are read from files and not renewed', () => {
    const dir = tempDir('nquic-gateway-');
    const { key, cert } = certFor('ecdsa-p256');
    fs.writeFileSync(path.join(dir, 'key.pem'), key);
    fs.writeFileSync(path.join(dir, 'cert.pem'), cert);
    const cli = parseGatewayArgs(['--allow', '::/0', '--key', path.join(dir, 'key.pem'), '--cert', path.join(dir, 'cert.pem')]);
    expect(cli.generated).toBe(false);
    expect(cli.gateway.cert.toString()).toBe(cert);
    fs.rmSync(dir, { recursive: true });
  });

  test.each([
    [[], /at least one --allow/],
    [['--allow', 'example.com'], /"--allow" argument must be ADDRESS/],
    [['--allow', '10.0.0.1/8'], /bits beyond \/8/],
    [['--allow', '::/0', '--port', 'x'], /--port needs a whole number/],
    [['--allow', '::/0', '--port=-1'], /--port needs a whole number/],
    [['--allow', '::/0', '--bogus'], /Unknown option '--bogus'/],
    [['--allow', '::/0', 'extra'], /positional/],
    [['--allow', '::/0', '--key', 'k.pem'], /--key and --cert go together/],
  ])('%j is a usage error', (args, message) => {
    expect(() => parseGatewayArgs(args as string[])).toThrow(UsageError);
    expect(() => parseGatewayArgs(args as string[])).toThrow(message);
  });

  test('out-of-range numbers name the flag', async () => {
    const cli = parseGatewayArgs(['--allow', '::/0', '--port', '0', '--address', '127.0.0.1', '--max-sessions', '0']);
    await expect(runGatewayCli(cli, () => {})).rejects.toThrow(/--max-sessions is out of range/);
  });

  test('URLs bracket IPv6 hosts', () => {
    expect(gatewayUrl('::1', 4433, '/udp')).toBe('https://[::1]:4433/udp');
    expect(gatewayUrl('gw.example', 443, '/x')).toBe('https://gw.example:443/x');
  });
});

describe('nquic gateway certificate', () => {
  test(`prints the URL and the hash of an ECDSA P-256 certificate valid ${CERTIFICATE_DAYS} days, and announces each next hash one renewal ahead`, async () => {
    const lines: string[] = [];
    let renewed: () => void = () => {};
    const renewal = new Promise<void>((resolve) => {
      renewed = resolve;
    });
    const cli = parseGatewayArgs(['--allow', '127.0.0.1', '--port', '0', '--address', '127.0.0.1']);
    const running = await runGatewayCli(
      cli,
      (line) => {
        lines.push(line);
        if (line.startsWith('certificate renewed')) renewed();
      },
      200,
    );
    trackServer(running, 'gateway cli');
    expect(running.url).toBe(`https://127.0.0.1:${running.gateway.address.port}/udp`);
    expect(lines).toContain(`  url        ${running.url}`);
    const first = /sha-256 {4}([0-9a-f]{64})/.exec(lines.join('\n'))?.[1];
    const announced = /next {7}([0-9a-f]{64}) \(in use from /.exec(lines.join('\n'))?.[1];
    expect(first).toBeDefined();
    expect(announced).toBeDefined();
    expect(announced).not.toBe(first);
    // The page line carries both hashes.
    expect(lines.find((l) => l.startsWith('  page'))).toContain(`['${first}', '${announced}']`);
    await withTimeout(renewal, 10_000, 'a renewal');
    const rotation = /certificate renewed: sha-256 ([0-9a-f]{64}) .*; next sha-256 ([0-9a-f]{64}) /.exec(lines.join('\n'));
    expect(rotation?.[1]).toBe(announced); // the certificate put in use is the one announced
    expect(rotation?.[2]).not.toBe(announced);
    expect(rotation?.[2]).not.toBe(first);
  });

  test('after a renewal new sessions get the new certificate: its hash opens one, the old hash no longer does', async () => {
    const lines: string[] = [];
    const running = await runGatewayCli(parseGatewayArgs(['--allow', '127.0.0.1', '--port', '0', '--address', '127.0.0.1']), (line) => lines.push(line));
    trackServer(running, 'gateway cli');
    const hashes = (hex: string) => ({ serverCertificateHashes: [{ algorithm: 'sha-256' as const, value: Buffer.from(hex, 'hex') }] });
    const first = /sha-256 {4}([0-9a-f]{64})/.exec(lines.join('\n'))![1];
    const announced = /next {7}([0-9a-f]{64})/.exec(lines.join('\n'))![1];
    const both = (): WebTransport =>
      new WebTransport(running.url, { serverCertificateHashes: [first, announced].map((hex) => ({ algorithm: 'sha-256' as const, value: Buffer.from(hex, 'hex') })) });
    const before = new WebTransport(running.url, hashes(first));
    await withTimeout(before.ready, 5000, 'a session with the first hash');
    const pageBefore = both();
    await withTimeout(pageBefore.ready, 5000, 'a page that accepts both hashes, before the renewal');
    running.renew();
    // A page that took both announced hashes keeps connecting.
    const pageAfter = both();
    await withTimeout(pageAfter.ready, 5000, 'a page that accepts both hashes, after the renewal');
    const second = /certificate renewed: sha-256 ([0-9a-f]{64})/.exec(lines.join('\n'))![1];
    const fresh = new WebTransport(running.url, hashes(second));
    await withTimeout(fresh.ready, 5000, 'a session with the new hash');
    const stale = new WebTransport(running.url, hashes(first));
    await expect(withTimeout(stale.ready, 5000, 'a session with the old hash')).rejects.toThrow();
    // The sessions opened before the renewal go on.
    expect(running.gateway.stats().sessions).toBe(4);
    for (const wt of [before, pageBefore, pageAfter, fresh]) wt.close();
  });

  test('generated certificates meet the browsers\' rules for serverCertificateHashes', () => {
    const x509 = new X509Certificate(gatewayCertificate('localhost').cert);
    expect(x509.publicKey.asymmetricKeyType).toBe('ec');
    expect(x509.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const days = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / 86_400_000;
    expect(days).toBeLessThanOrEqual(14);
  });

  test('the command prints the URL and hash, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli', 'main.js'), 'gateway', '--allow', '127.0.0.1', '--port', '0', '--address', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await withTimeout(
      (async () => {
        while (!/sha-256 {4}[0-9a-f]{64}/.test(out)) await new Promise((resolve) => setTimeout(resolve, 20));
      })(),
      20_000,
      'the printed hash',
    ).catch((err) => {
      child.kill('SIGKILL');
      throw err;
    });
    expect(out).toMatch(/url {8}https:\/\/127\.0\.0\.1:\d+\/udp/);
    child.kill('SIGTERM');
    expect(await withTimeout(exited, 10_000, 'the gateway exiting')).toBe(0);
    expect(out).toMatch(/^closed: \{"sessions":0/m);
  });
});
