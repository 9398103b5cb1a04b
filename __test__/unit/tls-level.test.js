'use strict';
// The running Node's default OpenSSL security level (lib/tls.js securityLevel()), which decides
// which server keys the TLS verifier accepts as Node's TLS does (RSA-1024 at level 1, not at 2):
// probed under each level set as users set it, `--tls-cipher-list=DEFAULT@SECLEVEL=N`.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const TLS = path.join(__dirname, '..', '..', 'lib', 'tls.js');

function probed(args) {
  const script = `process.stdout.write(String(require(${JSON.stringify(TLS)}).securityLevel()))`;
  return Number(execFileSync(process.execPath, [...args, '-e', script], { encoding: 'utf8' }));
}

test('securityLevel() is the level Node runs at, 0 to 5', () => {
  for (let level = 0; level <= 5; level += 1) {
    assert.equal(probed([`--tls-cipher-list=DEFAULT@SECLEVEL=${level}`]), level, `under DEFAULT@SECLEVEL=${level}`);
  }
});

test("securityLevel() without any setting is OpenSSL's default for this Node (1 or 2)", () => {
  const level = probed([]);
  assert.ok(level === 1 || level === 2, `level ${level}`);
});
