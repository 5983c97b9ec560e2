// A real NAT forgets a connection mid-transfer (issue 15): the client sits in
// a network namespace behind a masquerading Linux NAT (fully-random ports),
// the server on the public side. In the middle of each of three transfers
// (an echo, a download, an upload) the test flushes the NAT's conntrack
// table, so the NAT gives the flow a new public port; packets the server
// still sends to the old one are dropped. Every transfer must complete
// intact, and the server must count one path change per flush.
//
// Topology: __test__/integration/netns-nat.sh ("symmetric" mode); the client
// runs in namespace a (192.168.41.2, NAT A 10.99.1.2), the server in pub
// (10.99.0.1). Needs root and the conntrack tool; skipped with the reason
// where they are missing.
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCertificate } from '../../lib';
import { NetnsSuite, probe, run } from './netns-env';

const HERE = join(__dirname, 'rebind-nat');
const NETNS = join(__dirname, 'netns-nat.sh');
const NS_PREFIX = 'nqrb';
const PREFIX = `${NS_PREFIX}${process.pid}`;
const SERVER = { host: '10.99.0.1', port: 4433 };
const CLIENT_ADDRESS = '192.168.41.2';
const SIZE = 32 * 1024 * 1024;
const FLUSH_AFTER = 4 * 1024 * 1024;
const TRANSFERS = 3;
const CHILD_DEADLINE_MS = 50_000;

const SUITE: NetnsSuite = {
  nsPrefix: NS_PREFIX,
  script: NETNS,
  masquerade: { nft: 'masquerade fully-random', iptables: ['-j', 'MASQUERADE', '--random-fully'] },
};
const noConntrack = run('conntrack', ['--version']).ok ? undefined : 'the conntrack tool is not installed (apt-get install -y conntrack)';
if (noConntrack !== undefined && process.env.NQUIC_REQUIRE_NETNS === '1') throw new Error(`this suite must run here (NQUIC_REQUIRE_NETNS=1) but cannot: ${noConntrack}`);
const skipReason = probe(SUITE) ?? noConntrack;

