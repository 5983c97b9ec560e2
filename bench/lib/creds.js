'use strict';
// Certificate for the benchmarks: nquic's generateCertificate() (PEM key + self-signed cert for
// 'localhost'), shared by every implementation so they all verify the same chain. If nquic cannot be
// loaded, fall back to the openssl CLI so the node:tls baselines can still run.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function makeCredentials(nquic) {
  if (nquic && typeof nquic.generateCertificate === 'function') {
    const { key, cert } = nquic.generateCertificate({ subjectAltNames: ['localhost'] });
    return { key, cert, source: 'nquic.generateCertificate' };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nquic-bench-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '2',
      '-keyout', keyFile, '-out', certFile,
    ], { stdio: 'ignore' });
    return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), source: 'openssl CLI' };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { makeCredentials };
