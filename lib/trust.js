'use strict';
// Whom TLS trusts, as Node's TLS builds its store (the verdict itself is Rust's, src/tls/): the
// `ca` option checked (a TypeError naming it, never quoting it), and without `ca` the running
// Node's default CA certificates: its bundled roots, or OpenSSL's default store under
// --use-openssl-ca; the NODE_EXTRA_CA_CERTS file, read once as Node reads it once; the system
// store where Node honours --use-system-ca / NODE_USE_SYSTEM_CA=1.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const tls = require('node:tls');
const { execFileSync } = require('node:child_process');

const { fail } = require('./invalid.js');

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const CERT_LABELS = new Set(['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE']);

/** Node reads NODE_EXTRA_CA_CERTS once, as the process starts: its name as this module loads. */
const EXTRA_CA_FILE = process.env.NODE_EXTRA_CA_CERTS || '';

/** The length of the DER element at the start of `der` (its header included), or -1. */
function elementLength(der) {
  if (der.length < 2) return -1;
  let len = der[1];
  let header = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || der.length < 2 + n) return -1;
    len = 0;
    for (let i = 0; i < n; i += 1) len = len * 256 + der[2 + i];
    header = 2 + n;
  }
  return header + len <= der.length ? header + len : -1;
}

/**
 * The X509Certificate of one PEM block, or null. A TRUSTED CERTIFICATE is the certificate
 * followed by its trust settings (`openssl x509 -trustout`): the certificate is the first element.
 */
function blockCertificate(label, body) {
  try {
    let der = Buffer.from(body.replace(/^[A-Za-z-]+:.*$/gm, '').replace(/\s+/g, ''), 'base64');
    if (label === 'TRUSTED CERTIFICATE') {
      const n = elementLength(der);
      if (n < 0) return null;
      der = der.subarray(0, n);
    }
    return new crypto.X509Certificate(der);
  } catch {
    return null;
  }
}

/** The certificates of a PEM text or DER Buffer (the `ca` option's items), skipping what does not decode. */
function certificatesOf(item) {
  const text = typeof item === 'string' ? item : Buffer.from(item).toString('latin1');
  if (!text.includes('-----BEGIN ')) {
    try {
      return [new crypto.X509Certificate(item)];
    } catch {
      return [];
    }
  }
  const out = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    if (!CERT_LABELS.has(m[1])) continue;
    const c = blockCertificate(m[1], m[2]);
    if (c) out.push(c);
  }
  return out;
}

/** Why a `ca` item is not usable, or null when it is. Never quotes the item. */
function caProblem(item) {
  const text = Buffer.isBuffer(item) ? item.toString('latin1') : item;
  if (text.includes('-----BEGIN ')) {
    let certificates = 0;
    for (const m of text.matchAll(PEM_BLOCK)) {
      if (!CERT_LABELS.has(m[1])) continue;
      if (!blockCertificate(m[1], m[2])) return 'a PEM CERTIFICATE block that does not decode as a certificate (bad base64 or a truncated file?)';
      certificates += 1;
    }
    if (certificates === 0) return 'PEM text with no CERTIFICATE block (a key or a request instead of a certificate?)';
    return null;
  }
  if (text.trim() === '') return 'empty';
  if (typeof item === 'string') return 'text that is not PEM (no -----BEGIN CERTIFICATE----- line)';
  try {
    new crypto.X509Certificate(item);
    return null;
  } catch {
    return 'neither PEM text nor a DER certificate';
  }
}

/**
 * The `ca` option: PEM text (a string or Buffer with one or more CERTIFICATE, X509 CERTIFICATE or
 * TRUSTED CERTIFICATE blocks), a DER certificate (a Buffer), or an array of them. Returns
 * Buffers; throws a TypeError naming `ca`.
 */
function caList(v) {
  const list = Array.isArray(v) ? v : [v];
  return list.map((item, i) => {
    const where = Array.isArray(v) ? `ca[${i}]` : 'ca';
    if (typeof item !== 'string' && !(item instanceof Uint8Array)) {
      throw fail('ca', 'PEM certificates (a string or Buffer), a DER certificate (a Buffer), or an array of them', v);
    }
    const buf = Buffer.from(item);
    const problem = caProblem(typeof item === 'string' ? item : buf);
    if (problem) {
      const err = fail('ca', `usable as trusted certificates (${where} is ${problem})`, v);
      err.message = `aliyun-iot-amqp: option 'ca' must hold certificates: ${where} is ${problem}`;
      throw err;
    }
    return buf;
  });
}

/** A certificate as one PEM string. */
const pemOf = (x509) => x509.toString();

/** The PEM labels of the blocks Node's NODE_EXTRA_CA_CERTS reading takes (PEM_read_bio_X509). */
const EXTRA_LABELS = new Set(['CERTIFICATE', 'X509 CERTIFICATE']);

