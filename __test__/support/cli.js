'use strict';
// Running the command line (bin/aliyun-iot-amqp.js) in a child process, for the CLI tests.

const { spawn } = require('node:child_process');
const path = require('node:path');

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'aliyun-iot-amqp.js');

/** The parent's environment without credentials or CLI settings that could leak into a child. */
function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(ALIBABA_CLOUD_|ALIYUN_IOT_AMQP_)/.test(k) || ['NODE_EXTRA_CA_CERTS', 'DEBUG', 'COLUMNS'].includes(k)) delete env[k];
  }
  return { ...env, ...extra };
}

/** Runs the CLI to completion: {code, signal, stdout, stderr, lines}. */
function run(args, { env = cleanEnv(), timeout = 20000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`aliyun-iot-amqp ${args.join(' ')} did not exit within ${timeout} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeout);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, lines: stdout.split('\n').filter(Boolean) });
    });
  });
}

module.exports = { BIN, cleanEnv, run };
