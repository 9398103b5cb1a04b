'use strict';

/**
 * Throwaway TLS material for the test emulator.
 *
 * Generates, once per process, a private CA and a server ("leaf") certificate signed by it, using
 * the `openssl` command-line tool. The native client verifies with rustls/webpki, which is strict:
 *
 * - the leaf must not be self-signed and must chain to a trusted CA (webpki refuses a self-signed
 *   end-entity certificate even when it is listed as trusted);
 * - the CA must be an X.509 v3 certificate with `basicConstraints CA:TRUE` and `keyCertSign`;
 * - the leaf must carry a subjectAltName for the name the client connects to (the CN is ignored),
 *   `extendedKeyUsage serverAuth`, and must not itself be a CA.
 *
 * Clients trust the CA, either through the `ca` TLS option or `NODE_EXTRA_CA_CERTS=caFile`.
 * The leaf is valid for `DNS:localhost`, `IP:127.0.0.1` and `IP:::1`.
 */

const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const OPENSSL = fs.existsSync('/usr/bin/openssl') ? '/usr/bin/openssl' : 'openssl';

/** Validity of the generated certificates, in days: they only have to outlive one test run. */
const VALIDITY_DAYS = '7';

const CA_CONFIG = `[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca

[dn]
CN = aliyun-iot-amqp test CA

[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
`;

const LEAF_CONFIG = `[req]
distinguished_name = dn
prompt = no

[dn]
CN = localhost

[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
`;

/** Generated material, by directory ('' for the default temporary directory). */
const cache = new Map();

/** Temporary directories this module created, removed when the process exits. */
const createdDirs = [];
process.once('exit', () => {
  for (const dir of createdDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort: a leftover directory in the temp dir is harmless.
    }
  }
});

function openssl(args, cwd) {
  try {
    return execFileSync(OPENSSL, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (err) {
    const stderr = err.stderr ? err.stderr.toString().trim() : '';
    throw new Error(`openssl ${args.join(' ')} failed: ${stderr || err.message}`);
  }
}

/** A random positive 64-bit serial number, in the hex form openssl's `-set_serial` accepts. */
function randomSerial() {
  const bytes = crypto.randomBytes(8);
  bytes[0] &= 0x7f; // keep it positive
  bytes[0] |= 0x01; // and non-zero
  return '0x' + bytes.toString('hex');
}

/**
 * Generates (or returns the cached) CA and server certificate.
 *
 * @param {string} [dir] Directory to write the files to (created if needed). Default: a fresh
 *   `fs.mkdtempSync(os.tmpdir() + '/aliyun-iot-amqp-certs-')` directory, removed at process exit.
 * @returns {{dir: string, caFile: string, ca: string, certFile: string, cert: string,
 *   keyFile: string, key: string}} PEM strings and the paths they were written to.
 */
function generateCerts(dir) {
  const cacheKey = dir ? path.resolve(dir) : '';
  const cached = cache.get(cacheKey);
  if (cached) return cached;

  let outDir;
  if (dir) {
    outDir = path.resolve(dir);
    fs.mkdirSync(outDir, { recursive: true });
  } else {
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-certs-'));
    createdDirs.push(outDir);
  }

  fs.writeFileSync(path.join(outDir, 'ca.cnf'), CA_CONFIG);
  fs.writeFileSync(path.join(outDir, 'leaf.cnf'), LEAF_CONFIG);

  // EC P-256 keys: fast to generate, and accepted by rustls/webpki as well as by Node.
  const keyArgs = (out) => ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', out];

  // 1. The CA: self-signed, X.509 v3, CA:TRUE, keyCertSign.
  openssl(keyArgs('ca.key'), outDir);
  openssl(['req', '-config', 'ca.cnf', '-new', '-x509', '-key', 'ca.key', '-sha256',
    '-days', VALIDITY_DAYS, '-set_serial', randomSerial(), '-out', 'ca.pem'], outDir);

  // 2. The server certificate: a CSR for the leaf key, signed by the CA with the v3_leaf extensions.
  openssl(keyArgs('server.key'), outDir);
  openssl(['req', '-config', 'leaf.cnf', '-new', '-key', 'server.key', '-out', 'server.csr'], outDir);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
    '-set_serial', randomSerial(), '-days', VALIDITY_DAYS, '-sha256',
    '-extfile', 'leaf.cnf', '-extensions', 'v3_leaf', '-out', 'server.pem'], outDir);

  // 3. Sanity check: the leaf chains to the CA and is fit for a TLS server.
  openssl(['verify', '-purpose', 'sslserver', '-CAfile', 'ca.pem', 'server.pem'], outDir);

  const caFile = path.join(outDir, 'ca.pem');
  const certFile = path.join(outDir, 'server.pem');
  const keyFile = path.join(outDir, 'server.key');
  const result = Object.freeze({
    dir: outDir,
    caFile,
    ca: fs.readFileSync(caFile, 'utf8'),
    certFile,
    cert: fs.readFileSync(certFile, 'utf8'),
    keyFile,
    key: fs.readFileSync(keyFile, 'utf8'),
  });
  cache.set(cacheKey, result);
  return result;
}

module.exports = { generateCerts };
