// `nquic gateway`: a WebTransport-to-UDP gateway for browsers. It prints the
// URL and the certificate hash a page passes to `new WebTransport(url, {
// serverCertificateHashes })`, and renews its self-signed ECDSA P-256
// certificate before browsers stop accepting it (they take at most 14 days of
// validity). Each certificate's hash is announced one renewal period before
// it is put in use, so that pages that accept both the current and the next
// hash keep connecting across renewals.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { createUdpGateway } from '../gateway/gateway';
import type { UdpGateway } from '../gateway/gateway';
import type { UdpGatewayOptions } from '../gateway/options';
import { parseAllowRule } from '../gateway/target-policy';
import { generateCertificate } from '../tls/certificates';

export const GATEWAY_USAGE = `usage: nquic gateway --allow ADDRESS[/PREFIX][:PORT[-PORT]] [--allow …] [options]

  Lets web pages send and receive UDP datagrams through WebTransport
  sessions to https://HOST:PORT/PATH (npm package: nquic/udp-gateway-client).

  --allow RULE           destinations pages may reach (repeatable), e.g.
                         0.0.0.0/0 (public IPv4), ::/0 (public IPv6),
                         127.0.0.1:9000, 10.0.0.0/8:53, [2001:db8::/32]:443;
                         loopback, private, link-local, multicast and other
                         special-purpose addresses need a rule inside them
  --port N               UDP port of the HTTP/3 server (default 4433)
  --address ADDRESS      local address to bind (default ::)
  --host NAME            host name or address for the URL and certificate
                         (default: the bound address, or localhost)
  --path PATH            URL path of the gateway (default /udp)
  --max-sessions N       sessions at once (default 100)
  --max-packet-rate N    datagrams/s per session each way (default 1000, 0 = no limit)
  --max-byte-rate N      bytes/s per session each way (default 1048576, 0 = no limit)
  --idle-timeout MS      close sessions idle this long (default 300000, 0 = never)
  --key FILE --cert FILE use this key and certificate (not renewed) instead of
                         a generated one (renewed every 6 days; the next
                         certificate's hash is printed 6 days ahead)
`;

/** Validity of generated certificates: browsers take at most 14 days for `serverCertificateHashes`. */
export const CERTIFICATE_DAYS = 13;
/**
 * How often the certificate in use is replaced by the next one, made (and
 * its hash announced) one period earlier: each certificate is announced
 * for 6 days, in use for the next 6, and still valid for a day after that.
 */
export const RENEW_AFTER_MS = 6 * 24 * 60 * 60 * 1000;

/** A usage error: printed with the usage, exit status 2. */
export class UsageError extends Error {}

export interface GatewayCliOptions {
  gateway: UdpGatewayOptions;
  /** The host for the URL and the generated certificate's name. */
  host: string;
  /** Whether the certificate is generated here (and renewed). */
  generated: boolean;
}

const FLAG_OF_OPTION: Record<string, string> = {
  'options.port': '--port',
  'options.address': '--address',
  'options.path': '--path',
  'options.maxSessions': '--max-sessions',
  'options.maxPacketRate': '--max-packet-rate',
  'options.maxByteRate': '--max-byte-rate',
  'options.idleTimeout': '--idle-timeout',
};

function integerFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,10}$/.test(value)) throw new UsageError(`${flag} needs a whole number, not '${value}'`);
  return Number(value);
}

