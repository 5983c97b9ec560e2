// Small helpers shared by the child processes the network-namespace suites
// run inside their namespaces (nat/peer.js, relay-nat/peer.js).
'use strict';

/** "address:port". */
const addr = (a) => `${a.address}:${a.port}`;

/** Everything a readable stream delivers, once it ends. */
function readAll(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(Buffer.from(c)));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

module.exports = { addr, readAll };
