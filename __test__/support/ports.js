'use strict';
// Ports for tests that need a peer to be absent.

const net = require('node:net');

/** A port on 127.0.0.1 that nothing listens on (one just let go: connections to it are refused). */
async function closedPort() {
  const s = net.createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

module.exports = { closedPort };