/** `nquic gateway` arguments as gateway options. Throws {@link UsageError}. */
export function parseGatewayArgs(args: string[]): GatewayCliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        allow: { type: 'string', multiple: true },
        port: { type: 'string' },
        address: { type: 'string' },
        host: { type: 'string' },
        path: { type: 'string' },
        'max-sessions': { type: 'string' },
        'max-packet-rate': { type: 'string' },
        'max-byte-rate': { type: 'string' },
        'idle-timeout': { type: 'string' },
        key: { type: 'string' },
        cert: { type: 'string' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const rules = values.allow ?? [];
  if (rules.length === 0) throw new UsageError('at least one --allow rule is needed: the gateway reaches nothing by default');
  for (const rule of rules) {
    try {
      parseAllowRule(rule, '--allow');
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  if ((values.key === undefined) !== (values.cert === undefined)) throw new UsageError('--key and --cert go together');
  const address = values.address ?? '::';
  const host = values.host ?? (address === '::' || address === '0.0.0.0' ? 'localhost' : address);
  const gateway: UdpGatewayOptions = {
    address,
    port: integerFlag(values.port, '--port') ?? 4433,
    key: values.key === undefined ? '' : readFileSync(values.key),
    cert: values.cert === undefined ? '' : readFileSync(values.cert),
    path: values.path,
    allow: rules,
    maxSessions: integerFlag(values['max-sessions'], '--max-sessions'),
    maxPacketRate: integerFlag(values['max-packet-rate'], '--max-packet-rate'),
    maxByteRate: integerFlag(values['max-byte-rate'], '--max-byte-rate'),
    idleTimeout: integerFlag(values['idle-timeout'], '--idle-timeout'),
  };
  return { gateway, host, generated: values.key === undefined };
}

/** The page's URL of a gateway. */
export function gatewayUrl(host: string, port: number, path: string): string {
  return `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}${path}`;
}

function hashOf(cert: string | Uint8Array): { hash: string; validTo: string } {
  const x509 = new X509Certificate(cert);
  return { hash: x509.fingerprint256.replace(/:/g, '').toLowerCase(), validTo: new Date(x509.validTo).toISOString() };
}

/** A certificate for pages that pin it by hash: ECDSA P-256, {@link CERTIFICATE_DAYS} days. */
export function gatewayCertificate(host: string): { key: string; cert: string } {
  return generateCertificate({ keyType: 'ecdsa-p256', days: CERTIFICATE_DAYS, subjectAltNames: [host] });
}

export interface RunningGatewayCli {
  gateway: UdpGateway;
  url: string;
  /**
   * Puts the announced next certificate in use now (the timer does it every
   * `renewAfterMs`), makes and announces the one after it, and prints both
   * hashes. Does nothing with a certificate of the user's own.
   */
  renew(): void;
  /** Stops renewing and closes the gateway. */
  close(): Promise<void>;
}

/**
 * Starts the gateway of `nquic gateway`, printing with `log`. Generated
 * certificates are renewed every `renewAfterMs` (tests shorten it).
 */
export async function runGatewayCli(cli: GatewayCliOptions, log: (line: string) => void, renewAfterMs = RENEW_AFTER_MS): Promise<RunningGatewayCli> {
  const options = { ...cli.gateway };
  if (cli.generated) Object.assign(options, gatewayCertificate(cli.host));
  // The certificate that the next renewal puts in use, announced now.
  let next = cli.generated ? gatewayCertificate(cli.host) : undefined;
  let gateway: UdpGateway;
  try {
    gateway = await createUdpGateway(options);
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    if (code?.startsWith('ERR_INVALID_ARG') || code === 'ERR_OUT_OF_RANGE') {
      throw new UsageError(message.replace(/"(options\.[A-Za-z]+)"/, (all, option: string) => FLAG_OF_OPTION[option] ?? all));
    }
    throw err;
  }
  const url = gatewayUrl(cli.host, gateway.address.port, options.path ?? '/udp');
  const certificate = hashOf(options.cert);
  log(`nquic UDP gateway on ${gateway.address.address} port ${gateway.address.port}`);
  log(`  url        ${url}`);
  log(`  sha-256    ${certificate.hash}`);
  log(`  valid to   ${certificate.validTo}`);
  const announced = next && hashOf(next.cert);
  if (announced) log(`  next       ${announced.hash} (in use from ${new Date(Date.now() + renewAfterMs).toISOString()}; pages should accept both)`);
  log(`  allow      ${(cli.gateway.allow as string[]).join(' ')}`);
  const pageHashes = [certificate.hash, ...(announced ? [announced.hash] : [])].map((h) => `'${h}'`).join(', ');
  log(`  page       const hashes = [${pageHashes}].map((hex) => ({ algorithm: 'sha-256', value: Uint8Array.from(hex.match(/../g), (h) => parseInt(h, 16)) }));`);
  log(`             const wt = new WebTransport('${url}', { serverCertificateHashes: hashes });`);
  let timer: NodeJS.Timeout | undefined;
  const renew = (): void => {
    if (!next) return;
    try {
      gateway.setSecureContext(next);
      const { hash, validTo } = hashOf(next.cert);
      next = gatewayCertificate(cli.host);
      const following = hashOf(next.cert).hash;
      const from = new Date(Date.now() + renewAfterMs).toISOString();
      log(`certificate renewed: sha-256 ${hash} (valid to ${validTo}); next sha-256 ${following} (in use from ${from}); pages should accept both`);
    } catch (err) {
      log(`certificate renewal failed: ${(err as Error).message}`);
    }
  };
  const schedule = (): void => {
    timer = setTimeout(() => {
      renew();
      schedule();
    }, renewAfterMs);
  };
  if (cli.generated) schedule();
  return {
    gateway,
    url,
    renew,
    close: () => {
      clearTimeout(timer);
      return gateway.close();
    },
  };
}

/** `nquic gateway …`: runs until SIGINT or SIGTERM, then prints the counters. */
export async function gatewayCommand(args: string[]): Promise<void> {
  const cli = parseGatewayArgs(args);
  // Listen for the signals before anything is printed: whoever reads the URL
  // may stop the gateway at once, and an unhandled SIGTERM would kill the
  // process without its closing counters.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const running = await runGatewayCli(cli, (line) => process.stdout.write(`${line}\n`));
  await stopped;
  const stats = running.gateway.stats();
  await running.close();
  process.stdout.write(`closed: ${JSON.stringify(stats)}\n`);
}
