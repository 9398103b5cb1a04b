'use strict';
// Installs the package the way a user gets it from npm, and runs the platform's doc script on it.
//
//   node scripts/pack-test.js            run it and print a summary (exit 1 on failure)
//   node scripts/pack-test.js --json     the same, the result as JSON
//   node scripts/pack-test.js --node /path/to/node18 --node /path/to/node22 ...
//                                        also load the installed package with those Node.js
//                                        binaries (require, import, the demo); the environment
//                                        variable ALIYUN_IOT_AMQP_TEST_NODES (paths joined by the
//                                        path delimiter) gives them to the test suite's pack test
//
// Steps (all in a fresh temporary directory; nothing in the repository is written):
//   1. `npm pack` the repository root and check what the tarball holds (everything index.js needs,
//      no addon, no sources, no tests).
//   2. Stage that tarball's files again with the `optionalDependencies` that `napi prepublish` adds
//      at publish time (one per platform package, at the package's version), and pack the stage.
//   3. Copy npm/<platform>/ for this machine, put the addon the repository has built into the copy
//      (whatever is there: debug or release) and `npm pack` it.
//   4. Install both tarballs into a fresh project with `npm install --offline` (npm's cache holds
//      the runtime dependencies after `npm ci`; else --prefer-offline), under a PATH with no cargo
//      and no rustc (proved by spawning them there), and require('aliyun-iot-amqp').
//   5. Install the root tarball alone into another project: require() must fail naming the missing
//      platform package.
//   6. Run the platform's doc script (__test__/support/doc-script.js), resolving 'aliyun-iot-amqp'
//      from the installed project only, against the test emulator; collect the printed lines and
//      the emulator's record of what was accepted.
//   7. ES modules: `import amqp, { createConsumer, ... } from 'aliyun-iot-amqp'` in the installed
//      project (the named exports must be the CommonJS objects), and TypeScript's view of the same
//      import (moduleResolution nodenext, through the exports map's `types`).
//   8. With each Node.js binary given (--node): the CommonJS probe, the ESM probe and the demo.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const PKG = require(path.join(ROOT, 'package.json'));

/** The name napi-rs gives this machine's platform package directory (npm/<name>), or null. */
function hostPlatformArchABI() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const report = process.report && typeof process.report.getReport === 'function' ? process.report.getReport() : null;
    const glibc = report && report.header && report.header.glibcVersionRuntime;
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`;
  }
  if (platform === 'darwin') return `darwin-${arch}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return null;
}

/** The addon the repository has built for this machine: `<binaryName>.<platform>.node`, or null. */
function builtAddon(platformArchABI = hostPlatformArchABI()) {
  if (!platformArchABI) return null;
  const file = path.join(ROOT, `${PKG.napi.binaryName}.${platformArchABI}.node`);
  return fs.existsSync(file) ? file : null;
}

/** How to run npm with this node: [executable, leading args]. */
function npmCommand() {
  const candidates = [];
  if (process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath)) candidates.push(process.env.npm_execpath);
  const nodeDir = path.dirname(process.execPath);
  candidates.push(path.join(nodeDir, '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'));
  candidates.push(path.join(nodeDir, 'node_modules', 'npm', 'bin', 'npm-cli.js'));
  for (const c of candidates) if (fs.existsSync(c)) return [process.execPath, [c]];
  return [process.platform === 'win32' ? 'npm.cmd' : 'npm', []];
}

function pathKey(env) {
  return Object.keys(env).find((k) => k.toUpperCase() === 'PATH') || 'PATH';
}

const TOOL_NAMES = ['cargo', 'rustc', 'rustup'];

function hasRustTool(dir) {
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', '.bat', ''] : [''];
  return TOOL_NAMES.some((t) => exts.some((e) => {
    try {
      return fs.statSync(path.join(dir, t + e)).isFile();
    } catch {
      return false;
    }
  }));
}

/**
 * This environment with every PATH entry that holds cargo, rustc or rustup removed (and the Rust
 * variables unset). Node's own directory stays reachable: if it held a Rust tool, a directory with
 * only a link to node takes its place.
 */
