'use strict';

/**
 * Throwaway TLS material for the platform emulator, made with node:crypto alone (no openssl CLI,
 * no dependency): EC P-256 keys from `crypto.generateKeyPairSync`, the X.509 v3 certificates
 * encoded here in DER and signed with `crypto.sign` (ECDSA with SHA-256). A CA and a leaf take a
 * few milliseconds.
 *
 * The certificates are the kind a CA issues (a v3 CA with keyCertSign, a leaf with serverAuth
 * and subject alternative names), which every client accepts.
 *
 * Clients trust the CA, either through the `ca` TLS option or `NODE_EXTRA_CA_CERTS=caFile`.
 * The leaf is valid for `DNS:localhost`, `IP:127.0.0.1` and `IP:::1`.
 */

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** Validity of certificates made for a temporary directory, in days: they outlive one run. */
const TEMP_VALIDITY_DAYS = 7;
/** Validity of certificates written to a directory the caller chose (kept and reused). */
const KEPT_VALIDITY_DAYS = 365;
/** Kept certificates are made anew when they expire within this many days. */
const RENEW_BEFORE_DAYS = 1;

/** The files a certificate directory holds. */
const FILES = Object.freeze({ ca: 'ca.pem', cert: 'server.pem', key: 'server.key' });
/** The subject of every CA this module makes (then a random suffix): how it knows its own. */
const CA_PREFIX = 'aliyun-iot-amqp emulator CA ';

// ---------------------------------------------------------------------------------------------
// DER, as far as certificates need it