/**
 * The certificates of a file as OpenSSL reads them: the blocks labelled `labels`; a block that does
 * not decode ends the file (`whole` false: the PEM_read_bio_X509 loop of Node's AddCertsFromFile)
 * or voids it (`whole` true: X509_load_cert_crl_file, all or nothing). Nothing when the file cannot
 * be read (Node warns about NODE_EXTRA_CA_CERTS itself, at start-up).
 */
function fileCertificates(file, labels, whole) {
  let text;
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch {
    return [];
  }
  const out = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    if (!labels.has(m[1])) continue;
    const c = blockCertificate(m[1], m[2]);
    if (!c) return whole ? [] : out;
    out.push(m[1] === 'TRUSTED CERTIFICATE' ? m[0] : pemOf(c));
  }
  return out;
}

/** The certificates of NODE_EXTRA_CA_CERTS's file, up to the first that does not decode. */
const extraCertificates = (file) => fileCertificates(file, EXTRA_LABELS, false);

/** Every certificate of a file of OpenSSL's store, or none if one does not decode. */
const loadFile = (file) => fileCertificates(file, CERT_LABELS, true);

/** The certificates of an OpenSSL hashed directory (`<hash>.<n>` files, as c_rehash names them). */
function loadDir(dir) {
  let names;
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => /^[0-9a-f]{8}\.\d+$/.test(n)).sort().flatMap((n) => loadFile(path.join(dir, n)));
}

/** Whether the running Node trusts OpenSSL's default store instead of its bundled roots. */
function usesOpensslStore() {
  const defines = (process.config.target_defaults && process.config.target_defaults.defines) || [];
  let use = defines.includes('NODE_OPENSSL_CERT_STORE');
  const flags = [...(process.env.NODE_OPTIONS || '').split(/\s+/), ...process.execArgv];
  for (const f of flags) {
    if (f === '--use-openssl-ca') use = true;
    else if (f === '--use-bundled-ca') use = false;
  }
  return use;
}

/** OPENSSLDIR of the running Node's OpenSSL: /etc/ssl for the one Node bundles, else the system's. */
function opensslDir() {
  if (!process.config.variables.node_shared_openssl) return '/etc/ssl';
  try {
    const m = /OPENSSLDIR: "([^"]*)"/.exec(execFileSync('openssl', ['version', '-d'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    if (m) return m[1];
  } catch {
    // no openssl command: the usual place
  }
  return '/usr/lib/ssl';
}

/** OpenSSL's default store (X509_STORE_set_default_paths): SSL_CERT_FILE and SSL_CERT_DIR, else OPENSSLDIR's. */
function opensslStore() {
  const dir = process.env.SSL_CERT_FILE && process.env.SSL_CERT_DIR ? '' : opensslDir();
  const file = process.env.SSL_CERT_FILE || path.join(dir, 'cert.pem');
  const dirs = process.env.SSL_CERT_DIR ? process.env.SSL_CERT_DIR.split(path.delimiter) : [path.join(dir, 'certs')];
  return [...loadFile(file), ...dirs.flatMap(loadDir)];
}

let emulated = null;

/** Node's root store on a Node without tls.getCACertificates (Node 20), built once as Node builds it once. */
function emulatedDefaults() {
  if (emulated) return emulated;
  const list = usesOpensslStore() ? opensslStore() : [...tls.rootCertificates];
  const systemPath = process.config.variables.openssl_system_ca_path;
  if (systemPath) list.push(...loadFile(systemPath));
  if (EXTRA_CA_FILE) list.push(...extraCertificates(EXTRA_CA_FILE));
  emulated = list.map((p) => Buffer.from(p));
  return emulated;
}

// Node's default CA certificates, as Buffers, kept while Node's list stays the same.
let defaults = { key: null, list: null };

/**
 * The trust store Node uses without a `ca` option: `{defaultCa}` for the native layer. Where
 * Node can say (tls.getCACertificates, Node 22.15+/23.10+), its default set as it is: the bundled
 * roots (or what --use-openssl-ca reads), NODE_EXTRA_CA_CERTS, and the system store when
 * --use-system-ca / NODE_USE_SYSTEM_CA=1 is in force. Otherwise the same set built as that Node
 * builds it.
 */
function nodeDefaultTrust() {
  if (typeof tls.getCACertificates !== 'function') return { defaultCa: emulatedDefaults() };
  const pems = tls.getCACertificates('default');
  const key = `${pems.length}:${pems[0] || ''}:${pems[pems.length - 1] || ''}`;
  if (defaults.key !== key) defaults = { key, list: pems.map((p) => Buffer.from(p)) };
  return { defaultCa: defaults.list };
}

module.exports = { caList, nodeDefaultTrust, certificatesOf, usesOpensslStore };
