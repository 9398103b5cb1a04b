'use strict';
// Makes sure `napi build --use-napi-cross` finds its glibc 2.17 cross toolchain.
//
//   node scripts/glibc-toolchain.js <target triple> [...]
//   e.g. node scripts/glibc-toolchain.js x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu
//
// The napi-rs CLI unpacks the toolchain from the npm package
// @napi-rs/cross-toolchain-<host>-target-<arch> at exactly the version of its own
// @napi-rs/cross-toolchain dependency, into ~/.napi-rs/cross-toolchain/<version>/<triple>, and
// skips that when the directory already holds a package.json. The toolchain packages are not
// published at every version of @napi-rs/cross-toolchain (here 1.0.5 wanted
// ...-x64-target-x86_64@1.0.5, which the registry lacked: only 1.0.0 was there), and the build
// then fails. For each triple this script does nothing if the exact version is published (the CLI
// fetches it itself); otherwise it unpacks the newest published version below it where the CLI
// looks. Every version ships the same glibc 2.17 sysroot; scripts/glibc-report.js checks the result.
//
// Needs npm and tar with xz support (as on GitHub's Linux runners).

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

const ARCH_PACKAGE = {
  'x86_64-unknown-linux-gnu': 'x86_64',
  'aarch64-unknown-linux-gnu': 'aarch64',
  'armv7-unknown-linux-gnueabihf': 'armv7',
  'powerpc64le-unknown-linux-gnu': 'ppc64le',
  's390x-unknown-linux-gnu': 's390x',
};
// The archive inside the package is named after the triple, but for s390x.
const ARCHIVE_NAME = { 's390x-unknown-linux-gnu': 's390x-ibm-linux-gnu' };

function crossToolchainVersion() {
  const cli = path.dirname(require.resolve('@napi-rs/cli/package.json', { paths: [ROOT] }));
  const pkg = require.resolve('@napi-rs/cross-toolchain/package.json', { paths: [cli, ROOT] });
  return JSON.parse(fs.readFileSync(pkg, 'utf8')).version;
}

function compareSemver(a, b) {
  const pa = a.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const pb = b.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  return 0;
}

function npm(args, opts = {}) {
  return execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

function publishedVersions(name) {
  try {
    const out = JSON.parse(npm(['view', name, 'versions', '--json']));
    return (Array.isArray(out) ? out : [out]).filter((v) => /^\d+\.\d+\.\d+$/.test(v));
  } catch {
    return [];
  }
}

function seed(triple, version) {
  const arch = ARCH_PACKAGE[triple];
  if (!arch) throw new Error(`${triple}: not a target --use-napi-cross supports (${Object.keys(ARCH_PACKAGE).join(', ')})`);
  const host = { x64: 'x64', arm64: 'arm64' }[process.arch];
  if (process.platform !== 'linux' || !host) throw new Error(`--use-napi-cross runs on Linux x64 or arm64 hosts, not ${process.platform}-${process.arch}`);
  const dest = path.join(os.homedir(), '.napi-rs', 'cross-toolchain', version, triple);
  if (fs.existsSync(path.join(dest, 'package.json'))) return `${triple}: toolchain already in ${dest}`;

  const name = `@napi-rs/cross-toolchain-${host}-target-${arch}`;
  const versions = publishedVersions(name);
  if (versions.includes(version)) return `${triple}: ${name}@${version} is published; napi fetches it itself`;
  const usable = versions.filter((v) => compareSemver(v, version) <= 0).sort(compareSemver);
  const pick = usable[usable.length - 1];
  if (!pick) throw new Error(`${triple}: no version of ${name} at or below ${version} is published (have: ${versions.join(', ') || 'none'})`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'napi-cross-'));
  try {
    const tgz = npm(['pack', `${name}@${pick}`, '--pack-destination', tmp], { cwd: tmp }).trim().split('\n').pop();
    execFileSync('tar', ['-xzf', path.join(tmp, tgz), '-C', tmp]);
    const archive = path.join(tmp, 'package', `${ARCHIVE_NAME[triple] || triple}.tar.xz`);
    if (!fs.existsSync(archive)) throw new Error(`${name}@${pick} holds no ${path.basename(archive)}`);
    fs.mkdirSync(dest, { recursive: true });
    execFileSync('tar', ['-xJf', archive, '-C', dest]);
    if (!fs.existsSync(path.join(dest, 'package.json'))) throw new Error(`unpacked ${archive} into ${dest} but found no package.json there`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return `${triple}: ${name}@${version} is not published; unpacked ${pick} into ${dest}`;
}

if (require.main === module) {
  const triples = process.argv.slice(2);
  if (!triples.length) {
    console.error('usage: node scripts/glibc-toolchain.js <target triple> [...]');
    process.exitCode = 2;
  } else {
    try {
      const version = crossToolchainVersion();
      for (const t of triples) console.log(seed(t, version));
    } catch (err) {
      console.error(`glibc-toolchain: ${err.message}`);
      process.exitCode = 1;
    }
  }
}

module.exports = { seed, crossToolchainVersion };
