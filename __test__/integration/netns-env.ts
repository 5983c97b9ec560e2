// What the network-namespace suites (nat, relay-nat) need from the machine:
// a probe that says why they must be skipped, and a sweep of namespaces left
// behind by an earlier run that crashed.
import { spawnSync } from 'node:child_process';

export function run(cmd: string, args: string[], input?: string): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 15_000 });
  if (r.error) return { ok: false, out: r.error.message };
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface NetnsSuite {
  /** Namespace names start with this, then the owning process's pid. */
  nsPrefix: string;
  /** The suite's `netns.sh` (`down PREFIX` removes a network). */
  script: string;
  /** The masquerade rule the suite needs, as nft and as iptables arguments. */
  masquerade: { nft: string; iptables: string[] };
}

/** Removes namespaces of this suite left by a process that is gone (or by this one). */
export function sweepStale(suite: NetnsSuite): void {
  const list = run('ip', ['netns', 'list']);
  if (!list.ok) return;
  const stale = new Set<string>();
  for (const line of list.out.split('\n')) {
    const m = new RegExp(`^(${suite.nsPrefix}(\\d+))-\\S+`).exec(line.trim());
    if (m && (Number(m[2]) === process.pid || !pidAlive(Number(m[2])))) stale.add(m[1]);
  }
  for (const prefix of stale) run('bash', [suite.script, 'down', prefix]);
}

/**
 * Why the suite cannot run here, or undefined when it can. Where the suites
 * must run (`NQUIC_REQUIRE_NETNS=1`, set by .ci/run), a reason is an error
 * instead: the suite fails rather than being reported as skipped.
 */
export function probe(suite: NetnsSuite): string | undefined {
  const reason = whyNot(suite);
  if (reason !== undefined && process.env.NQUIC_REQUIRE_NETNS === '1') {
    throw new Error(`the network-namespace suites must run here (NQUIC_REQUIRE_NETNS=1) but cannot: ${reason}`);
  }
  return reason;
}

function whyNot(suite: NetnsSuite): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (platform is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not running as root (network namespaces need CAP_SYS_ADMIN/CAP_NET_ADMIN)';
  if (!run('ip', ['-V']).ok) return '`ip` (iproute2) is not installed';
  const nft = run('nft', ['--version']).ok;
  if (!nft && !run('iptables', ['--version']).ok) return 'neither nft nor iptables is installed (apt-get install -y nftables)';
  sweepStale(suite);
  const ns = `${suite.nsPrefix}${process.pid}-probe`;
  const add = run('ip', ['netns', 'add', ns]);
  if (!add.ok) return `cannot create a network namespace (ip netns add: ${add.out})`;
  try {
    const rule = nft
      ? run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], `table ip nqprobe {\n chain p {\n  type nat hook postrouting priority srcnat;\n  ${suite.masquerade.nft}\n }\n}\n`)
      : run('ip', ['netns', 'exec', ns, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', ...suite.masquerade.iptables]);
    if (!rule.ok) return `cannot install a masquerade rule in a namespace (${rule.out})`;
  } finally {
    run('ip', ['netns', 'del', ns]);
  }
  return undefined;
}

/** The byte and packet counters `netns-nat.sh stats` prints, by name. */
export function counters(script: string, prefix: string): Record<string, number> {
  const r = run('bash', [script, 'stats', prefix]);
  if (!r.ok) throw new Error(`${script} stats failed: ${r.out}`);
  const out: Record<string, number> = {};
  for (const l of r.out.split('\n')) {
    const [k, v] = l.trim().split(/\s+/);
    if (k) out[k] = Number(v);
  }
  return out;
}

/** The UDP entries of a namespace's conntrack table (for failure reports). */
export function conntrack(prefix: string, ns: string): string {
  const r = run('ip', ['netns', 'exec', `${prefix}-${ns}`, 'cat', '/proc/net/nf_conntrack']);
  return r.ok ? r.out.split('\n').filter((l) => l.includes('udp')).join('\n') : `(conntrack table not readable: ${r.out})`;
}
