'use strict';
// The package as npm delivers it: the root tarball and this machine's platform package installed
// into a fresh project without Rust on PATH, then the platform's doc script run on it against the
// emulator (scripts/pack-test.js does the work; this file asserts on what it saw).
//
// Uses whatever addon the repository has built (debug or release). Without one, the test is
// skipped, except under CI (CI=true or CI=1: support/ci.js), where a missing addon is a failure.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const { runPackTest, builtAddon, hostPlatformArchABI, testNodes } = require('../../scripts/pack-test.js');
const { underCI } = require('../support/ci');

const PLATFORM = hostPlatformArchABI();
const ADDON = builtAddon(PLATFORM);
const EXPECTED_PLATFORM_PACKAGES = [
  'aliyun-iot-amqp-darwin-arm64',
  'aliyun-iot-amqp-darwin-x64',
  'aliyun-iot-amqp-linux-arm64-gnu',
  'aliyun-iot-amqp-linux-arm64-musl',
  'aliyun-iot-amqp-linux-x64-gnu',
  'aliyun-iot-amqp-linux-x64-musl',
  'aliyun-iot-amqp-win32-x64-msvc',
];

let skip = false;
if (!ADDON) {
  const reason = `no built addon aliyun-iot-amqp.${PLATFORM}.node in the repository root (run \`npm run build\` or \`npm run build:debug\` first)`;
  if (underCI()) {
    test('pack test has an addon to ship', () => assert.fail(`${reason}; under CI the pack test must run`));
  }
  skip = reason;
}

