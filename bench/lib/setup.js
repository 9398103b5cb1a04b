'use strict';
// Before the runs: the builds (the addon with the package's own `npm run build`, output kept in
// bench/build; loadgen and floor with cargo into bench/target) and the TLS certificates.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { BENCH, ROOT, TARGET, BUILD, CERTS } = require('./paths');
const { run } = require('./proc');

function build() {
  fs.mkdirSync(BUILD, { recursive: true });
  // The addon, release, with the package's own build script; output kept under bench/.
  run('npm', ['run', 'build', '--', '--target-dir', TARGET, '--output-dir', BUILD], { cwd: ROOT });
  // Only the .node is used (through NAPI_RS_NATIVE_LIBRARY_PATH, by the package's own native.js).
  // A fresh checkout has no native.js (generated, git-ignored): put the one just generated where
  // `npm run build` would have, so that index.js loads.
  for (const f of ['native.js', 'native.d.ts']) {
    if (!fs.existsSync(path.join(ROOT, f)) && fs.existsSync(path.join(BUILD, f))) fs.copyFileSync(path.join(BUILD, f), path.join(ROOT, f));
    fs.rmSync(path.join(BUILD, f), { force: true });
  }
  run('cargo', ['build', '--release', '--quiet'], { cwd: BENCH, env: { ...process.env, CARGO_TARGET_DIR: TARGET } });
}

function certs() {
  const ca = path.join(CERTS, 'ca.pem');
  const cert = path.join(CERTS, 'leaf.pem');
  const key = path.join(CERTS, 'leaf.key');
  if (fs.existsSync(ca) && fs.existsSync(cert) && fs.existsSync(key)) return { ca, cert, key };
  fs.mkdirSync(CERTS, { recursive: true });
  const ossl = (args) => execFileSync('openssl', args, { cwd: CERTS, stdio: ['ignore', 'ignore', 'pipe'] });
  // RSA 2048 as the platform's certificates are.
  ossl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=bench CA',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  ossl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'leaf.key', '-out', 'leaf.csr']);
  fs.writeFileSync(path.join(CERTS, 'leaf.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  ossl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '3650',
    '-out', 'leaf.pem', '-extfile', 'leaf.ext']);
  return { ca, cert, key };
}

module.exports = { build, certs };
