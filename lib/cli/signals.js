'use strict';
// Ctrl-C, SIGTERM and SIGHUP (the terminal closed) on the command line: the first closes (the
// command ends as usual: the emulator's temporary key directory is removed), a second exits at
// once (still through 'exit', so the directory is removed all the same).

const { log } = require('./output.js');

/** The exit code of a second signal: 128 + its number, as a shell reports a process it killed. */
const CODES = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** Calls stop() on the first SIGINT, SIGTERM or SIGHUP; on a second, exits at once (128 + the signal's number). */
function stopOnSignals(stop) {
  let stopping = false;
  const onSignal = (signal) => {
    if (stopping) process.exit(CODES[signal]);
    stopping = true;
    log(`${signal}: closing (again to exit at once)`);
    stop();
  };
  for (const signal of Object.keys(CODES)) process.on(signal, onSignal);
}

module.exports = { stopOnSignals };