function length(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A TLV: `tag` byte, then the length, then the concatenated contents. */
function tlv(tag, ...contents) {
  const body = Buffer.concat(contents.map((c) => (Buffer.isBuffer(c) ? c : Buffer.from(c))));
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

const seq = (...items) => tlv(0x30, ...items);
const set = (...items) => tlv(0x31, ...items);
const octets = (buf) => tlv(0x04, buf);
const bool = (v) => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
const utf8 = (s) => tlv(0x0c, Buffer.from(s, 'utf8'));
/** A context-specific explicit tag [n] around `inner`. */
const explicit = (n, inner) => tlv(0xa0 | n, inner);

/** An unsigned big-endian integer (a Buffer) as a DER INTEGER: minimal, non-negative. */
function integer(bytes) {
  let b = Buffer.from(bytes);
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  b = b.subarray(i);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(dotted) {
  const parts = dotted.split('.').map(Number);
  const bytes = [40 * parts[0] + parts[1]];
  for (const part of parts.slice(2)) {
    const chunk = [part & 0x7f];
    for (let v = Math.floor(part / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** A BIT STRING of whole bytes (no unused bits), e.g. a signature. */
const bits = (buf) => tlv(0x03, Buffer.from([0]), buf);

/** A named-bit BIT STRING (keyUsage): DER drops trailing zero bits. */
function namedBits(bitNumbers) {
  const last = Math.max(...bitNumbers);
  const bytes = Buffer.alloc(Math.floor(last / 8) + 1);
  for (const n of bitNumbers) bytes[Math.floor(n / 8)] |= 0x80 >> (n % 8);
  const unused = 7 - (last % 8);
  return tlv(0x03, Buffer.from([unused]), bytes);
}

/** UTCTime up to 2049, GeneralizedTime after (RFC 5280). */
function time(date) {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'; // YYYYMMDDHHMMSSZ
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

function name(commonName) {
  return seq(
    set(seq(oid(OID.organization), utf8('aliyun-iot-amqp'))),
    set(seq(oid(OID.commonName), utf8(commonName))),
  );
}

function extension(id, critical, value) {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/** A random positive 64-bit serial number. */
function serial() {
  const bytes = crypto.randomBytes(8);
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return integer(bytes);
}

/** The key identifier of RFC 5280 method 1: SHA-1 of the subjectPublicKey bits. */
function keyId(spkiDer) {
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm, BIT STRING }; for P-256 the BIT STRING holds
  // the 65-byte uncompressed point, the last bytes of the structure.
  return crypto.createHash('sha1').update(spkiDer.subarray(spkiDer.length - 65)).digest();
}

function ipBytes(ip) {
  if (ip.includes(':')) {
    const [head, tail = ''] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    const out = Buffer.alloc(16);
    groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
    return out;
  }
  return Buffer.from(ip.split('.').map(Number));
}

/**
 * One certificate, DER-encoded and signed by `issuerKey`.
 * @returns {Buffer}
 */
function certificate({ subject, issuer, publicKey, issuerKey, issuerKeyId, days, extensions }) {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const notBefore = new Date(Date.now() - 60 * 60 * 1000); // an hour of clock skew
  const notAfter = new Date(Date.now() + days * 24 * 60 * 60 * 1000);
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const exts = [
    ...extensions,
    extension(OID.subjectKeyIdentifier, false, octets(keyId(spki))),
  ];
  if (issuerKeyId) exts.push(extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, issuerKeyId))));
  const tbs = seq(
    explicit(0, integer([2])), // v3
    serial(),
    algorithm,
    name(issuer),
    seq(time(notBefore), time(notAfter)),
    name(subject),
    spki,
    explicit(3, seq(...exts)),
  );
  const signature = crypto.sign('sha256', tbs, issuerKey); // DER-encoded ECDSA signature
  return seq(tbs, algorithm, bits(signature));
}

function pem(label, der) {
  const lines = der.toString('base64').match(/.{1,64}/g).join('\n');
  return `-----BEGIN ${label}-----\n${lines}\n-----END ${label}-----\n`;
}

/**
 * A fresh CA and a server certificate it signed for localhost, as PEM strings.
 * @param {{days?: number}} [opts]
 * @returns {{ca: string, cert: string, key: string}}
 */
function makeCertificates({ days = TEMP_VALIDITY_DAYS } = {}) {
  const caKeys = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leafKeys = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  // A random suffix, so that CAs of different runs never share a subject.
  const caName = `${CA_PREFIX}${crypto.randomBytes(4).toString('hex')}`;
  const caKeyId = keyId(caKeys.publicKey.export({ type: 'spki', format: 'der' }));

  const ca = certificate({
    subject: caName,
    issuer: caName,
    publicKey: caKeys.publicKey,
    issuerKey: caKeys.privateKey,
    days: days + 1,
    extensions: [
      extension(OID.basicConstraints, true, seq(bool(true))),
      extension(OID.keyUsage, true, namedBits([5, 6])), // keyCertSign, cRLSign
    ],
  });

  const san = seq(
    tlv(0x82, Buffer.from('localhost')), // dNSName
    tlv(0x87, ipBytes('127.0.0.1')), // iPAddress
    tlv(0x87, ipBytes('::1')),
  );
  const leaf = certificate({
    subject: 'localhost',
    issuer: caName,
    publicKey: leafKeys.publicKey,
    issuerKey: caKeys.privateKey,
    issuerKeyId: caKeyId,
    days,
    extensions: [
      extension(OID.basicConstraints, true, seq()), // CA:FALSE (the DER default, left out)
      extension(OID.keyUsage, true, namedBits([0])), // digitalSignature
      extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
      extension(OID.subjectAltName, false, san),
    ],
  });

  return {
    ca: pem('CERTIFICATE', ca),
    cert: pem('CERTIFICATE', leaf),
    key: leafKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }),
  };
}

// ---------------------------------------------------------------------------------------------
// Files

/** Generated material, by directory ('' for the default temporary directory). */
const cache = new Map();

/** Temporary directories this module created, removed when the process exits. */
const createdDirs = [];
let cleanupRegistered = false;

function registerCleanup(dir) {
  createdDirs.push(dir);
  // Also when this thread's environment is torn down without an 'exit' event (a Worker that is
  // terminated): the native addon removes the directory then.
  try {
    require('../native.js').removeDirAtEnvExit(dir);
  } catch {
    // No addon (or an old one): the 'exit' handler below still runs in the usual cases.
  }
  if (cleanupRegistered) return;
  cleanupRegistered = true;
  process.once('exit', () => {
    for (const d of createdDirs) {
      try {
        fs.rmSync(d, { recursive: true, force: true });
      } catch {
        // Best effort: the native hook above removes it as well.
      }
    }
  });
}

/**
 * What `dir` holds: {present: [file names there], material: a set this module made, or null,
 * fresh: whether that set is valid for another while}.
 */
function inspect(dir) {
  const present = Object.values(FILES).filter((f) => fs.existsSync(path.join(dir, f)));
  if (present.length === 0) return { present, material: null, fresh: false };
  try {
    const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8');
    const material = { ca: read(FILES.ca), cert: read(FILES.cert), key: read(FILES.key) };
    const ca = new crypto.X509Certificate(material.ca);
    const leaf = new crypto.X509Certificate(material.cert);
    const ours = ca.ca && ca.subject.includes(`CN=${CA_PREFIX}`) && !leaf.ca && leaf.checkIssued(ca) && leaf.verify(ca.publicKey)
      && leaf.checkPrivateKey(crypto.createPrivateKey(material.key));
    if (!ours) return { present, material: null, fresh: false };
    const renewAt = Date.now() + RENEW_BEFORE_DAYS * 24 * 60 * 60 * 1000;
    const fresh = new Date(leaf.validTo).getTime() > renewAt && new Date(ca.validTo).getTime() > renewAt;
    return { present, material, fresh };
  } catch {
    return { present, material: null, fresh: false };
  }
}

/**
 * Generates (or returns the cached) CA and server certificate.
 *
 * @param {string} [dir] Directory to keep them in as `ca.pem`, `server.pem` and `server.key`
 *   (created if needed). A set this module made there before is reused while it is valid for
 *   another day (so a CA file exported once keeps working across runs), and renewed in place when
 *   it is not. Files of those names that this module did not make (a CA of the user's, say) are
 *   never overwritten: an Error with code 'EEXIST' names them. Default: a fresh
 *   `aliyun-iot-amqp-certs-*` directory in the temporary directory (the key readable by its owner
 *   only), removed when the process exits normally ('exit': not when killed by a signal it does
 *   not handle, nor after an uncaught exception) or the Worker thread that made it ends or is terminated.
 * @returns {{dir: string, caFile: string, ca: string, certFile: string, cert: string,
 *   keyFile: string, key: string}} PEM strings and the paths they were written to.
 */
function generateCerts(dir) {
  const cacheKey = dir ? path.resolve(dir) : '';
  const cached = cache.get(cacheKey);
  if (cached) return cached;

  let outDir;
  let material;
  let write = true;
  if (dir) {
    outDir = path.resolve(dir);
    fs.mkdirSync(outDir, { recursive: true });
    const found = inspect(outDir);
    if (found.present.length > 0 && !found.material) {
      const files = found.present.map((f) => path.join(outDir, f));
      const err = new Error(`${outDir} holds ${files.join(', ')}, not a CA and certificate the emulator made: they are left as they are; choose another directory (or an empty one)`);
      err.code = 'EEXIST';
      err.files = files;
      throw err;
    }
    if (found.material && found.fresh) {
      material = found.material;
      write = false;
    } else {
      material = makeCertificates({ days: KEPT_VALIDITY_DAYS });
    }
  } else {
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-certs-'));
    registerCleanup(outDir);
    material = makeCertificates({ days: TEMP_VALIDITY_DAYS });
  }

  const caFile = path.join(outDir, FILES.ca);
  const certFile = path.join(outDir, FILES.cert);
  const keyFile = path.join(outDir, FILES.key);
  if (write) {
    fs.writeFileSync(caFile, material.ca);
    fs.writeFileSync(certFile, material.cert);
    fs.writeFileSync(keyFile, material.key, { mode: 0o600 });
  }
  const result = Object.freeze({
    dir: outDir,
    caFile,
    ca: material.ca,
    certFile,
    cert: material.cert,
    keyFile,
    key: material.key,
  });
  cache.set(cacheKey, result);
  return result;
}

module.exports = { generateCerts, makeCertificates };
