'use strict';
// A one-line description of the machine for the report: CPU model, cores, memory, OS, Node.

const os = require('node:os');
const fs = require('node:fs');

function machine() {
  const cpus = os.cpus();
  const model = (cpus[0] && cpus[0].model ? cpus[0].model : '?').replace(/\s+/g, ' ').trim();
  const mhz = cpus[0] && cpus[0].speed ? cpus[0].speed : null;
  // Cores usable by this process (cgroup / affinity) can be fewer than os.cpus() lists.
  const usable = typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length;
  let kernel = os.release();
  try { kernel = fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(); } catch { /* not Linux */ }
  const info = {
    cpuModel: model,
    cpuMHz: mhz,
    cores: cpus.length,
    usableCores: usable,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.platform()}-${os.arch()} ${kernel}`,
    node: process.version,
    v8: process.versions.v8,
    openssl: process.versions.openssl,
  };
  info.summary = `${model}, ${cpus.length} cores${usable !== cpus.length ? ` (${usable} usable)` : ''}, `
    + `${info.memoryGiB} GiB, ${os.platform()}-${os.arch()}, node ${process.version}`;
  return info;
}

module.exports = { machine };
