'use strict';
// Dial by key through real Linux NATs in network namespaces (the topology of
// __test__/integration/netns-nat.sh, the child processes of dial-nat.test.ts): a rendezvous on
// the public side, two peers registered with it.
//  - cone NATs (port-preserving): the time from socket.dial() to the direct connection, median of
//    BENCH_DIAL_COUNT dials each way (target: under 1 s at the namespaces' near-zero round trip);
//  - symmetric NATs, where punching cannot work: the time to the relayed fallback with punchTimeout
//    BENCH_DIAL_PUNCH_MS, and how much of it is beyond punchTimeout (target: under 1 s).
// Needs root, iproute2 and nftables or iptables; skipped (n/a) otherwise.

const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { envInt, median, skip } = require('../lib/util');

const INTEGRATION = path.join(__dirname, '..', '..', '__test__', 'integration');
const NETNS = path.join(INTEGRATION, 'netns-nat.sh');
const PEER = path.join(INTEGRATION, 'dial-nat', 'peer.js');
const RENDEZVOUS = path.join(INTEGRATION, 'dial-nat', 'rendezvous.js');
const { Child, killAll } = require(path.join(INTEGRATION, 'netns-driver.js'));
const RDV = { host: '10.99.0.1', port: 4433 };
const CHILD_MS = 50_000;

function sh(args) {
  const r = spawnSync('bash', [NETNS, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { ok: r.status === 0, out: `${r.stdout || ''}${r.stderr || ''}`.trim() };
}

function config() {
  return { count: envInt('BENCH_DIAL_COUNT', 10), punchTimeout: envInt('BENCH_DIAL_PUNCH_MS', 1000), label: 'dial by key through NATs' };
}

/** A fresh network (NAT A, NAT B in `mode`) with a rendezvous and two registered peers. */
async function network(ctx, ids, prefix, mode, children) {
  const up = sh(['up', prefix, mode, mode]);
  if (!up.ok) throw new Error(`netns-nat.sh up failed: ${up.out}`);
  const rdv = new Child(children, 'rendezvous', `${prefix}-pub`, RENDEZVOUS, { name: 'rdv', deadlineMs: CHILD_MS }, CHILD_MS);
  const peers = ['a', 'b'].map((n) => new Child(children, `peer ${n}`, `${prefix}-${n}`, PEER, { name: n, deadlineMs: CHILD_MS }, CHILD_MS));
  await rdv.call('start', { address: RDV.host, port: RDV.port, key: ids.rdv.key, cert: ids.rdv.cert });
  await Promise.all(peers.map((p, i) => p.call('start', { key: ids.peers[i].key, cert: ids.peers[i].cert })));
  await Promise.all(peers.map((p) => p.call('join', { name: 'rdv', ...RDV, ca: ids.rdv.cert })));
  return peers;
}

async function dialOnce(from, to, punchTimeout) {
  const r = await from.call('dial', { peer: to.fingerprint, via: ['rdv'], punchTimeout }, 30_000);
  if (!r.ok || !r.echoOk) throw new Error(`dial failed: ${r.code || ''} ${r.message || 'echo mismatch'}`);
  return r;
}

module.exports = {
  name: 'dial',
  config,
  metrics: [
    { key: 'directMs', label: 'direct dial, cone NATs, median', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'relayedMs', label: 'relayed fallback, symmetric NATs', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'beyondPunchMs', label: 'relayed fallback beyond punchTimeout', unit: 'ms', better: 'lower', digits: 0 },
  ],
  impls: {
    async nquic(ctx, cfg) {
      if (process.platform !== 'linux') throw skip('network namespaces need Linux');
      if (typeof process.getuid === 'function' && process.getuid() !== 0) throw skip('network namespaces need root');
      const prefix = `nqbench${process.pid}`;
      const children = new Set();
      ctx.defer(async () => {
        await Promise.all([...children].map((c) => c.call('exit', {}, 2000).catch(() => undefined)));
        await killAll(children);
        sh(['down', prefix]);
      });
      const { generateCertificate } = ctx.nquic;
      const ids = {
        rdv: generateCertificate({ subjectAltNames: [RDV.host] }),
        peers: [generateCertificate({ subjectAltNames: ['a'] }), generateCertificate({ subjectAltNames: ['b'] })],
      };
      const probe = sh(['up', prefix]);
      sh(['down', prefix]);
      if (!probe.ok) throw skip(`cannot build the namespace network: ${probe.out.split('\n')[0]}`);

      // Cone NATs: direct dials, both ways.
      let [a, b] = await network(ctx, ids, prefix, 'cone', children);
      const direct = [];
      for (let i = 0; i < cfg.count; i++) {
        const [from, to] = i % 2 === 0 ? [a, ids.peers[1]] : [b, ids.peers[0]];
        const r = await dialOnce(from, to, 3000);
        if (r.path !== 'direct') throw new Error(`expected a direct connection through cone NATs, got ${r.path}`);
        direct.push(r.ms);
      }
      await killAll(children);
      sh(['down', prefix]);

      // Symmetric NATs: the relayed fallback.
      [a, b] = await network(ctx, ids, prefix, 'symmetric', children);
      const relayed = [];
      for (let i = 0; i < 2; i++) {
        const [from, to] = i % 2 === 0 ? [a, ids.peers[1]] : [b, ids.peers[0]];
        const r = await dialOnce(from, to, cfg.punchTimeout);
        if (r.path !== 'relayed') throw new Error(`expected a relayed connection through symmetric NATs, got ${r.path}`);
        relayed.push(r.ms);
      }
      const relayedMs = median(relayed);
      return {
        directMs: median(direct),
        relayedMs,
        beyondPunchMs: relayedMs - cfg.punchTimeout,
        extra: { direct, relayed, punchTimeout: cfg.punchTimeout },
      };
    },
  },
};
