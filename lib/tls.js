'use strict';
// TLS as Node's own TLS does it, the JavaScript half (the verdict itself is Rust's, src/tls/; whom
// to trust is ./trust.js): the running Node's security level, the NODE_TLS_REJECT_UNAUTHORIZED=0
// default with Node's warning, and the peer certificate in the shape of Node's
// `getPeerCertificate()`, for `checkServerIdentity` and `connection.getPeerCertificate()`.

const crypto = require('node:crypto');
const tls = require('node:tls');

const { certificatesOf } = require('./trust.js');

// ---------------------------------------------------------------------------------------------
// The running Node's OpenSSL security level (1 with Node 20 and 22's OpenSSL, 2 on Node 24): it
// decides which key sizes and digests Node accepts. Node has no API for it, so it is probed once:
// Node's own TLS refuses to load a certificate whose key is weaker than its level allows.

const der = {
  tlv(tag, ...parts) {
    const body = Buffer.concat(parts);
    let len;
    if (body.length < 0x80) len = Buffer.from([body.length]);
    else {
      const bytes = [];
      for (let n = body.length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
      len = Buffer.from([0x80 | bytes.length, ...bytes]);
    }
    return Buffer.concat([Buffer.from([tag]), len, body]);
  },
  time(d) {
    return der.tlv(0x17, Buffer.from(d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z'));
  },
};

/** A throwaway self-signed certificate (PEM) for `keys`, signed with SHA-256. */
function probeCertificate(keys) {
  const rsa = keys.privateKey.asymmetricKeyType === 'rsa';
  // sha256WithRSAEncryption (with NULL parameters) or ecdsa-with-SHA256.
  const alg = rsa
    ? Buffer.from('300d06092a864886f70d01010b0500', 'hex')
    : Buffer.from('300a06082a8648ce3d040302', 'hex');
  const name = der.tlv(0x30, der.tlv(0x31, der.tlv(0x30, Buffer.from('0603550403', 'hex'), der.tlv(0x0c, Buffer.from('probe')))));
  const now = Date.now();
  const tbs = der.tlv(0x30,
    der.tlv(0xa0, Buffer.from('020102', 'hex')), Buffer.from('020101', 'hex'), alg, name,
    der.tlv(0x30, der.time(new Date(now - 86400000)), der.time(new Date(now + 86400000))), name,
    keys.publicKey.export({ type: 'spki', format: 'der' }));
  const signature = crypto.sign('sha256', tbs, keys.privateKey);
  const cert = der.tlv(0x30, tbs, alg, der.tlv(0x03, Buffer.from([0]), signature));
  return `-----BEGIN CERTIFICATE-----\n${cert.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** Whether Node's TLS takes a certificate with this key at its default security level. */
function loads(keys) {
  try {
    tls.createSecureContext({ key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }), cert: probeCertificate(keys) });
    return true;
  } catch (err) {
    if (err && err.code === 'ERR_SSL_EE_KEY_TOO_SMALL') return false;
    throw err;
  }
}

let level = null;

/** The running Node's default OpenSSL security level, 0 to 5 (probed once, a few ms). */
function securityLevel() {
  if (level !== null) return level;
  try {
    // A key of each strength, weakest first: the first that loads names the level. EC keys, as
    // they take well under a millisecond to make (RSA-1024 takes over 10 ms, RSA-2048 over 100):
    // secp112r1 (56 bits: refused from level 1, 80 bits), P-192 (80: refused from 2, 112), P-224
    // (112: refused from 3, 128), P-256 (128: refused from 4, 192), P-384 (192: refused at 5,
    // 256). Where an OpenSSL lacks one of the small curves, the RSA key of the same strength.
    const ec = (namedCurve, rsaBits) => () => {
      try {
        return crypto.generateKeyPairSync('ec', { namedCurve });
      } catch (err) {
        if (!rsaBits) throw err;
        return crypto.generateKeyPairSync('rsa', { modulusLength: rsaBits });
      }
    };
    const probes = [ec('secp112r1', 512), ec('prime192v1', 1024), ec('secp224r1', 2048), ec('prime256v1'), ec('secp384r1')];
    level = 5;
    for (let i = 0; i < probes.length; i += 1) {
      if (loads(probes[i]())) {
        level = i;
        break;
      }
    }
  } catch {
    level = 1; // OpenSSL 3's default, should the probe itself fail
  }
  return level;
}

/** OpenSSL 3.2 and later name TLS alerts "ssl/tls alert ..." where 3.0 said "sslv3 alert ...". */
function alertNaming() {
  const [major, minor] = String(process.versions.openssl || '').split('.').map(Number);
  return major > 3 || (major === 3 && minor >= 2) ? 'SSL/TLS' : 'SSLV3';
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
 * from the trusted ones the issuers of the last, up to a self-issued one, as Node looks them up
 * in its store), a self-signed top pointing at itself as in Node. `chain` is DER Buffers, leaf
 * first; `trusted` the `ca` items or Node's default certificates (PEM/DER Buffers).
 */
function peerCertificate(chain, trusted = []) {
  if (!chain || chain.length === 0) return {};
  const certs = chain.map((der) => new crypto.X509Certificate(der));
  const objects = certs.map(legacyObject);
  let store = null;
  for (let last = certs[certs.length - 1]; !last.checkIssued(last) && certs.length < 100;) {
    store = store || trusted.flatMap(certificatesOf);
    const issuer = store.find((c) => last.checkIssued(c) && last.verify(c.publicKey) && !certs.some((x) => x.raw.equals(c.raw)));
    if (!issuer) break;
    certs.push(issuer);
    objects.push(legacyObject(issuer));
    last = issuer;
  }
  for (let i = 0; i < objects.length; i += 1) {
    const next = i + 1 < objects.length ? objects[i + 1] : null;
    if (next && certs[i].checkIssued(certs[i + 1])) objects[i].issuerCertificate = next;
    else if (certs[i].checkIssued(certs[i])) objects[i].issuerCertificate = objects[i];
  }
  return objects[0];
}

module.exports = { rejectUnauthorizedDefault, peerCertificate, securityLevel, alertNaming };
