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

/** Starts `aliyun-iot-amqp emulator --port 0 --json --file -`; resolves with its settings and stdin. */
function startEmulatorProcess(t, extraArgs = []) {
  const child = spawn(process.execPath, [BIN, 'emulator', '--port', '0', '--json', '--file', '-', ...extraArgs], {
    env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ settings: JSON.parse(out.slice(0, nl)), child, exited, stderr: () => stderr });
    });
    child.on('error', reject);
    exited.then(({ code }) => reject(new Error(`emulator exited early (${code}): ${stderr}`)));
  });
}

module.exports = { BIN, cleanEnv, run, startEmulatorProcess };
