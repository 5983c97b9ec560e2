'use strict';
// Scale (opt-in: BENCH_CASES=scale): BENCH_SCALE_CONNS (default 10000) concurrent connections on ONE
// server socket. The server and the clients each run in a child process (bench/lib/scale-child.js,
// node --expose-gc), the clients all on one QuicSocket, so each process carries the whole load on
// one UDP socket and the bench runner stays out of it. Steps:
//   1. the server starts, GCs and takes a memory baseline;
//   2. the clients open the connections with BENCH_SCALE_CONCURRENCY (default 100) handshakes in
//      flight: handshake latency under that ramp (median, p99) and its rate;
//   3. with all of them open: server memory per connection (RSS and JS heap+external, after GC,
//      divided by the server's native connection count), then the server's CPU over
//      BENCH_SCALE_IDLE_S (default 5) seconds of idleness — the cost of timers for that many
//      connections (one timer per socket; each connection's deadlines in the native timer queue);
//   4. BENCH_SCALE_PROBES (default 200) sequential handshakes while the others stay open;
//   5. everything closes.
// Server event-loop delay during the ramp (p99, max) is in the extras. nquic only.

const path = require('node:path');
const { envInt, percentile, median } = require('../lib/util');
const { forkChild, request } = require('../lib/child');

const CHILD = path.join(__dirname, '..', 'lib', 'scale-child.js');

function config() {
  const conns = envInt('BENCH_SCALE_CONNS', 10000);
  return {
    conns,
    concurrency: envInt('BENCH_SCALE_CONCURRENCY', 100),
    idleSeconds: envInt('BENCH_SCALE_IDLE_S', 5),
    probes: envInt('BENCH_SCALE_PROBES', 200),
    label: `scale: ${conns} connections on one socket`,
  };
}

/** A child (server or client role) as a request function. */
function startChild(ctx, role) {
  const label = `scale ${role} child`;
  const child = forkChild(ctx, CHILD, { label, execArgv: ['--expose-gc'], stopMs: 20000 });
  return async (msg) => (await request(ctx, child, msg, label)).reply;
}

module.exports = {
  name: 'scale',
  optIn: true,
  config,
  metrics: [
    { key: 'rampRate', label: 'handshakes/s while ramping up', unit: 'conn/s', better: 'higher', digits: 0 },
    { key: 'rampMedian', label: 'handshake median while ramping up', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'rampP99', label: 'handshake p99 while ramping up', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'probeMedian', label: 'handshake median, all others open', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'probeP99', label: 'handshake p99, all others open', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'rssPerConn', label: 'server RSS per connection', unit: 'KB', better: 'lower', digits: 1 },
    { key: 'heapPerConn', label: 'server JS heap+external per connection', unit: 'KB', better: 'lower', digits: 1 },
    { key: 'idleCpu', label: 'server CPU, all idle (timers)', unit: 'ms/s', better: 'lower', digits: 2 },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const server = startChild(ctx, 'server');
      const client = startChild(ctx, 'client');
      const creds = { key: ctx.creds.key, cert: ctx.creds.cert };
      const { port } = await server({ cmd: 'start', creds });
      const ramp = await client({ cmd: 'ramp', port, count: cfg.conns, concurrency: cfg.concurrency, creds });
      const held = await server({ cmd: 'measure', idleSeconds: cfg.idleSeconds });
      if (held.connections < cfg.conns) throw new Error(`the server holds ${held.connections} connections, expected ${cfg.conns}`);
      const probe = await client({ cmd: 'probe', count: cfg.probes });
      return {
        rampRate: cfg.conns / ramp.seconds,
        rampMedian: median(ramp.latencies),
        rampP99: percentile(ramp.latencies, 99),
        probeMedian: median(probe.latencies),
        probeP99: percentile(probe.latencies, 99),
        rssPerConn: held.rssPerConn / 1024,
        heapPerConn: held.heapPerConn / 1024,
        idleCpu: held.idleCpuMsPerS,
        extra: { serverConnections: held.connections, rampSeconds: ramp.seconds, loopDelayP99Ms: held.loopDelayP99, loopDelayMaxMs: held.loopDelayMax },
      };
    },
  },
};
