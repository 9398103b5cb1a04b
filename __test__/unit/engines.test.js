'use strict';
// What Node.js the project needs, as it says: package-lock.json holds no package whose
// engines.node excludes the development minimum the README states (`npm ci` warns EBADENGINE
// otherwise), nor a runtime dependency that excludes the package's own engines (Node.js 18).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** semver from the lock (@napi-rs/cli's); resolved from the repository's node_modules. */
const semver = require(require.resolve('semver', { paths: [ROOT] }));

/** Packages in the lock that npm installs on this machine's kind (optional ones of other platforms aside). */
function lockPackages({ dev }) {
  return Object.entries(lock.packages)
    .filter(([k, p]) => k !== '' && !p.optional && (dev || !p.dev))
    .map(([k, p]) => ({ name: k.replace(/^.*node_modules\//, ''), version: p.version, engines: p.engines && p.engines.node }));
}

function excluding(version, packages) {
  return packages.filter((p) => p.engines && !semver.satisfies(version, p.engines)).map((p) => `${p.name}@${p.version} (node ${p.engines})`);
}

test('the README states the development minimum, and every package of the lock accepts it (no EBADENGINE on npm ci)', () => {
  const m = /Building needs a Rust toolchain \(([\d.]+)\+\) and Node\.js ([\d.]+)\+, ([\d.]+)\+ or ([\d.]+)\+/.exec(readme);
  assert.ok(m, 'README: "Building needs a Rust toolchain (1.x+) and Node.js 20.x+, 22.x+ or 24+"');
  for (const floor of m.slice(2)) {
    const version = semver.coerce(floor).version;
    assert.deepEqual(excluding(version, lockPackages({ dev: true })), [], `Node.js ${version}`);
  }
  // And the Node.js running this, when it is one the README names for development (CI also runs
  // the unit tests on Node.js 18, which only runs the package).
  const [a, b, c] = m.slice(2).map((f) => semver.coerce(f).version);
  const devRange = `>=${a} <${semver.major(a) + 1} || >=${b} <${semver.major(b) + 1} || >=${c}`;
  if (semver.satisfies(process.versions.node, devRange)) {
    assert.deepEqual(excluding(process.versions.node, lockPackages({ dev: true })), [], `Node.js ${process.versions.node}`);
  }
});

test('the runtime dependencies accept every Node.js the package says it runs on', () => {
  assert.equal(pkg.engines.node, '>= 18');
  for (const version of ['18.0.0', '20.0.0', '22.0.0', '24.0.0']) {
    assert.deepEqual(excluding(version, lockPackages({ dev: false })), [], `Node.js ${version}`);
  }
});
