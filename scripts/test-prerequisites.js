#!/usr/bin/env node
'use strict';
// Run first by `npm test`: makes sure the independent peers the suites test against are there, and
// says exactly how to get what is missing before a long run starts.
//   - aioquic (the WebTransport interop suite): created here, in a venv at interop/aioquic/.venv from
//     interop/aioquic/requirements.txt (PyPI), and re-created when the requirements change;
//   - Chromium (the browser suites): a system package, /usr/bin/chromium or $NQUIC_CHROMIUM.
// The quinn peer (interop/quinn-peer) is built by its own suite with cargo, like the addon.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const venv = path.join(root, 'interop', 'aioquic', '.venv');
const requirements = path.join(root, 'interop', 'aioquic', 'requirements.txt');
const stamp = path.join(venv, 'nquic-requirements.txt');
const chromium = process.env.NQUIC_CHROMIUM || '/usr/bin/chromium';

const problems = [];

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  return r.status === 0;
}

function aioquic() {
  const wanted = fs.readFileSync(requirements, 'utf8');
  const python = path.join(venv, 'bin', 'python');
  if (fs.existsSync(python) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === wanted) return;
  console.log('test prerequisites: installing aioquic into interop/aioquic/.venv (once)');
  fs.rmSync(venv, { recursive: true, force: true });
  if (!run('python3', ['-m', 'venv', venv])) {
    fs.rmSync(venv, { recursive: true, force: true });
    problems.push('Python 3 with venv, for the aioquic interop suite: sudo apt-get install -y python3-venv (Debian/Ubuntu)');
    return;
  }
  if (!run(path.join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '-r', requirements])) {
    problems.push('aioquic from PyPI, for the aioquic interop suite: pip could not install interop/aioquic/requirements.txt (see above)');
    return;
  }
  fs.writeFileSync(stamp, wanted);
}

if (process.platform !== 'win32') aioquic();
if (process.platform === 'linux' || process.env.NQUIC_CHROMIUM) {
  if (!fs.existsSync(chromium)) {
    problems.push(`Chromium, for the browser suites (WebTransport, UDP gateway): sudo apt-get install -y chromium (Debian/Ubuntu), or set NQUIC_CHROMIUM to its path (not found: ${chromium})`);
  }
}

if (problems.length > 0) {
  console.error(`npm test needs:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
