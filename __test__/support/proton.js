'use strict';
// Apache Qpid Proton as a test server (support/proton/server.py), run in the Python venv that
// .ci/install-proton makes: finding that Python, starting the server with a scenario, and reading
// what it reports (JSON lines on stdout) for the tests to assert on.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const { amqp } = require('./client.js');
const { generateCerts } = require('./certs.js');

const REPO = path.resolve(__dirname, '..', '..');
const SERVER = path.join(__dirname, 'proton', 'server.py');
const DEFAULT_PYTHON = path.join(REPO, '.venv-proton', 'bin', 'python');
const INSTALL_COMMAND = 'bash .ci/install-proton';

/**
 * The Python with python-qpid-proton built against Cyrus SASL: `{python}` or `{problem}`.
 * ALIYUN_IOT_AMQP_PROTON_PYTHON names it; the default is the repository's .venv-proton.
 */
function findProton() {
  const python = process.env.ALIYUN_IOT_AMQP_PROTON_PYTHON || DEFAULT_PYTHON;
  if (!fs.existsSync(python)) {
    return { problem: `no Python with Qpid Proton at ${python}: install it with \`${INSTALL_COMMAND}\` (or point ALIYUN_IOT_AMQP_PROTON_PYTHON at one)` };
  }
  const probe = 'import json, proton; print(json.dumps({"version": list(proton.VERSION), "cyrus": proton.SASL.extended(), "ssl": proton.SSL.present()}))';
  const r = spawnSync(python, ['-c', probe], { encoding: 'utf8', timeout: 20000 });
  if (r.status !== 0) {
    return { problem: `${python} cannot import proton (${(r.stderr || r.error || '').toString().trim().split('\n').pop()}): install it with \`${INSTALL_COMMAND}\`` };
  }
  const info = JSON.parse(r.stdout);
  if (!info.cyrus) return { problem: `the Proton in ${python} has no Cyrus SASL (it cannot check PLAIN passwords): reinstall it with \`${INSTALL_COMMAND}\`` };
  if (!info.ssl) return { problem: `the Proton in ${python} has no TLS: reinstall it with \`${INSTALL_COMMAND}\`` };
  if (!fs.existsSync('/usr/sbin/saslpasswd2') && !fs.existsSync('/usr/bin/saslpasswd2')) {
    return { problem: `saslpasswd2 is missing (Debian's sasl2-bin): install it with \`${INSTALL_COMMAND}\`` };
  }
  return { python, info };
}

/** A fixed timestamp, so that the password stored in the server's sasldb is the one the client sends. */
const TIMESTAMP = 1700000000000;

const KEYS = { accessKeyId: 'LTAI5tProtonTestKey', accessKeySecret: 'proton-test-secret-not-a-real-one' };

/** The platform's signed username and password (hmacsha1, a fixed timestamp). */
function platformLogin(extra = {}) {
  return amqp.sign({
    ...KEYS,
    consumerGroupId: 'DEFAULT_GROUP',
    iotInstanceId: 'iot-proton-test',
    clientId: 'proton-test-client',
    signMethod: 'hmacsha1',
    timestamp: TIMESTAMP,
    ...extra,
  });
}

class ProtonServer {
  constructor(child) {
    this.child = child;
    this.events = [];
    this.stderr = '';
    this.port = undefined;
    this.exited = null;
    this._waiters = new Set();
  }

  _push(ev) {
    this.events.push(ev);
    for (const w of this._waiters) w();
  }

  /** Events named `name` (optionally filtered). */
  all(name, filter = () => true) {
    return this.events.filter((e) => e.event === name && filter(e));
  }

  /** Resolves with predicate()'s first truthy value, checked on every event and every 50 ms. */
  waitFor(predicate, what, timeoutMs = 20000) {
    return new Promise((resolve, reject) => {
      let timer;
      let poll;
      const check = () => {
        let v;
        try {
          v = predicate(this);
        } catch (err) {
          done();
          reject(err);
          return;
        }
        if (v) {
          done();
          resolve(v);
        } else if (this.exited) {
          done();
          reject(new Error(`Proton server exited (${this.exited}) while waiting for ${what}\n${this.stderr.slice(-2000)}`));
        }
      };
      const done = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this._waiters.delete(check);
      };
      timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; Proton reported:\n${this.events.slice(-30).map((e) => JSON.stringify(e)).join('\n')}`));
      }, timeoutMs);
      poll = setInterval(check, 50);
      this._waiters.add(check);
      check();
    });
  }

  /** message id -> times the server saw it accepted (late outcomes, after the link was gone, apart). */
  acceptedCounts() {
    const counts = new Map();
    for (const e of this.all('outcome', (o) => o.outcome === 'accepted' && !o.late)) counts.set(e.id, (counts.get(e.id) || 0) + 1);
    return counts;
  }

  /** Ids published, in order. */
  publishedIds() {
    return [...new Set(this.all('sent').map((e) => e.id))];
  }

  /** Frames Proton wrote (PN_TRACE_FRM lines with `->`), when started with trace: true. */
  framesOut(name) {
    return this.stderr.split('\n').filter((l) => l.includes(`-> @${name}`));
  }

  async close() {
    if (this.exited) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(timer);
  }
}

/**
 * Starts server.py with `scenario` (see its docstring) on TLS with a certificate made for the
 * run (unless `tls: false`), one user: the platform login of platformLogin(). Resolves once it
 * listens. `trace: true` has Proton log its frames (PN_TRACE_FRM) to the server's stderr.
 */
async function startProton(python, scenario = {}, { tls = true, trace = false, users } = {}) {
  const certs = tls ? generateCerts() : null;
  const login = platformLogin();
  const config = {
    users: users || [login],
    ...(certs ? { tls: { cert: certs.certFile, key: certs.keyFile } } : {}),
    ...scenario,
  };
  const env = { ...process.env, PYTHONUNBUFFERED: '1' };
  if (trace) env.PN_TRACE_FRM = '1';
  const child = spawn(python, [SERVER, JSON.stringify(config)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const server = new ProtonServer(child);
  server.certs = certs;
  server.login = login;
  child.stderr.on('data', (d) => {
    server.stderr += d;
    if (server.stderr.length > 8 * 1024 * 1024) server.stderr = server.stderr.slice(-4 * 1024 * 1024);
  });
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      ev = { event: 'stdout', line };
    }
    server._push(ev);
  });
  child.on('exit', (code, signal) => {
    server.exited = signal || `code ${code}`;
    for (const w of server._waiters) w();
  });
  const listening = await server.waitFor((s) => s.all('listening')[0], 'the Proton server to listen', 20000);
  server.port = listening.port;
  return server;
}

/** Connect options for our client against `server` (TLS trusting its CA, the signed login). */
function protonOptions(server, extra = {}) {
  return {
    host: '127.0.0.1',
    port: server.port,
    transport: server.certs ? 'tls' : 'tcp',
    ca: server.certs ? server.certs.ca : undefined,
    ...server.login,
    ...extra,
  };
}

module.exports = { findProton, startProton, protonOptions, platformLogin, INSTALL_COMMAND, TIMESTAMP };