interface Child {
  proc: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

function start(ns: string, script: string, cfg: object): Child {
  const proc = spawn('ip', ['netns', 'exec', `${PREFIX}-${ns}`, process.execPath, join(HERE, script), JSON.stringify(cfg)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const child: Child = { proc, stdout: '', stderr: '', exited: Promise.resolve(null) };
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (child.stdout += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (child.stderr += d));
  const killer = setTimeout(() => proc.kill('SIGKILL'), CHILD_DEADLINE_MS + 5000);
  child.exited = new Promise((resolve) => {
    proc.on('exit', (code) => {
      clearTimeout(killer);
      resolve(code);
    });
    proc.on('error', (err) => {
      child.stderr += `spawn error: ${err.message}\n`;
      clearTimeout(killer);
      resolve(null);
    });
  });
  return child;
}

function lines(child: Child, tag: string): string[] {
  return child.stdout
    .split('\n')
    .filter((l) => l.startsWith(`${tag} `))
    .map((l) => l.slice(tag.length + 1));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The public port NAT A gives the client's flow to the server, if it has one. */
function mappedPort(): number | undefined {
  const r = run('ip', ['netns', 'exec', `${PREFIX}-nata`, 'conntrack', '-L', '-p', 'udp']);
  // The client's own flow (not an entry the server's packets to a forgotten port created).
  const line = r.out.split('\n').find((l) => l.includes(`src=${CLIENT_ADDRESS} `) && l.includes(`dport=${SERVER.port} `));
  const ports = line ? [...line.matchAll(/dport=(\d+)/g)].map((m) => Number(m[1])) : [];
  return ports.length === 2 ? ports[1] : undefined;
}

/**
 * Flushes NAT A's conntrack table until the client's next packet gets a new
 * public port (fully-random ports make the old one come back only by chance).
 */
async function flushUntilNewPort(): Promise<{ from?: number; to?: number }> {
  const from = mappedPort();
  for (let attempt = 0; attempt < 5; attempt++) {
    const flushed = run('ip', ['netns', 'exec', `${PREFIX}-nata`, 'conntrack', '-F']);
    if (!flushed.ok) throw new Error(`conntrack -F failed: ${flushed.out}`);
    let to: number | undefined;
    for (let i = 0; i < 100 && to === undefined; i++) {
      await sleep(20);
      to = mappedPort();
    }
    if (to !== undefined && to !== from) return { from, to };
  }
  throw new Error(`NAT A kept port ${from} after 5 conntrack flushes`);
}

(skipReason ? describe.skip : describe)(`a NAT that forgets the flow mid-transfer${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let certDir = '';
  beforeAll(() => {
    certDir = mkdtempSync(join(tmpdir(), 'nquic-rebind-'));
    const { key, cert } = generateCertificate({ subjectAltNames: ['localhost'] });
    writeFileSync(join(certDir, 'key.pem'), key);
    writeFileSync(join(certDir, 'cert.pem'), cert);
    const up = run('bash', [NETNS, 'up', PREFIX, 'symmetric']);
    if (!up.ok) throw new Error(`netns-nat.sh up failed: ${up.out}`);
  });
  afterAll(() => {
    run('bash', [NETNS, 'down', PREFIX]);
    rmSync(certDir, { recursive: true, force: true });
  });

  test('conntrack -F in the middle of an echo, a download and an upload: each completes intact on the new port', async () => {
    const server = start('pub', 'server.js', {
      address: SERVER.host,
      port: SERVER.port,
      key: join(certDir, 'key.pem'),
      cert: join(certDir, 'cert.pem'),
      deadlineMs: CHILD_DEADLINE_MS,
    });
    let client: Child | undefined;
    const ports: Array<{ from?: number; to?: number }> = [];
    try {
      for (let i = 0; i < 250 && !server.stdout.includes('LISTENING'); i++) await sleep(20);
      expect(server.stdout).toContain('LISTENING');
      client = start('a', 'client.js', {
        host: SERVER.host,
        port: SERVER.port,
        cert: join(certDir, 'cert.pem'),
        size: SIZE,
        flushAfter: FLUSH_AFTER,
        deadlineMs: CHILD_DEADLINE_MS,
      });
      const deadline = Date.now() + CHILD_DEADLINE_MS;
      while (lines(client, 'RESULT').length === 0 && client.proc.exitCode === null && Date.now() < deadline) {
        if (lines(client, 'PROGRESS').length > ports.length) ports.push(await flushUntilNewPort());
        await sleep(10);
      }
      // A loaded machine may see the last transfer end before its flush: the
      // client keeps the connection (and PINGs) until its stdin ends.
      while (lines(client, 'PROGRESS').length > ports.length && lines(client, 'RESULT').length > 0) ports.push(await flushUntilNewPort());
      const [result] = lines(client, 'RESULT');
      const diagnostics = `client stdout:\n${client.stdout}\nclient stderr:\n${client.stderr}\nserver stdout:\n${server.stdout}\nserver stderr:\n${server.stderr}\nports: ${JSON.stringify(ports)}`;
      expect(result ?? diagnostics).not.toBe(diagnostics);
      const parsed = JSON.parse(result) as { error?: string; results: Array<{ transfer: string; ok: boolean }>; pathChanges: number };
      expect(parsed.error ?? '').toBe('');
      expect(parsed.results.map((r) => `${r.transfer}: ${r.ok ? 'intact' : 'corrupt'}`)).toEqual([
        'echo: intact',
        'download: intact',
        'upload: intact',
      ]);
      expect(ports).toHaveLength(TRANSFERS);
      // The last path change counts once the server validated the new path,
      // which can come after the last transfer ended: wait for it (bounded).
      const changes = (): number[] => lines(server, 'STATS').map((l) => (JSON.parse(l) as { pathChanges: number }).pathChanges);
      for (let i = 0; i < 250 && !changes().includes(TRANSFERS); i++) await sleep(20);
      const stats = lines(server, 'STATS').map((l) => JSON.parse(l) as { pathChanges: number; remotePort: number });
      const last = stats[stats.length - 1];
      // On failure, show every report and the NAT's ports (this once counted
      // 2 changes for 3 flushes under a full-suite load, cause not found).
      expect({ pathChanges: last.pathChanges, reports: stats, ports }).toMatchObject({ pathChanges: TRANSFERS });
      expect(last.remotePort).toBe(ports[ports.length - 1].to);
      // The client's own path never changed: the NAT's did.
      expect(parsed.pathChanges).toBe(0);
    } finally {
      client?.proc.stdin?.end();
      for (const child of [client, server]) {
        if (child && child.proc.exitCode === null) child.proc.kill('SIGKILL');
        await child?.exited;
      }
    }
  }, 70_000);
});
