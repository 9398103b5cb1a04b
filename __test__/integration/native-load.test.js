'use strict';
// Without this machine's platform package, require('aliyun-iot-amqp') fails with a message that
// names the package to install and the platform detected (napi-rs's own error kept as `cause`).
// A copy of the package without any addon stands for an install that left the optional
// platform package out. (The installed tarballs: scripts/pack-test.js.)

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const { hostPlatformArchABI } = require('../../scripts/pack-test.js');

test('a missing platform package is named in the error message, with the platform detected', { timeout: 60000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-nobinding-'));
  try {
    const pkg = path.join(dir, 'node_modules', 'aliyun-iot-amqp');
    fs.mkdirSync(pkg, { recursive: true });
    for (const f of ['package.json', 'index.js', 'index.mjs', 'native.js']) fs.copyFileSync(path.join(ROOT, f), path.join(pkg, f));
    fs.cpSync(path.join(ROOT, 'lib'), path.join(pkg, 'lib'), { recursive: true });
    const probe = `
      try { require('aliyun-iot-amqp'); console.log(JSON.stringify({ loaded: true })); }
      catch (err) { console.log(JSON.stringify({ loaded: false, message: err.message, code: err.code, cause: err.cause && err.cause.message })); }`;
    const env = { ...process.env };
    delete env.NAPI_RS_NATIVE_LIBRARY_PATH;
    const r = spawnSync(process.execPath, ['-e', probe], { cwd: dir, encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim());
    assert.equal(out.loaded, false);
    const platform = hostPlatformArchABI();
    const name = `aliyun-iot-amqp-${platform}`;
    const version = require('../../package.json').version;
    assert.ok(out.message.includes(`npm install ${name}@${version}`), out.message);
    assert.ok(out.message.includes(`${process.platform} ${process.arch}`), out.message);
    if (process.platform === 'linux') assert.match(out.message, platform.endsWith('-musl') ? /musl/ : /glibc/);
    assert.equal(out.code, 'ERR_ALIYUN_IOT_AMQP_NO_BINDING');
    assert.match(out.cause, /Cannot find native binding/, 'napi-rs\'s error is the cause');
    assert.equal(out.message.split('\n').length, 1, 'one line');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
