'use strict';
// Issue 9's matrix: for every server certificate (support/tls-matrix.js makes them with openssl at
// run time) × host (a DNS name, an IP address) × trust (`ca`, NODE_EXTRA_CA_CERTS, the built-in
// roots, an empty `ca`, a `ca` beside NODE_EXTRA_CA_CERTS) × verification (on, rejectUnauthorized:
// false, NODE_TLS_REJECT_UNAUTHORIZED=0, that variable overridden by rejectUnauthorized: true), the
// package connects exactly when tls.connect with the same options does, in the same process, and
// refuses with the same err.code and Node's message first.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const path = require('node:path');
const tls = require('node:tls');

const { matrix, haveOpenssl } = require('../support/tls-matrix.js');

const CHILD = path.join(__dirname, '..', 'support', 'tls-matrix-child.js');
// Node 24 adds this advice to some messages; our messages end with a hint of their own.
const SYSTEM_CA_ADVICE = '; if the root CA is installed locally, try running Node.js with --use-system-ca';

/** Runs the jobs in a child with `env` added; resolves with its results by job id. */
function runChild(env, jobs) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`matrix child exited ${code}: ${err}`));
      const results = new Map();
      for (const line of out.split('\n').filter(Boolean)) {
        const r = JSON.parse(line);
        results.set(r.id, r);
      }
      resolve({ results, stderr: err });
    });
    child.stdin.end(JSON.stringify(jobs));
  });
}

