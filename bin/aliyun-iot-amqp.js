#!/usr/bin/env node
'use strict';
// aliyun-iot-amqp on the command line: consume a consumer group, run a local emulator of the
// platform's endpoint, or both at once (demo). Messages go to stdout, everything else to stderr.
// This file picks the command and turns its end into the exit code (2 for a usage error); the
// commands and their helpers are in lib/cli/. The package (with its addon) and the emulator (with
// rhea) are loaded only by the commands that use them: --help loads neither, consume no rhea.

const { UsageError } = require('../lib/cli/args.js');
const { HELP, usage } = require('../lib/cli/help.js');
const { log, writeLine, watchStdout, formatMessage, formatDemoMessage } = require('../lib/cli/output.js');
const { connectionHint } = require('../lib/cli/watch.js');
const { lineToMessage } = require('../lib/cli/feed.js');
const { consume } = require('../lib/cli/consume.js');
const { emulator } = require('../lib/cli/emulator.js');
const { demo } = require('../lib/cli/demo.js');

async function main(argv) {
  const [command, ...args] = argv;
  switch (command) {
    case 'consume':
      return consume(args);
    case 'emulator':
      return emulator(args);
    case 'demo':
      return demo(args);
    case '--version':
    case '-v':
      writeLine(require('../package.json').version);
      return 0;
    case 'help':
      if (args[0] !== undefined && !HELP[args[0]]) throw new UsageError(`unknown command ${JSON.stringify(args[0])}`);
      return usage(args[0]);
    case undefined:
    case '--help':
    case '-h':
      return usage();
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

function runMain() {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      if (err instanceof UsageError) {
        log(`aliyun-iot-amqp: ${err.message}\nRun 'aliyun-iot-amqp ${HELP[process.argv[2]] ? `${process.argv[2]} ` : ''}--help' for the options.`);
        process.exitCode = 2;
      } else {
        // A refused certificate carries Node's code (e.g. DEPTH_ZERO_SELF_SIGNED_CERT); its message ends with the hint.
        const code = err && typeof err.code === 'string' && /^[A-Z_]+$/.test(err.code) ? `${err.code}: ` : '';
        log(`aliyun-iot-amqp: ${code}${err && err.message ? err.message : err}`);
        process.exitCode = 1;
      }
    },
  );
}

if (require.main === module) {
  watchStdout();
  runMain();
} else {
  // For the unit tests: the pieces that need no process of their own.
  module.exports = { connectionHint, formatMessage, formatDemoMessage, lineToMessage, UsageError };
}
