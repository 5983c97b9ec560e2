// Real-NAT hole punching (issue 6): two peers, each in its own network
// namespace behind its own masquerading Linux NAT, meet through a rendezvous
// on the "public" side, learn their mapped addresses by STUN, punch, and then
// talk QUIC DIRECTLY (not through the rendezvous), echoing a stream.
//
// Topology (__test__/integration/netns-nat.sh, namespaces "<prefix>-*"):
//
//   rendezvous 10.99.0.1 ── router ─┬─ 10.99.1.2 NAT A 192.168.41.1 ── peer a 192.168.41.2 (client)
//                                   └─ 10.99.2.3 NAT B 192.168.42.1 ── peer b 192.168.42.2 (server)
//
// The pitfall: conntrack masquerade keeps a peer's source port only while
// nothing collides. A punch from the other peer reaching your NAT before
// you sent anything creates a conntrack entry, and your own packets then
// leave from a different port, so plain punching fails when one side is late.
// The recipe (nat/peer.js): low-TTL punches first (they open the sender's own
// NAT and expire at the router, before the other NAT), "ready" to the
// rendezvous, and only after its "go" (both NATs open) normal punches and the
// connection. Tested with both peers together and with either one 500 ms
// late; a control shows plain punching really fails on these NATs.
//
// Needs root (network namespaces, nftables or iptables). Where that is not
// available the tests are reported as SKIPPED with the reason.
import { ChildProcess, spawn } from 'node:child_process';
import { NetnsSuite, probe, run } from './netns-env';
import { conntrack as sharedConntrack, counters as sharedCounters } from './netns-env';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCertificate } from '../../lib';

const HERE = join(__dirname, 'nat');
const NETNS = join(__dirname, 'netns-nat.sh');
const PEER = join(HERE, 'peer.js');
const RENDEZVOUS = join(HERE, 'rendezvous.js');
const NS_PREFIX = 'nqnat';
const PREFIX = `${NS_PREFIX}${process.pid}`;

const RDV = { host: '10.99.0.1', port: 4433 };
const NAT_A_PUBLIC = '10.99.1.2';
const NAT_B_PUBLIC = '10.99.2.3';
/** Hops: own NAT (1), router (2), other NAT (3): TTL 2 dies at the router. */
const LOW_TTL = 2;
const LOW_TTL_PUNCHES_PER_PEER = 3; // peer.js sends 3
const PAYLOAD = 256 * 1024;
const LATE_MS = 500;
/** Every child is killed after this long, whatever happens. */
const CHILD_KILL_MS = 13_000;
const PEER_DEADLINE_MS = 12_000;
const SCENARIO_TIMEOUT_MS = 20_000;

// ---------------------------------------------------------------------------
// Environment probe (runs at collection time: jest decides skips up front)

const SUITE: NetnsSuite = { nsPrefix: NS_PREFIX, script: NETNS, masquerade: { nft: 'masquerade', iptables: ['-j', 'MASQUERADE'] } };

const skipReason = probe(SUITE);

// ---------------------------------------------------------------------------
// Child processes