test('the packed packages install without Rust and run the doc script', { skip, timeout: 240000 }, async () => {
  const nodes = testNodes();
  const r = await runPackTest({ addon: ADDON, nodes });

  // The root tarball: what index.js needs, nothing built, no sources or tests.
  for (const f of ['package.json', 'index.js', 'index.d.ts', 'native.js', 'lib/options.js', 'lib/message.js', 'README.md', 'LICENSE']) {
    assert.ok(r.rootFiles.includes(f), `root tarball lacks ${f}: ${r.rootFiles.join(', ')}`);
  }
  const stray = r.rootFiles.filter((f) => /\.node$|^src\/|^__test__\/|^target\/|^npm\/|Cargo\./.test(f));
  assert.deepEqual(stray, [], 'root tarball holds files it should not');

  // Every platform package napi-rs would publish, with the fields npm selects on.
  assert.deepEqual(r.platformPackages.map((p) => p.name).sort(), EXPECTED_PLATFORM_PACKAGES);
  for (const p of r.platformPackages) {
    assert.equal(p.main, `aliyun-iot-amqp.${p.dir}.node`);
    assert.ok(Array.isArray(p.os) && Array.isArray(p.cpu), `${p.name}: os/cpu`);
    if (p.dir.startsWith('linux-')) assert.deepEqual(p.libc, [p.dir.endsWith('-musl') ? 'musl' : 'glibc'], `${p.name}: libc`);
  }
  assert.deepEqual(r.platformFiles, ['README.md', `aliyun-iot-amqp.${PLATFORM}.node`, 'package.json']);

  // No Rust toolchain where it was installed and run.
  assert.equal(r.probe.cargo, 'ENOENT', 'cargo must not be found on the install PATH');
  assert.equal(r.probe.rustc, 'ENOENT', 'rustc must not be found on the install PATH');

  // require('aliyun-iot-amqp') loads the addon from the platform package.
  assert.ok(r.installed.includes('aliyun-iot-amqp') && r.installed.includes(`aliyun-iot-amqp-${PLATFORM}`), `installed: ${r.installed}`);
  assert.deepEqual(r.installed.filter((d) => d.startsWith('aliyun-iot-amqp-')), [`aliyun-iot-amqp-${PLATFORM}`], 'no other platform package installed');
  assert.equal(r.probe.loaded, true, `require failed: ${r.probe.error}`);
  assert.equal(r.probe.resolved, path.join(r.tmp, 'app', 'node_modules', 'aliyun-iot-amqp', 'index.js'));
  assert.deepEqual(r.probe.addons, [path.join(r.tmp, 'app', 'node_modules', `aliyun-iot-amqp-${PLATFORM}`, `aliyun-iot-amqp.${PLATFORM}.node`)]);
  assert.equal(typeof r.probe.signed.password, 'string');

  // Without its platform package, the message itself names the package to install and the
  // platform detected; the loader's own error is the cause.
  assert.equal(r.bareProbe.loaded, false);
  assert.ok(r.bareProbe.error.includes(`npm install aliyun-iot-amqp-${PLATFORM}@`), r.bareProbe.error);
  assert.ok(r.bareProbe.error.includes(`(${process.platform} ${process.arch}`), r.bareProbe.error);
  assert.match(r.bareProbe.causes[0], /Cannot find native binding/);
  assert.ok(r.bareProbe.causes.some((c) => c.includes(`'aliyun-iot-amqp-${PLATFORM}'`)),
    `the error's causes should name aliyun-iot-amqp-${PLATFORM}: ${JSON.stringify(r.bareProbe.causes)}`);

  // ES modules from the installed tarball: named and default imports, the very CommonJS objects;
  // and TypeScript's ESM view of it.
  assert.equal(r.esm.failed, undefined, `import failed: ${r.esm.stderr}`);
  assert.deepEqual(r.esm.notSame, []);
  assert.ok(r.esm.names > 10, `${r.esm.names} exports`);
  assert.deepEqual([r.esm.createConsumer, r.esm.connect, r.esm.container, r.esm.signed, r.esm.kind], ['function', 'function', true, true, 'property']);
  assert.equal(r.tsEsm.status, 0, `tsc (nodenext) on an ESM import of the installed package:\n${r.tsEsm.output}`);
  for (const f of ['index.mjs', 'index.d.mts']) assert.ok(r.rootFiles.includes(f), `root tarball lacks ${f}`);

  // The other Node.js versions given (CI: 18, 22 and 24 besides this one): require, import, demo.
  assert.deepEqual(r.nodes.map((n) => n.node), nodes);
  for (const n of r.nodes) {
    assert.equal(n.cjs.failed, undefined, `${n.version}: require failed: ${n.cjs.stderr}`);
    assert.equal(n.cjs.loaded, true, `${n.version}: ${n.cjs.error}`);
    assert.equal(n.esm.failed, undefined, `${n.version}: import failed: ${n.esm.stderr}`);
    assert.deepEqual(n.esm.notSame, [], n.version);
    assert.equal(n.esm.node, n.version);
    assert.equal(n.demo.status, 0, `${n.version}: demo exited ${n.demo.status} ${n.demo.signal}: ${n.demo.stderr}`);
    assert.equal(n.demo.stdout.trim().split('\n').length, 3, `${n.version}: ${n.demo.stdout}`);
  }

  // `npx aliyun-iot-amqp demo` ran from the installed project and showed messages flowing.
  assert.equal(r.demo.status, 0, `demo exited ${r.demo.status} ${r.demo.signal}; stderr: ${r.demo.stderr}`);
  // A demo line is `time topic [kind] payload` (the device for the topic where COLUMNS is narrow).
  const demoMessages = r.demo.stdout.split('\n').filter((l) => /^\d\d:\d\d:\d\d \S+ \[[a-z-]+(:\S+)?\] /.test(l));
  assert.ok(demoMessages.length >= 3, `demo printed no messages:\n${r.demo.stdout}`);

  // The doc script ran on the installed copy: every message printed, accepted once, none left.
  assert.equal(r.doc.timedOut, false, `doc script timed out; stderr: ${r.doc.stderr}`);
  assert.equal(r.doc.stderr, '');
  assert.deepEqual(r.doc.lines, r.expectedLines);
  assert.ok(r.acceptedPerMessage.every((n) => n === 1), `accepts per message: ${r.acceptedPerMessage}`);
  assert.equal(r.pending, 0);
  const appModules = path.join(r.tmp, 'app', 'node_modules');
  assert.ok(r.docLoaded && r.docLoaded.length > 0, 'the doc script recorded what it loaded');
  assert.deepEqual(r.docLoaded.filter((f) => !f.startsWith(appModules)), [], 'the doc script loaded the package from outside the installed project');
});