test('the package connects exactly when tls.connect does, with Node\'s error codes', { skip: !haveOpenssl() && 'openssl not found', timeout: 240000 }, async (t) => {
  const started = Date.now();
  const m = matrix();
  const generated = Date.now();
  const servers = [];
  const handshakes = new Map();
  try {
    const unservable = [];
    for (const c of m.cases) {
      let server;
      try {
        server = tls.createServer({ key: c.key, cert: c.chain, ...(c.serverOptions || {}) }, (s) => {
          handshakes.set(c.name, (handshakes.get(c.name) || 0) + 1);
          s.end();
        });
      } catch (err) {
        // Some Node versions' own server refuses to load a weak certificate (RSA-512 on OpenSSL 3.5).
        unservable.push(`${c.name} (${err.code || err.message})`);
        continue;
      }
      server.on('tlsClientError', () => {});
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push({ c, port: server.address().port, server });
    }

    const other = m.untrustedPem; // a `ca` of an unrelated CA, to show it replaces NODE_EXTRA_CA_CERTS
    const variants = [
      { env: {}, trust: 'ca', options: {}, ca: m.bundle },
      { env: {}, trust: 'built-in roots', options: {} },
      { env: {}, trust: 'empty ca', options: {}, ca: [] },
      { env: {}, trust: 'ca, rejectUnauthorized: false', options: { rejectUnauthorized: false }, ca: m.bundle },
      { env: {}, trust: 'built-in roots, rejectUnauthorized: false', options: { rejectUnauthorized: false } },
      { env: { NODE_EXTRA_CA_CERTS: m.bundleFile }, trust: 'NODE_EXTRA_CA_CERTS', options: {} },
      { env: { NODE_EXTRA_CA_CERTS: m.bundleFile }, trust: 'ca beside NODE_EXTRA_CA_CERTS', options: {}, ca: other },
      { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' }, trust: 'built-in roots, NODE_TLS_REJECT_UNAUTHORIZED=0', options: {} },
      { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' }, trust: 'ca, NODE_TLS_REJECT_UNAUTHORIZED=0', options: {}, ca: m.bundle },
      { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' }, trust: 'built-in roots, NODE_TLS_REJECT_UNAUTHORIZED=0 overridden', options: { rejectUnauthorized: true } },
    ];
    const byEnv = new Map();
    const described = new Map();
    let id = 0;
    for (const v of variants) {
      const key = JSON.stringify(v.env);
      if (!byEnv.has(key)) byEnv.set(key, { env: v.env, jobs: [] });
      for (const { c, port } of servers) {
        for (const host of ['localhost', '127.0.0.1']) {
          id += 1;
          described.set(id, `${c.name} | host ${host} | ${v.trust}`);
          byEnv.get(key).jobs.push({ id, host, port, options: v.options, ca: v.ca });
        }
      }
    }
    const runs = await Promise.all([...byEnv.values()].map((e) => runChild(e.env, e.jobs)));
    const results = new Map();
    for (const r of runs) for (const [k, v] of r.results) results.set(k, v);

    const mismatches = [];
    let accepted = 0;
    for (const [jobId, what] of described) {
      const r = results.get(jobId);
      if (!r) {
        mismatches.push(`${what}: no result`);
        continue;
      }
      if (r.node.ok) accepted += 1;
      if (r.node.ok !== r.ours.ok) {
        mismatches.push(`${what}: node ${r.node.ok ? 'connects' : `refuses ${r.node.code}`}, package ${r.ours.ok ? 'connects' : `refuses ${r.ours.code} (${r.ours.message})`}`);
      } else if (!r.node.ok && r.node.code !== r.ours.code) {
        mismatches.push(`${what}: node ${r.node.code}, package ${r.ours.code} (${r.ours.message})`);
      } else if (!r.node.ok && /^ERR_SSL_/.test(r.node.code)) {
        // A TLS alert: Node's message is OpenSSL's error line; ours names the alert the same way.
        const m = /SSL routines:[^:]*:([^:]+)/.exec(r.node.message);
        const reason = m ? m[1] : r.node.message;
        if (!r.ours.message.includes(reason)) mismatches.push(`${what}: ${JSON.stringify(r.ours.message)} does not say ${JSON.stringify(reason)}`);
      } else if (!r.node.ok && !r.ours.message.startsWith(r.node.message.replace(SYSTEM_CA_ADVICE, ''))) {
        mismatches.push(`${what}: node says ${JSON.stringify(r.node.message)}, package ${JSON.stringify(r.ours.message)}`);
      } else if (!r.node.ok && !/; hint: ./.test(r.ours.message)) {
        mismatches.push(`${what}: no hint in ${JSON.stringify(r.ours.message)}`);
      }
    }
    const took = Date.now() - started;
    if (unservable.length) t.diagnostic(`not served by this Node: ${unservable.join(', ')}`);
    t.diagnostic(`${described.size} cases (${servers.length} certificates × 2 hosts × ${variants.length} trust/verification settings), ${accepted} accepted by Node; certificates ${generated - started} ms, all ${took} ms`);
    assert.deepEqual(mismatches, [], `${mismatches.length} of ${described.size} verdicts differ from Node's:\n${mismatches.join('\n')}`);
    // Both verdicts of every case were reached: refusals and acceptances of each kind occurred.
    assert.ok(accepted > 100 && accepted < described.size - 100, `${accepted} accepted`);
    const warnings = runs.map((r) => r.stderr).join('');
    assert.match(warnings, /NODE_TLS_REJECT_UNAUTHORIZED/);
  } finally {
    for (const s of servers) s.server.close();
  }
});

test('getPeerCertificate() and checkServerIdentity\'s cert equal Node\'s getPeerCertificate(true)', { skip: !haveOpenssl() && 'openssl not found' }, async () => {
  const amqp = require('../../index.js');
  const m = matrix();
  const pick = ['intermediate sent by the server', 'CA-signed, EC P-256', 'self-signed CA:TRUE (openssl req -x509)'];
  for (const name of pick) {
    const c = m.cases.find((x) => x.name === name);
    const server = tls.createServer({ key: c.key, cert: c.chain }, (s) => s.end());
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = server.address().port;
    try {
      const socket = tls.connect({ host: 'localhost', port, ca: m.bundle });
      await new Promise((resolve, reject) => socket.on('secureConnect', resolve).on('error', reject));
      const node = socket.getPeerCertificate(true);
      socket.destroy();
      let seen;
      const conn = amqp.create_container().connect({
        host: 'localhost', port, transport: 'tls', ca: m.bundle, reconnect: false,
        checkServerIdentity: (host, cert) => { seen = { host, cert }; },
      });
      await new Promise((resolve) => conn.on('disconnected', resolve));
      conn.close();
      assert.equal(seen.host, 'localhost');
      const fields = ['subject', 'issuer', 'subjectaltname', 'ca', 'modulus', 'bits', 'exponent', 'pubkey', 'asn1Curve', 'nistCurve',
        'valid_from', 'valid_to', 'fingerprint', 'fingerprint256', 'fingerprint512', 'ext_key_usage', 'serialNumber', 'raw', 'infoAccess'];
      for (const f of fields) assert.deepEqual(seen.cert[f], node[f], `${name}: ${f}`);
      assert.deepEqual(Object.keys(seen.cert).sort(), Object.keys(node).sort(), name);
      // The same chain of issuerCertificate, up to the self-signed root pointing at itself.
      const chain = (x) => {
        const out = [];
        for (let i = x; i && out.length < 10; i = i.issuerCertificate === i ? null : i.issuerCertificate) out.push(i.fingerprint256);
        return out;
      };
      assert.deepEqual(chain(seen.cert), chain(node), name);
      assert.equal(crypto.createHash('sha256').update(seen.cert.raw).digest('hex').toUpperCase().match(/../g).join(':'), node.fingerprint256);
    } finally {
      server.close();
    }
  }
});