function envWithoutRust(tmp) {
  const env = { ...process.env };
  const key = pathKey(env);
  const removed = [];
  const kept = [];
  for (const dir of String(env[key] || '').split(path.delimiter)) {
    if (!dir) continue;
    if (hasRustTool(dir) || /[\\/]\.cargo[\\/]bin[\\/]?$/.test(dir)) removed.push(dir);
    else kept.push(dir);
  }
  const nodeDir = path.dirname(process.execPath);
  if (hasRustTool(nodeDir)) {
    const shim = path.join(tmp, 'node-bin');
    fs.mkdirSync(shim, { recursive: true });
    const link = path.join(shim, path.basename(process.execPath));
    if (!fs.existsSync(link)) fs.symlinkSync(process.execPath, link);
    kept.unshift(shim);
  } else if (!kept.includes(nodeDir)) {
    kept.unshift(nodeDir);
  }
  for (const k of Object.keys(env)) {
    if (k.toUpperCase() === 'PATH' && k !== key) delete env[k];
  }
  env[key] = kept.join(path.delimiter);
  for (const name of ['CARGO', 'CARGO_HOME', 'RUSTUP_HOME', 'RUSTUP_TOOLCHAIN', 'RUSTC', 'RUSTFLAGS']) delete env[name];
  // Set by `node --test` for its children; the commands run here are not test files.
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_PATH;
  return { env, removed };
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`${[cmd, ...args].join(' ')} (in ${opts.cwd}) exited ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r;
}

function npm(args, opts) {
  const [cmd, lead] = npmCommand();
  return run(cmd, [...lead, ...args], opts);
}

/**
 * `npm install` of tarballs into dir: from npm's cache only (the runtime dependencies are there
 * after `npm ci`; the platform packages of other machines are optional and left out), else
 * allowed to reach the registry for what the cache lacks. Returns the mode that worked.
 */
function install(dir, tarballs, env) {
  const common = ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', ...tarballs];
  try {
    npm([...common, '--offline'], { cwd: dir, env });
    return 'offline';
  } catch (offlineError) {
    try {
      npm([...common, '--prefer-offline'], { cwd: dir, env });
    } catch (onlineError) {
      onlineError.message += `\n(offline attempt: ${offlineError.message})`;
      throw onlineError;
    }
    return 'prefer-offline';
  }
}

/** `npm pack --json` in dir; returns {file, files: [paths in the tarball]}. */
function pack(dir, dest, env) {
  const r = npm(['pack', '--json', '--pack-destination', dest], { cwd: dir, env });
  const info = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))[0];
  return { file: path.join(dest, info.filename), files: info.files.map((f) => f.path).sort(), size: info.size };
}

/** What `napi prepublish` adds to the root package.json: every platform package at this version. */
function platformPackages() {
  const npmDir = path.join(ROOT, 'npm');
  return fs.readdirSync(npmDir)
    .filter((d) => fs.existsSync(path.join(npmDir, d, 'package.json')))
    .sort()
    .map((d) => {
      const pkg = JSON.parse(fs.readFileSync(path.join(npmDir, d, 'package.json'), 'utf8'));
      return { dir: d, name: pkg.name, version: pkg.version, main: pkg.main, os: pkg.os, cpu: pkg.cpu, libc: pkg.libc };
    });
}

// Run in the installed project: loads the package, reports which files it came from, and proves
// that cargo and rustc are not found on this PATH.
const PROBE = `
const { spawnSync } = require('node:child_process');
const out = {};
for (const tool of ['cargo', 'rustc']) {
  const r = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  out[tool] = r.error ? r.error.code : 'found: ' + String(r.stdout).trim();
}
try {
  const amqp = require('aliyun-iot-amqp');
  out.loaded = true;
  out.exports = Object.keys(amqp).concat(['connect', 'create_container'].filter((k) => typeof amqp[k] === 'function'));
  out.signed = amqp.sign({ accessKeyId: 'id', accessKeySecret: 'secret', consumerGroupId: 'g', clientId: 'c', timestamp: 1 });
} catch (err) {
  out.loaded = false;
  out.error = err.message;
  out.causes = [];
  for (let c = err.cause; c; c = c.cause) out.causes.push(String(c.message).split('\\n')[0]);
}
out.resolved = (() => { try { return require.resolve('aliyun-iot-amqp'); } catch (e) { return null; } })();
out.addons = Object.keys(require.cache).filter((k) => k.endsWith('.node'));
console.log(JSON.stringify(out));
`;

// Run in the installed project as an ES module: named and default imports, against require().
const ESM_PROBE = `
import { createRequire } from 'node:module';
import amqp, { createConsumer, connect, create_container, sign, parseTopic, Container } from 'aliyun-iot-amqp';
import * as ns from 'aliyun-iot-amqp';
const cjs = createRequire(import.meta.url)('aliyun-iot-amqp');
const notSame = Object.keys(ns).filter((k) => (k === 'default' ? ns.default !== cjs : ns[k] !== cjs[k]));
const signed = sign({ accessKeyId: 'id', accessKeySecret: 'secret', consumerGroupId: 'g', clientId: 'c', timestamp: 1 });
console.log(JSON.stringify({
  node: process.version, names: Object.keys(ns).length, notSame,
  createConsumer: typeof createConsumer, connect: typeof connect, container: create_container() instanceof Container && amqp instanceof Container,
  signed: signed.password === cjs.sign({ accessKeyId: 'id', accessKeySecret: 'secret', consumerGroupId: 'g', clientId: 'c', timestamp: 1 }).password,
  kind: parseTopic('/pk/dn/thing/event/property/post').kind,
}));
`;

// TypeScript in the installed project: an ES module importing by name and by default.
const TS_ESM_PROBE = `
import amqp, { createConsumer, sign, type Consumer, type ConsumerOptions, type Message } from 'aliyun-iot-amqp';
const options: ConsumerOptions = { host: 'h', consumerGroupId: 'g', accessKeyId: process.env.ALIBABA_CLOUD_ACCESS_KEY_ID };
const consumer: Consumer = createConsumer(options);
amqp.on('message', (ctx) => { const m: Message = ctx.message; void m.application_properties.topic; });
const password: string = sign({ consumerGroupId: 'g', clientId: 'c' }).password;
void [consumer, password];
`;

/** Runs a probe script (an .mjs or .js file's text) with `node` in the app; its last line as JSON. */
function probeWith(node, appDir, env, file, text) {
  fs.writeFileSync(path.join(appDir, file), text);
  const r = spawnSync(node, [file], { cwd: appDir, env, encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) return { failed: true, status: r.status, stderr: r.stderr };
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function probe(appDir, env) {
  const r = run(process.execPath, ['-e', PROBE], { cwd: appDir, env });
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

// Preloaded into the doc script's process: once the script's first tick has run (its require()
// included), records every module file it loaded (all must be in the installed project).
const RECORDER = `
const fs = require('node:fs');
setImmediate(() => {
  const own = new Set([__filename, require.resolve(process.argv[1])]);
  const loaded = Object.keys(require.cache).filter((k) => !own.has(k));
  fs.writeFileSync(process.env.PACK_TEST_LOADED_FILE, JSON.stringify(loaded));
});
`;

const BODIES = [
  '{"items":{"temperature":{"value":23.5,"time":1700000000000}}}',
  '{"status":"online","productKey":"a1ProductKey","deviceName":"device1"}',
  '{"text":"中文内容 and emoji ✓"}',
  `{"big":"${'x'.repeat(3000)}"}`,
];

/**
 * Runs the whole pack test. Throws if a step fails outright; otherwise returns what it saw, for
 * the caller to assert on.
 *
 * @param {object} [opts]
 * @param {string} [opts.addon] The built addon to ship (default: this machine's, from the root).
 * @param {number} [opts.messages=12] How many messages the doc script must print and accept.
 * @param {boolean} [opts.keep=false] Keep the temporary directory (its path is in the result).
 * @param {string[]} [opts.nodes=[]] Other Node.js binaries to load the installed package with.
 */
async function runPackTest({ addon = builtAddon(), messages = 12, keep = false, nodes = [] } = {}) {
  const platformArchABI = hostPlatformArchABI();
  if (!addon) throw new Error(`no built addon for ${platformArchABI} in ${ROOT}: run \`npm run build\` first`);
  const platformDir = path.join(ROOT, 'npm', platformArchABI);
  if (!fs.existsSync(path.join(platformDir, 'package.json'))) throw new Error(`no platform package npm/${platformArchABI}`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-pack-'));
  const result = { tmp, platformArchABI, addon, addonBytes: fs.statSync(addon).size };
  try {
    const { env, removed } = envWithoutRust(tmp);
    result.pathRemoved = removed;
    const tarballs = path.join(tmp, 'tarballs');
    fs.mkdirSync(tarballs);

    // 1. The root, as `files` in package.json has it.
    const rootPack = pack(ROOT, tarballs, env);
    result.rootFiles = rootPack.files;
    fs.renameSync(rootPack.file, path.join(tarballs, 'as-packed.tgz'));

    // 2. The same files with the optionalDependencies napi prepublish writes.
    const stage = path.join(tmp, 'stage-root');
    for (const f of rootPack.files) {
      fs.mkdirSync(path.dirname(path.join(stage, f)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, f), path.join(stage, f));
    }
    const platforms = platformPackages();
    result.platformPackages = platforms;
    const manifest = JSON.parse(fs.readFileSync(path.join(stage, 'package.json'), 'utf8'));
    manifest.optionalDependencies = Object.assign({}, manifest.optionalDependencies);
    for (const p of platforms) manifest.optionalDependencies[p.name] = manifest.version;
    fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
    const rootTarball = pack(stage, tarballs, env).file;

    // 3. This machine's platform package, with the addon in a copy of npm/<platform>.
    const platStage = path.join(tmp, 'stage-platform');
    fs.cpSync(platformDir, platStage, { recursive: true });
    const platManifest = JSON.parse(fs.readFileSync(path.join(platStage, 'package.json'), 'utf8'));
    fs.copyFileSync(addon, path.join(platStage, platManifest.main));
    const platPack = pack(platStage, tarballs, env);
    result.platformPackage = platManifest.name;
    result.platformFiles = platPack.files;

    // 4. A fresh project, both tarballs, no Rust on PATH.
    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'pack-test-app', version: '1.0.0', private: true }, null, 2));
    result.installMode = install(app, [rootTarball, platPack.file], env);
    result.installed = fs.readdirSync(path.join(app, 'node_modules')).filter((d) => !d.startsWith('.')).sort();
    result.probe = probe(app, env);

    // ES modules, with this Node.js, and TypeScript's view of the import.
    result.esm = probeWith(process.execPath, app, env, 'esm-probe.mjs', ESM_PROBE);
    fs.writeFileSync(path.join(app, 'ts-probe.mts'), TS_ESM_PROBE);
    const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--pretty', 'false',
      '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node',
      '--typeRoots', path.join(ROOT, 'node_modules', '@types'), 'ts-probe.mts'], { cwd: app, env, encoding: 'utf8', timeout: 120000 });
    result.tsEsm = { status: tsc.status, output: `${tsc.stdout}${tsc.stderr}` };

    // 8. Each other Node.js binary: require, import, and the demo (emulator and consumer).
    result.nodes = [];
    for (const node of nodes) {
      const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
      const cjs = probeWith(node, app, env, 'cjs-probe.js', PROBE);
      const esmProbe = probeWith(node, app, env, 'esm-probe.mjs', ESM_PROBE);
      const demoRun = spawnSync(node, [path.join(app, 'node_modules', 'aliyun-iot-amqp', 'bin', 'aliyun-iot-amqp.js'), 'demo', '--count', '3', '--json'],
        { cwd: app, env, encoding: 'utf8', timeout: 60000 });
      result.nodes.push({ node, version, cjs, esm: esmProbe, demo: { status: demoRun.status, signal: demoRun.signal, stdout: demoRun.stdout, stderr: demoRun.stderr } });
    }

    // 5. The root alone: the loader must name the platform package it did not find.
    const bare = path.join(tmp, 'app-without-platform');
    fs.mkdirSync(bare);
    fs.writeFileSync(path.join(bare, 'package.json'), JSON.stringify({ name: 'pack-test-bare', version: '1.0.0', private: true }, null, 2));
    install(bare, [rootTarball], env);
    result.bareProbe = probe(bare, env);

    // 6. `npx aliyun-iot-amqp demo` from the installed project: emulator and consumer, nothing else
    //    installed (no openssl needed, no Rust on PATH).
    const [npmCmd, npmLead] = npmCommand();
    const demo = spawnSync(npmCmd, [...npmLead, 'exec', '--no', '--', 'aliyun-iot-amqp', 'demo', '--count', '3'], {
      cwd: app, env, encoding: 'utf8', timeout: 60000,
    });
    result.demo = { status: demo.status, signal: demo.signal, stdout: demo.stdout, stderr: demo.stderr };

    // 7. The doc script, requiring 'aliyun-iot-amqp' from the installed project only.
    const { startEmulator } = require(path.join(ROOT, '__test__', 'support', 'emulator.js'));
    const { runDocScript } = require(path.join(ROOT, '__test__', 'support', 'doc-script.js'));
    const recorder = path.join(tmp, 'recorder.js');
    fs.writeFileSync(recorder, RECORDER);
    const loadedFile = path.join(tmp, 'loaded.json');
    const emu = await startEmulator();
    try {
      const ids = [];
      for (let i = 0; i < messages; i++) ids.push(emu.publish({ body: BODIES[i % BODIES.length] }));
      result.expectedLines = ids.map((_, i) => BODIES[i % BODIES.length]);
      const doc = await runDocScript({
        moduleName: 'aliyun-iot-amqp',
        emu,
        env: {
          NODE_PATH: path.join(app, 'node_modules'),
          [pathKey(env)]: env[pathKey(env)],
          CARGO_HOME: undefined,
          RUSTUP_HOME: undefined,
          NODE_OPTIONS: `--require ${/\s/.test(recorder) ? JSON.stringify(recorder) : recorder}`,
          PACK_TEST_LOADED_FILE: loadedFile,
        },
        untilLines: ids.length,
        beforeKill: () => emu.waitFor(() => ids.every((id) => emu.acceptedOnce.has(id)), 15000, 'every message accepted'),
        timeoutMs: 30000,
      });
      result.doc = { lines: doc.lines, stderr: doc.stderr, timedOut: doc.timedOut, code: doc.code, signal: doc.signal };
      result.acceptedPerMessage = ids.map((id) => emu.dispositions.filter((d) => d.messageId === id && d.outcome === 'accepted').length);
      result.pending = emu.pending();
      result.docLoaded = fs.existsSync(loadedFile) ? JSON.parse(fs.readFileSync(loadedFile, 'utf8')) : null;
    } finally {
      await emu.close();
    }
    return result;
  } finally {
    if (!keep) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The other Node.js binaries to test with: ALIYUN_IOT_AMQP_TEST_NODES, paths joined by the path delimiter. */
function testNodes(env = process.env) {
  return String(env.ALIYUN_IOT_AMQP_TEST_NODES || '').split(path.delimiter).filter(Boolean);
}

module.exports = { runPackTest, builtAddon, hostPlatformArchABI, envWithoutRust, platformPackages, testNodes };

if (require.main === module) {
  const nodes = testNodes();
  process.argv.forEach((a, i) => { if (a === '--node' && process.argv[i + 1]) nodes.push(process.argv[i + 1]); });
  runPackTest({ keep: process.argv.includes('--keep'), nodes }).then((r) => {
    if (process.argv.includes('--json')) {
      console.log(JSON.stringify(r, null, 2));
    } else {
      const addonPath = r.probe.addons[0] || '(none)';
      console.log(`addon shipped: ${path.relative(ROOT, r.addon)} (${r.addonBytes} bytes)`);
      console.log(`root tarball: ${r.rootFiles.join(', ')}`);
      console.log(`platform tarball (${r.platformPackage}): ${r.platformFiles.join(', ')}`);
      console.log(`PATH entries removed: ${r.pathRemoved.join(', ') || '(none)'}; cargo: ${r.probe.cargo}, rustc: ${r.probe.rustc}`);
      console.log(`installed (${r.installMode}): ${r.installed.join(', ')}; addon loaded from ${addonPath}`);
      console.log(`root alone: ${r.bareProbe.loaded ? 'loaded (unexpected)' : r.bareProbe.error}`);
      console.log(`  causes: ${(r.bareProbe.causes || []).join(' <- ')}`);
      const same = JSON.stringify(r.doc.lines) === JSON.stringify(r.expectedLines);
      console.log(`doc script: ${r.doc.lines.length} lines${same ? ', as published' : ', NOT as published'}; accepted once each: ${r.acceptedPerMessage.every((n) => n === 1)}; pending: ${r.pending}`);
      console.log(`ESM import (${process.version}): ${r.esm.failed ? `FAILED ${r.esm.stderr}` : `${r.esm.names} names, not the CommonJS object: ${r.esm.notSame.join(', ') || 'none'}`}; TypeScript nodenext: ${r.tsEsm.status === 0 ? 'ok' : r.tsEsm.output}`);
      let nodesOk = true;
      for (const n of r.nodes) {
        const ok = !n.cjs.failed && n.cjs.loaded && !n.esm.failed && n.esm.notSame.length === 0 && n.demo.status === 0;
        nodesOk = nodesOk && ok;
        console.log(`${n.version} (${n.node}): require ${n.cjs.loaded ? 'ok' : 'FAILED'}, import ${!n.esm.failed && n.esm.notSame.length === 0 ? 'ok' : 'FAILED'}, demo exit ${n.demo.status}`);
      }
      if (!same || r.pending !== 0 || !r.probe.loaded || r.doc.stderr || r.esm.failed || r.tsEsm.status !== 0 || !nodesOk) process.exitCode = 1;
    }
  }, (err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
