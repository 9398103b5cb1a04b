'use strict';
// TLS as Node's own TLS does it, the JavaScript half (the verdict itself is Rust's, src/tls/):
// the `ca` option checked (a TypeError naming it, never quoting it), the trust store Node would
// use when there is no `ca` (the running Node's own default CA certificates), the
// NODE_TLS_REJECT_UNAUTHORIZED=0 default with Node's warning, and the peer certificate in the shape
// of Node's `getPeerCertificate()`, for `checkServerIdentity` and `connection.getPeerCertificate()`.

const crypto = require('node:crypto');
const tls = require('node:tls');

// lib/options.js requires this module: its validators are looked up when used.
const fail = (...args) => require('./options.js').fail(...args);

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Why a `ca` item is not usable, or null when it is. Never quotes the item. */
function caProblem(item) {
  const text = Buffer.isBuffer(item) ? item.toString('latin1') : item;
  if (text.includes('-----BEGIN ')) {
    let certificates = 0;
    for (const m of text.matchAll(PEM_BLOCK)) {
      if (m[1] !== 'CERTIFICATE' && m[1] !== 'TRUSTED CERTIFICATE' && m[1] !== 'X509 CERTIFICATE') continue;
      try {
        new crypto.X509Certificate(m[0].replace('TRUSTED CERTIFICATE', 'CERTIFICATE').replace('X509 CERTIFICATE', 'CERTIFICATE'));
      } catch {
        return 'a PEM CERTIFICATE block that does not decode as a certificate (bad base64 or a truncated file?)';
      }
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
 * The `ca` option: PEM text (a string or Buffer with one or more CERTIFICATE blocks), a DER
 * certificate (a Buffer), or an array of them. Returns Buffers; throws a TypeError naming `ca`.
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

// Node's default CA certificates, as Buffers, kept while Node's list stays the same.
let defaults = { key: null, list: null };

/**
 * The trust store Node uses without a `ca` option: `{defaultCa, nodeExtraCaCerts}` for the
 * native layer. Where Node can say (tls.getCACertificates, Node 22.15+/23.10+), its default set
 * as it is: the bundled roots (or what --use-openssl-ca reads), NODE_EXTRA_CA_CERTS, and the
 * system store when --use-system-ca / NODE_USE_SYSTEM_CA=1 is in force. Otherwise (Node 20) its
 * bundled roots and the NODE_EXTRA_CA_CERTS file, which was all that Node trusts.
 */
function nodeDefaultTrust() {
  const hasApi = typeof tls.getCACertificates === 'function';
  const pems = hasApi ? tls.getCACertificates('default') : tls.rootCertificates;
  const key = `${pems.length}:${pems[0] || ''}:${pems[pems.length - 1] || ''}`;
  if (defaults.key !== key) defaults = { key, list: pems.map((p) => Buffer.from(p)) };
  return {
    defaultCa: defaults.list,
    nodeExtraCaCerts: !hasApi && process.env.NODE_EXTRA_CA_CERTS ? process.env.NODE_EXTRA_CA_CERTS : undefined,
  };
}

let warnedUnauthorized = false;

/** rejectUnauthorized's default: false under NODE_TLS_REJECT_UNAUTHORIZED=0, with Node's warning. */
function rejectUnauthorizedDefault() {
  const allow = process.env.NODE_TLS_REJECT_UNAUTHORIZED === '0';
  if (allow && !warnedUnauthorized) {
    warnedUnauthorized = true;
    process.emitWarning('Setting the NODE_TLS_REJECT_UNAUTHORIZED environment variable to \'0\' makes TLS connections and HTTPS requests insecure by disabling certificate verification.');
  }
  return !allow;
}

/** A certificate (DER) in the shape of Node's `getPeerCertificate()`. */
function legacyObject(x509) {
  const o = x509.toLegacyObject();
  // Node's TLSSocket adds these where X509Certificate#toLegacyObject() leaves them out.
  if (o.subjectaltname === undefined && x509.subjectAltName !== undefined) o.subjectaltname = x509.subjectAltName;
  if (o.infoAccess === undefined && x509.infoAccess !== undefined) {
    const access = Object.create(null);
    for (const line of x509.infoAccess.split('\n')) {
      const at = line.indexOf(' - ');
      if (at < 0) continue;
      const k = line.slice(0, at);
      (access[k] = access[k] || []).push(line.slice(at + 3));
    }
    o.infoAccess = access;
  }
  if (o.ext_key_usage === undefined && Array.isArray(x509.keyUsage) && x509.keyUsage.length) o.ext_key_usage = x509.keyUsage;
  return o;
}

/**
 * The peer's certificate as `tls.TLSSocket#getPeerCertificate(true)` gives it: the leaf's
 * legacy object, each `issuerCertificate` the next certificate of the chain (the server's, then
 * the trusted one that issued the last, when `trusted` holds it), a self-signed top pointing at
 * itself as in Node. `chain` is DER Buffers, leaf first; `trusted` PEM/DER Buffers.
 */
function peerCertificate(chain, trusted = []) {
  if (!chain || chain.length === 0) return {};
  const certs = chain.map((der) => new crypto.X509Certificate(der));
  const objects = certs.map(legacyObject);
  // The issuer of the last one sent, from the trust store, as Node appends it.
  const last = certs[certs.length - 1];
  if (!last.checkIssued(last)) {
    for (const item of trusted) {
      let anchor;
      try {
        anchor = new crypto.X509Certificate(item);
      } catch {
        continue;
      }
      if (last.checkIssued(anchor) && last.verify(anchor.publicKey)) {
        certs.push(anchor);
        objects.push(legacyObject(anchor));
        break;
      }
    }
  }
  for (let i = 0; i < objects.length; i += 1) {
    const next = i + 1 < objects.length ? objects[i + 1] : null;
    if (next && certs[i].checkIssued(certs[i + 1])) objects[i].issuerCertificate = next;
    else if (certs[i].checkIssued(certs[i])) objects[i].issuerCertificate = objects[i];
  }
  return objects[0];
}

module.exports = { caList, nodeDefaultTrust, rejectUnauthorizedDefault, peerCertificate };
