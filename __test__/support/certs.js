'use strict';
// Throwaway TLS material for the emulator: lib/emulator/certs.js (pure node:crypto, no openssl).

const { generateCerts } = require('../../lib/emulator/certs.js');

module.exports = { generateCerts };
