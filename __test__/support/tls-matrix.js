'use strict';
// Certificates for the TLS verdict matrix, made at run time with the openssl command line (never
// checked in: nothing here can expire in the repository). Each case is a server certificate
// chain and its key; the trust bundle holds every anchor the "trusted" cases chain to, so the
// same bundle serves as `ca` and as NODE_EXTRA_CA_CERTS.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const OPENSSL = process.env.OPENSSL || 'openssl';

function run(args, opts = {}) {
  return execFileSync(OPENSSL, args, { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
}

/** Whether the openssl command line is there (the matrix is skipped without it). */
function haveOpenssl() {
  try {
    run(['version']);
    return true;
  } catch {
    return false;
  }
}

/** openssl's ca date format: YYYYMMDDHHMMSSZ (GeneralizedTime; ca takes both). */
function caDate(d) {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
}

const DAY = 24 * 60 * 60 * 1000;

class Maker {
  constructor(dir) {
    this.dir = dir;
    this.n = 0;
    fs.mkdirSync(path.join(dir, 'db'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'db', 'index.txt'), '');
    this.cnf = path.join(dir, 'ca.cnf');
    fs.writeFileSync(this.cnf, [
      '[ca]', 'default_ca = d',
      '[d]', `database = ${path.join(dir, 'db', 'index.txt')}`, `new_certs_dir = ${path.join(dir, 'db')}`,
      'default_md = sha256', 'policy = p', 'unique_subject = no', 'copy_extensions = none',
      'email_in_dn = no', 'preserve = yes', 'rand_serial = yes', 'default_days = 30',
      '[p]', 'commonName = optional', 'organizationName = optional',
      '[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', 'CN = unused',
      '',
    ].join('\n'));
    this.keys = new Map();
  }

  file(name) {
    return path.join(this.dir, name);
  }

  /** A private key; `spec` is 'rsa:2048', 'ec:P-256', 'ed25519', ... */
  key(spec) {
    const f = this.file(`key${++this.n}.pem`);
    const [alg, param] = spec.split(':');
    if (alg === 'rsa') run(['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${param}`, '-out', f]);
    else if (alg === 'ec') run(['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${param}`, '-pkeyopt', 'ec_param_enc:named_curve', '-out', f]);
    else run(['genpkey', '-algorithm', alg.toUpperCase(), '-out', f]);
    return f;
  }

  /** A key shared by certificates that need not differ in key (saves RSA key generation). */
  sharedKey(spec) {
    if (!this.keys.has(spec)) this.keys.set(spec, this.key(spec));
    return this.keys.get(spec);
  }

  /**
   * A certificate through `openssl ca`: `subject` like '/CN=localhost', `ext` the lines of an
   * extension section (none: an X.509 v1 certificate), `issuer` {cert, key} or null for
   * self-signed, validity from `start` to `end` (Dates), `md` the digest.
   */
  cert({ subject, key, issuer = null, ext = null, start = new Date(Date.now() - DAY), end = new Date(Date.now() + 30 * DAY), md = 'sha256' }) {
    const id = ++this.n;
    const csr = this.file(`req${id}.csr`);
    const out = this.file(`cert${id}.pem`);
    run(['req', '-new', '-config', this.cnf, '-key', key, '-subj', subject, '-out', csr]);
    const args = ['ca', '-batch', '-config', this.cnf, '-notext', '-in', csr, '-out', out, '-md', md,
      '-startdate', caDate(start), '-enddate', caDate(end)];
    if (issuer) args.push('-cert', issuer.cert, '-keyfile', issuer.key);
    else args.push('-selfsign', '-keyfile', key);
    if (ext) {
      const extFile = this.file(`ext${id}.cnf`);
      fs.writeFileSync(extFile, `[x]\n${ext.join('\n')}\n`);
      args.push('-extfile', extFile, '-extensions', 'x');
    }
    run(args);
    return out;
  }

  /** `openssl req -x509` exactly as a new user types it (CA:TRUE, SKI/AKI, the SAN given). */
  reqX509({ subject = '/CN=localhost', keySpec = 'rsa:2048', san = 'DNS:localhost', days = 30 } = {}) {
    const id = ++this.n;
    const key = this.file(`key${id}.pem`);
    const out = this.file(`cert${id}.pem`);
    const [alg, bits] = keySpec.split(':');
    const args = ['req', '-x509', '-newkey', alg === 'rsa' ? `rsa:${bits}` : keySpec, '-nodes', '-subj', subject,
      '-days', String(days), '-keyout', key, '-out', out];
    if (san) args.push('-addext', `subjectAltName=${san}`);
    run(args);
    return { cert: out, key };
  }
}

const read = (f) => fs.readFileSync(f, 'utf8');

const CA_EXT = ['basicConstraints = critical, CA:TRUE', 'keyUsage = critical, keyCertSign, cRLSign',
  'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid:always'];
const LEAF = (san, more = []) => ['basicConstraints = CA:FALSE', 'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid', ...(san ? [`subjectAltName = ${san}`] : []), ...more];
const SAN = 'DNS:localhost, IP:127.0.0.1, IP:::1';

/**
 * Makes every case. Returns {dir, bundle (PEM text), bundleFile, cases: [{name, chain: PEM,
 * key: PEM, note}]}. Takes a few seconds (RSA key generation).
 */
function makeMatrix(dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-tls-matrix-'))) {
  const m = new Maker(dir);
  const k2048 = () => m.sharedKey('rsa:2048');
  const now = Date.now();

  // CA hierarchies: A (trusted root, intermediate sent by the server), B (only the intermediate is
  // trusted), X (never trusted), V1 (a trusted X.509 v1 root), EC (a trusted P-384 root).
  const rootAKey = m.key('rsa:2048');
  const rootA = { cert: m.cert({ subject: '/O=matrix/CN=Root A', key: rootAKey, ext: CA_EXT, end: new Date(now + 60 * DAY) }), key: rootAKey };
  const intAKey = m.key('ec:P-256');
  const intA = { cert: m.cert({ subject: '/O=matrix/CN=Intermediate A', key: intAKey, issuer: rootA, ext: CA_EXT, end: new Date(now + 50 * DAY) }), key: intAKey };
  const rootBKey = m.key('ec:P-256');
  const rootB = { cert: m.cert({ subject: '/O=matrix/CN=Root B', key: rootBKey, ext: CA_EXT }), key: rootBKey };
  const intBKey = m.key('ec:P-256');
  const intB = { cert: m.cert({ subject: '/O=matrix/CN=Intermediate B', key: intBKey, issuer: rootB, ext: CA_EXT }), key: intBKey };
  const rootXKey = m.key('ec:P-256');
  const rootX = { cert: m.cert({ subject: '/O=matrix/CN=Root X (untrusted)', key: rootXKey, ext: CA_EXT }), key: rootXKey };
  // Keys are shared where the names differ (RSA key generation is the slow part).
  const rootV1Key = rootAKey;
  const rootV1 = { cert: m.cert({ subject: '/O=matrix/CN=Root V1', key: rootV1Key }), key: rootV1Key };
  const rootECKey = m.key('ec:P-384');
  const rootEC = { cert: m.cert({ subject: '/O=matrix/CN=Root EC', key: rootECKey, ext: CA_EXT }), key: rootECKey };
  const root1024Key = m.key('rsa:1024');
  const root1024 = { cert: m.cert({ subject: '/O=matrix/CN=Root RSA-1024', key: root1024Key, ext: CA_EXT }), key: root1024Key };
  // A "CA" that is not one (basicConstraints CA:FALSE) signing a leaf.
  const notCaKey = m.key('ec:P-256');
  const notCa = { cert: m.cert({ subject: '/O=matrix/CN=Not a CA', key: notCaKey, issuer: rootA, ext: LEAF(null) }), key: notCaKey };

  // Name-constrained CAs (trusted): nameConstraints on a root and on an intermediate.
  const ncRoot = (name, nc) => {
    const key = m.sharedKey('ec:P-256');
    return { cert: m.cert({ subject: `/O=matrix/CN=${name}`, key, ext: [...CA_EXT, `nameConstraints = critical, ${nc}`] }), key };
  };
  const ncDnsOther = ncRoot('NC root permitted example.com', 'permitted;DNS:example.com');
  const ncExcluded = ncRoot('NC root excluded localhost', 'excluded;DNS:localhost');
  const ncInside = ncRoot('NC root permitted localhost and loopback', 'permitted;DNS:localhost, permitted;IP:127.0.0.0/255.0.0.0, permitted;IP:::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
  const ncIntKey = m.sharedKey('ec:P-256');
  const ncInt = { cert: m.cert({ subject: '/O=matrix/CN=NC intermediate permitted net 10', key: ncIntKey, issuer: rootA, ext: [...CA_EXT, 'nameConstraints = critical, permitted;IP:10.0.0.0/255.0.0.0, permitted;DNS:localhost'] }), key: ncIntKey };
  // Keys and digests beyond ring: a P-521 root.
  const rootP521Key = m.key('ec:P-521');
  const rootP521 = { cert: m.cert({ subject: '/O=matrix/CN=Root P-521', key: rootP521Key, ext: CA_EXT, md: 'sha512' }), key: rootP521Key };

  const cases = [];
  const trustedFiles = [rootA, intB, rootV1, rootEC, root1024, ncDnsOther, ncExcluded, ncInside, rootP521].map((c) => c.cert);
  const trusted = trustedFiles.map(read);
  const add = (name, leaf, { sent = [], trust = false, serverOptions } = {}) => {
    if (trust) {
      trusted.push(read(leaf.cert));
      trustedFiles.push(leaf.cert);
    }
    cases.push({ name, chain: [leaf.cert, ...sent].map(read).join(''), key: read(leaf.key), serverOptions });
  };
  // Node's server refuses to load what its own security level forbids; these servers go lower.
  const weakServer = { ciphers: 'DEFAULT:@SECLEVEL=0' };
  const leaf = (opts) => {
    const key = opts.key || k2048();
    return { cert: m.cert({ issuer: rootA, subject: '/CN=localhost', ...opts, key }), key };
  };
  const selfSigned = (keySpec, opts) => {
    const key = keySpec === 'rsa:2048' ? k2048() : m.key(keySpec);
    return { cert: m.cert({ subject: '/CN=localhost', ...opts, key }), key };
  };

  // Self-signed server certificates, trusted as themselves.
  add('self-signed CA:TRUE (openssl req -x509)', m.reqX509(), { trust: true });
  add('self-signed v1, CN only', selfSigned('rsa:2048', { subject: '/O=ss v1/CN=localhost' }), { trust: true });
  add('self-signed CA:FALSE with SANs', selfSigned('ec:P-256', { subject: '/O=ss leaf/CN=localhost', ext: LEAF(SAN) }), { trust: true });
  add('self-signed keyUsage certSign only', selfSigned('ec:P-256', { subject: '/O=ss ku/CN=localhost', ext: CA_EXT }), { trust: true });
  add('self-signed RSA-1024', selfSigned('rsa:1024', { subject: '/O=ss 1024/CN=localhost', ext: LEAF(SAN) }), { trust: true });
  add('self-signed expired', selfSigned('rsa:2048', { subject: '/O=ss expired/CN=localhost', ext: CA_EXT.slice(0, 1).concat([`subjectAltName = ${SAN}`]), start: new Date(now - 60 * DAY), end: new Date(now - 30 * DAY) }), { trust: true });
  add('self-signed untrusted, unique subject', selfSigned('rsa:2048', { subject: '/O=ss untrusted/CN=localhost', ext: LEAF(SAN) }));
  add('self-signed untrusted, same subject as a trusted one', m.reqX509());
  add('self-signed untrusted and expired', selfSigned('rsa:2048', { subject: '/O=ss untrusted expired/CN=localhost', ext: LEAF(SAN), start: new Date(now - 60 * DAY), end: new Date(now - 30 * DAY) }));

  // Leaves signed by trusted root A.
  add('CA-signed, CN only, v1', leaf({}));
  add('CA-signed, CN only, v3', leaf({ ext: LEAF(null) }));
  add('CA-signed, SAN DNS and IP', leaf({ ext: LEAF(SAN, ['extendedKeyUsage = serverAuth']) }));
  add('CA-signed, SAN DNS only', leaf({ ext: LEAF('DNS:localhost') }));
  add('CA-signed, SAN IP only, CN localhost', leaf({ ext: LEAF('IP:127.0.0.1') }));
  add('CA-signed, wildcard SAN *.localhost', leaf({ subject: '/CN=*.localhost', ext: LEAF('DNS:*.localhost') }));
  add('CA-signed, EC P-256', leaf({ key: m.sharedKey('ec:P-256'), ext: LEAF(SAN) }));
  add('CA-signed, EC P-384', leaf({ key: m.sharedKey('ec:P-384'), ext: LEAF(SAN) }));
  add('CA-signed, Ed25519', leaf({ key: m.sharedKey('ed25519'), ext: LEAF(SAN) }));
  add('CA-signed, RSA-1024', leaf({ key: m.sharedKey('rsa:1024'), ext: LEAF(SAN) }));
  add('CA-signed, RSA-4096', leaf({ key: m.sharedKey('rsa:4096'), ext: LEAF(SAN) }));
  add('CA-signed, SHA-1 signature', leaf({ ext: LEAF(SAN), md: 'sha1' }), { serverOptions: weakServer });
  add('CA-signed, RSA-512', leaf({ key: m.key('rsa:512'), ext: LEAF(SAN) }), { serverOptions: weakServer });
  add('CA-signed, SHA-512 signature', leaf({ ext: LEAF(SAN), md: 'sha512' }));
  add('CA-signed, leaf with CA:TRUE', leaf({ ext: CA_EXT.slice(0, 1).concat([`subjectAltName = ${SAN}`]) }));
  add('CA-signed, extendedKeyUsage clientAuth only', leaf({ ext: LEAF(SAN, ['extendedKeyUsage = clientAuth']) }));
  add('CA-signed, keyUsage keyCertSign only', leaf({ ext: LEAF(SAN, ['keyUsage = critical, keyCertSign']) }));
  add('CA-signed, wrong name', leaf({ subject: '/CN=example.com', ext: LEAF('DNS:example.com, IP:10.9.8.7') }));
  add('CA-signed, wrong CN, no SAN', leaf({ subject: '/CN=example.com' }));
  add('CA-signed, expired', leaf({ ext: LEAF(SAN), start: new Date(now - 60 * DAY), end: new Date(now - 30 * DAY) }));
  add('CA-signed, not yet valid', leaf({ ext: LEAF(SAN), start: new Date(now + 30 * DAY), end: new Date(now + 60 * DAY) }));
  add('CA-signed, expired and wrong name', leaf({ subject: '/CN=example.com', ext: LEAF('DNS:example.com'), start: new Date(now - 60 * DAY), end: new Date(now - 30 * DAY) }));

  // Chains.
  const viaA = () => ({ cert: m.cert({ issuer: intA, subject: '/CN=localhost', key: k2048(), ext: LEAF(SAN) }), key: k2048() });
  add('intermediate sent by the server', viaA(), { sent: [intA.cert] });
  add('intermediate and root sent by the server', viaA(), { sent: [intA.cert, rootA.cert] });
  add('intermediate not sent', viaA());
  const ecKey = m.sharedKey('ec:P-256');
  add('intermediate trusted but not its root', { cert: m.cert({ issuer: intB, subject: '/CN=localhost', key: ecKey, ext: LEAF(SAN) }), key: ecKey }, { sent: [intB.cert] });
  add('leaf of a trusted v1 root', { cert: m.cert({ issuer: rootV1, subject: '/CN=localhost', key: k2048(), ext: LEAF(SAN).filter((l) => !l.startsWith('authorityKeyIdentifier')) }), key: k2048() });
  add('leaf of a trusted P-384 root', { cert: m.cert({ issuer: rootEC, subject: '/CN=localhost', key: ecKey, ext: LEAF(SAN) }), key: ecKey });
  add('leaf of a trusted RSA-1024 root', { cert: m.cert({ issuer: root1024, subject: '/CN=localhost', key: k2048(), ext: LEAF(SAN) }), key: k2048() });
  add('issuer is not a CA', { cert: m.cert({ issuer: notCa, subject: '/CN=localhost', key: k2048(), ext: LEAF(SAN) }), key: k2048() }, { sent: [notCa.cert] });
  add('untrusted root, leaf only', { cert: m.cert({ issuer: rootX, subject: '/CN=localhost', key: k2048(), ext: LEAF(SAN) }), key: k2048() });
  add('untrusted root sent by the server', { cert: m.cert({ issuer: rootX, subject: '/CN=localhost', key: k2048(), ext: LEAF(SAN) }), key: k2048() }, { sent: [rootX.cert] });
  add('untrusted root, expired leaf', { cert: m.cert({ issuer: rootX, subject: '/CN=localhost', key: k2048(), ext: LEAF(SAN), start: new Date(now - 60 * DAY), end: new Date(now - 30 * DAY) }), key: k2048() });

  // Name constraints, on the root and on an intermediate, DNS and IP, permitted and excluded.
  const ncLeaf = (issuer, san, subject = '/CN=localhost') => ({ cert: m.cert({ issuer, subject, key: k2048(), ext: LEAF(san) }), key: k2048() });
  add('root NC permitted example.com, leaf localhost', ncLeaf(ncDnsOther, SAN));
  add('root NC permitted example.com, leaf CN-only a.localhost.test', ncLeaf(ncDnsOther, null, '/CN=a.localhost.test'));
  add('root NC excluded localhost', ncLeaf(ncExcluded, SAN));
  add('root NC permitted localhost and loopback', ncLeaf(ncInside, SAN));
  add('intermediate NC permitted 10/8, leaf 127.0.0.1', ncLeaf(ncInt, SAN), { sent: [ncInt.cert] });
  add('intermediate NC permitted 10/8, leaf DNS only', ncLeaf(ncInt, 'DNS:localhost'), { sent: [ncInt.cert] });
  // Keys and digests Node accepts that ring lacks.
  add('CA-signed, RSA-PSS key', leaf({ key: m.sharedKey('rsa-pss'), ext: LEAF(SAN) }));
  add('CA-signed, EC P-521', leaf({ key: m.sharedKey('ec:P-521'), ext: LEAF(SAN) }));
  add('leaf of a trusted P-521 root', { cert: m.cert({ issuer: rootP521, subject: '/CN=localhost', key: ecKey, ext: LEAF(SAN), md: 'sha512' }), key: ecKey });
  add('CA-signed, SHA3-256 signature', leaf({ ext: LEAF(SAN), md: 'sha3-256' }));

  const bundle = trusted.join('');
  // The same anchors as TRUSTED CERTIFICATE blocks (openssl x509 -trustout), trusted for TLS servers.
  const trustedPem = trustedFiles.map((f) => run(['x509', '-in', f, '-trustout', '-addtrust', 'serverAuth']).toString()).join('');
  const bundleFile = path.join(dir, 'trusted.pem');
  fs.writeFileSync(bundleFile, bundle);
  return { dir, bundle, bundleFile, trustedPem, cases, untrustedPem: read(rootX.cert) };
}

let made = null;

/** The matrix, made once per process in a temporary directory removed at exit. */
function matrix() {
  if (!made) {
    made = makeMatrix();
    process.once('exit', () => fs.rmSync(made.dir, { recursive: true, force: true }));
  }
  return made;
}

module.exports = { makeMatrix, matrix, haveOpenssl };
