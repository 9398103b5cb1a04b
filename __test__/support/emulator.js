'use strict';
// The platform emulator lives in lib/emulator/ (one implementation for the tests, the command
// line's `emulator` and `demo`, and users' own tests); this module re-exports it for the suite.

const { startEmulator, Emulator, signPassword, stringToSign, SIGN_METHODS } = require('../../lib/emulator/index.js');

module.exports = { startEmulator, Emulator, signPassword, stringToSign, SIGN_METHODS };
