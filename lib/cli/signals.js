'use strict';
// Ctrl-C and SIGTERM on the command line: the first closes (the command ends as usual), a second
// exits at once.

const { log } = require('./output.js');

/** Calls stop() on the first SIGINT or SIGTERM; on a second, exits at once (130, or 143 for SIGTERM). */
function stopOnSignals(stop) {
  let stopping = false;
  const onSignal = (signal) => {
    if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
    stopping = true;
    log(`${signal}: closing (again to exit at once)`);
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

module.exports = { stopOnSignals };