interface Child {
  proc: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

const children = new Set<Child>();

function start(ns: string, script: string, cfg: object): Child {
  const proc = spawn('ip', ['netns', 'exec', `${PREFIX}-${ns}`, process.execPath, script, JSON.stringify(cfg)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child: Child = { proc, stdout: '', stderr: '', exited: Promise.resolve(null) };
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (child.stdout += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (child.stderr += d));
  const killer = setTimeout(() => proc.kill('SIGKILL'), CHILD_KILL_MS);
  child.exited = new Promise((resolve) => {
    proc.on('exit', (code) => {
      clearTimeout(killer);
      children.delete(child);
      resolve(code);
    });
    proc.on('error', (err) => {
      child.stderr += `spawn error: ${err.message}\n`;
      clearTimeout(killer);
      children.delete(child);
      resolve(null);
    });
  });
  children.add(child);
  return child;
}

function line(child: Child, tag: string): string | undefined {
  return child.stdout
    .split('\n')
    .find((l) => l.startsWith(`${tag} `))
    ?.slice(tag.length + 1);
}

async function waitForLine(child: Child, tag: string, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = line(child, tag);
    if (found !== undefined) return found;
    if (child.proc.exitCode !== null || child.proc.signalCode !== null || Date.now() > deadline) {
      throw new Error(`${tag} line not printed within ${ms} ms\nstdout:\n${child.stdout}\nstderr:\n${child.stderr}`);
    }
    await sleep(20);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether `child` exits within `ms` (the timer is cleared either way). */
function exitsWithin(child: Child, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([child.exited.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

async function stop(child: Child, graceMs: number): Promise<void> {
  if (await exitsWithin(child, graceMs)) return;
  child.proc.kill('SIGTERM');
  if (!(await exitsWithin(child, 2000))) child.proc.kill('SIGKILL');
  await child.exited;
}

// ---------------------------------------------------------------------------
// One scenario: fresh network, rendezvous, two peers; everything they saw

interface Addr {
  address: string;
  port: number;
  family: string;
}
interface PeerResult {
  name: string;
  error?: string;
  mapped?: Addr;
  other?: Addr;
  direct?: { remoteAddress: Addr; localAddress: Addr; stats?: Record<string, number> };
  echo?: { sent: number; received: number; equal: boolean };
  punchesFrom: Record<string, number>;
  events: Array<{ event: string; at: number }>;
}
interface RendezvousResult {
  stunRequests: string[];
  otherMessages: number;
  punches: string[];
  connections: string[];
  ready: string[];
  goSent: boolean;
}
interface Outcome {
  a: PeerResult;
  b: PeerResult;
  rdv: RendezvousResult;
  counters: Record<string, number>;
  diagnostics: string;
}

let certDir: string;
function certs(): { rdvKey: string; rdvCert: string; bKey: string; bCert: string } {
  return {
    rdvKey: join(certDir, 'rdv.key'),
    rdvCert: join(certDir, 'rdv.crt'),
    bKey: join(certDir, 'b.key'),
    bCert: join(certDir, 'b.crt'),
  };
}

function counters(): Record<string, number> {
  return sharedCounters(NETNS, PREFIX);
}

function conntrack(ns: string): string {
  return sharedConntrack(PREFIX, ns);
}

async function scenario(opts: { mode: 'robust' | 'naive'; lateA?: number; lateB?: number; bind?: string | null }): Promise<Outcome> {
  const up = run('bash', [NETNS, 'up', PREFIX]);
  if (!up.ok) throw new Error(`netns-nat.sh up failed: ${up.out}`);
  const c = certs();
  const rdv = start('pub', RENDEZVOUS, {
    address: RDV.host,
    port: RDV.port,
    key: c.rdvKey,
    cert: c.rdvCert,
    deadlineMs: PEER_DEADLINE_MS + 2000,
  });
  let a: Child | undefined;
  let b: Child | undefined;
  try {
    await waitForLine(rdv, 'LISTENING', 5000);
    const common = {
      rendezvous: { host: RDV.host, port: RDV.port, ca: c.rdvCert },
      mode: opts.mode,
      lowTtl: LOW_TTL,
      bind: opts.bind === undefined ? '0.0.0.0' : opts.bind,
      deadlineMs: PEER_DEADLINE_MS,
      punchWaitMs: 2000,
      connectTimeoutMs: 4000,
      serveTimeoutMs: 9000,
      payloadBytes: PAYLOAD,
    };
    const startA = () =>
      start('a', PEER, { ...common, name: 'a', role: 'client', lateMs: opts.lateA ?? 0, peerCa: c.bCert, peerServerName: 'peer-b' });
    const startB = () => start('b', PEER, { ...common, name: 'b', role: 'server', lateMs: opts.lateB ?? 0, key: c.bKey, cert: c.bCert });
    // "Starts late" = the process starts late, and it acts late on the way
    // (peer.js waits lateMs before its first packet to the peer and again
    // after "go").
    if (opts.lateA) {
      b = startB();
      await sleep(opts.lateA);
      a = startA();
    } else if (opts.lateB) {
      a = startA();
      await sleep(opts.lateB);
      b = startB();
    } else {
      a = startA();
      b = startB();
    }
    await a.exited;
    await stop(b, 3000);
    const snapshot = counters();
    const tables = `NAT A conntrack:\n${conntrack('nata')}\nNAT B conntrack:\n${conntrack('natb')}`;
    rdv.proc.kill('SIGTERM');
    await stop(rdv, 3000);
    const parse = <T>(child: Child, label: string): T => {
      const text = line(child, 'RESULT');
      if (text === undefined) throw new Error(`${label} printed no RESULT\nstdout:\n${child.stdout}\nstderr:\n${child.stderr}`);
      return JSON.parse(text) as T;
    };
    const diagnostics =
      `--- peer a stderr\n${a.stderr}--- peer b stderr\n${b.stderr}--- rendezvous stderr\n${rdv.stderr}` +
      `--- counters ${JSON.stringify(snapshot)}\n${tables}\n`;
    return {
      a: parse<PeerResult>(a, 'peer a'),
      b: parse<PeerResult>(b, 'peer b'),
      rdv: parse<RendezvousResult>(rdv, 'rendezvous'),
      counters: snapshot,
      diagnostics,
    };
  } finally {
    for (const child of [a, b, rdv]) if (child && child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
    await Promise.all([a, b, rdv].map((child) => child?.exited));
  }
}

/** Throws with the full diagnostics (peer logs, counters, conntrack tables) when `ok` is false. */
function check(ok: boolean, what: string, outcome: Outcome): void {
  if (!ok) {
    const { a, b, rdv, counters: n } = outcome;
    throw new Error(
      `${what}\n` +
        `peer a: ${JSON.stringify(a)}\npeer b: ${JSON.stringify(b)}\nrendezvous: ${JSON.stringify(rdv)}\ncounters: ${JSON.stringify(n)}\n` +
        outcome.diagnostics,
    );
  }
}

const key = (x: Addr | undefined) => (x ? `${x.address}:${x.port}` : String(x));

/** Everything a successful direct connection through both NATs must show. */
function expectDirect(o: Outcome): void {
  const { a, b, rdv, counters: n } = o;
  // STUN: each peer learned its NAT's public address.
  check(a.mapped?.address === NAT_A_PUBLIC && b.mapped?.address === NAT_B_PUBLIC, 'STUN mapped addresses are not the NATs\' public addresses', o);
  check(key(a.other) === key(b.mapped) && key(b.other) === key(a.mapped), 'the rendezvous introduced the wrong addresses', o);
  // The low-TTL punches expired at the router, between the two NATs.
  check(
    n.r_ttl_expired >= 2 * LOW_TTL_PUNCHES_PER_PEER,
    `the router dropped ${n.r_ttl_expired} expired packets, expected the ${2 * LOW_TTL_PUNCHES_PER_PEER} low-TTL (ttl ${LOW_TTL}) punches: ` +
      'they were not sent with the requested TTL, so they reached the other NAT',
    o,
  );
  check(!a.error && !b.error, `the direct connection failed: a: ${a.error ?? 'ok'}; b: ${b.error ?? 'ok'}`, o);
  // Direct: each side's connection runs to the other's NAT public mapping.
  check(key(a.direct?.remoteAddress) === key(b.mapped), `a's connection goes to ${key(a.direct?.remoteAddress)}, not b's NAT mapping ${key(b.mapped)}`, o);
  check(key(b.direct?.remoteAddress) === key(a.mapped), `b's connection comes from ${key(b.direct?.remoteAddress)}, not a's NAT mapping ${key(a.mapped)}`, o);
  check(a.echo?.equal === true && a.echo.received === PAYLOAD, `echo over the direct connection failed: ${JSON.stringify(a.echo)}`, o);
  // The rendezvous saw only STUN and the two signaling connections: no
  // punches, no third connection, and far fewer bytes than the payload.
  check(
    [...rdv.connections].sort().join(',') === [key(a.mapped), key(b.mapped)].sort().join(','),
    `rendezvous connections ${JSON.stringify(rdv.connections)} are not exactly the two signaling ones`,
    o,
  );
  check(rdv.punches.length === 0 && rdv.otherMessages === 0, 'the rendezvous received punches or stray datagrams', o);
  check(rdv.stunRequests.every((s) => s === key(a.mapped) || s === key(b.mapped)), 'unexpected STUN requests at the rendezvous', o);
  check(n.pub_rx < PAYLOAD / 4, `the rendezvous namespace received ${n.pub_rx} bytes (payload ${PAYLOAD}): traffic went through it`, o);
  // …while the payload crossed the router between the NATs in both directions.
  check(n.r_to_natb >= PAYLOAD && n.r_from_natb >= PAYLOAD, `the payload did not cross NAT B's link both ways: ${JSON.stringify(n)}`, o);
}

// ---------------------------------------------------------------------------

if (skipReason !== undefined) {
  console.warn(`NAT hole-punching tests SKIPPED: ${skipReason}`);
  describe('NAT hole punching through two Linux masquerading NATs', () => {
    test.skip(`SKIPPED: ${skipReason}`, () => {});
  });
} else {
  describe('NAT hole punching through two Linux masquerading NATs', () => {
    beforeAll(() => {
      certDir = mkdtempSync(join(tmpdir(), 'nquic-nat-'));
      const rdv = generateCertificate({ subjectAltNames: [RDV.host] });
      const b = generateCertificate({ subjectAltNames: ['peer-b'] });
      writeFileSync(join(certDir, 'rdv.key'), rdv.key);
      writeFileSync(join(certDir, 'rdv.crt'), rdv.cert);
      writeFileSync(join(certDir, 'b.key'), b.key);
      writeFileSync(join(certDir, 'b.crt'), b.cert);
    });

    afterAll(async () => {
      for (const child of [...children]) child.proc.kill('SIGKILL');
      await Promise.all([...children].map((c) => c.exited));
      run('bash', [NETNS, 'down', PREFIX]);
      if (certDir) rmSync(certDir, { recursive: true, force: true });
    });

    test(
      'both peers start together: low-TTL punches, ready/go, direct connection echoes 256 KiB',
      async () => {
        expectDirect(await scenario({ mode: 'robust' }));
      },
      SCENARIO_TIMEOUT_MS,
    );

    test(
      'the listening peer (b) starts 500 ms late: still direct',
      async () => {
        expectDirect(await scenario({ mode: 'robust', lateB: LATE_MS }));
      },
      SCENARIO_TIMEOUT_MS,
    );

    test(
      'the dialing peer (a) starts 500 ms late: still direct',
      async () => {
        expectDirect(await scenario({ mode: 'robust', lateA: LATE_MS }));
      },
      SCENARIO_TIMEOUT_MS,
    );

    test(
      'control: plain punching (full TTL at once, no go signal) with b 500 ms late fails on these NATs',
      async () => {
        const o = await scenario({ mode: 'naive', lateB: LATE_MS });
        // a's punches reached NAT B first and took b's port there; b's own
        // packets left from another port, which NAT A does not let in.
        check(o.a.mapped?.address === NAT_A_PUBLIC && o.b.mapped?.address === NAT_B_PUBLIC, 'STUN failed', o);
        check(o.a.direct === undefined && o.a.error !== undefined, 'plain punching unexpectedly connected: the NATs do not reproduce the pitfall', o);
        check(o.a.punchesFrom[key(o.b.mapped)] === undefined, "a received b's punches from b's mapping", o);
      },
      SCENARIO_TIMEOUT_MS,
    );
  });
}
