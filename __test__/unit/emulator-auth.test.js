'use strict';
// The emulator's login check (lib/emulator/auth.js), on its own: the username parsed, the password
// verified as the platform signs it, and the reasons a login is refused.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const { parseUsername, checkLogin, signPassword, stringToSign, SIGN_METHODS } = require('../../lib/emulator/auth.js');
const { emulatorOptions } = require('../../lib/emulator/options.js');

const OPTIONS = emulatorOptions();

/** A username and password for the emulator's default key pair, as a client signs them. */
function login({ clientId = 'c1', authMode = 'aksign', signMethod = 'hmacsha256', timestamp = 1573489088171, securityToken, secret = OPTIONS.accessKeySecret } = {}) {
  const params = [`authMode=${authMode}`, `signMethod=${signMethod}`, `timestamp=${timestamp}`, `authId=${OPTIONS.accessKeyId}`,
    'iotInstanceId=', 'consumerGroupId=g'];
  if (securityToken !== undefined) params.push(`securityToken=${securityToken}`);
  const data = stringToSign(authMode, OPTIONS.accessKeyId, timestamp, securityToken);
  return [`${clientId}|${params.join(',')}|`, signPassword(signMethod, secret, data)];
}

test('signPassword() is base64 of the HMAC named by the sign method, over the sorted string', () => {
  for (const [method, hash] of Object.entries(SIGN_METHODS)) {
    assert.equal(signPassword(method, 'k', 'authId=a&timestamp=1'), crypto.createHmac(hash, 'k').update('authId=a&timestamp=1').digest('base64'));
  }
  assert.equal(stringToSign('aksign', 'a', 1), 'authId=a&timestamp=1');
  assert.equal(stringToSign('ststoken', 'a', 1, 't'), 'authId=a&securityToken=t&timestamp=1');
});

test('parseUsername(): the client id and the parameters, or why it is malformed', () => {
  const ok = parseUsername('dev-1|authMode=aksign,signMethod=hmacsha1,iotInstanceId=|');
  assert.equal(ok.clientId, 'dev-1');
  assert.deepEqual({ ...ok.params }, { authMode: 'aksign', signMethod: 'hmacsha1', iotInstanceId: '' });
  assert.equal(Object.getPrototypeOf(ok.params), null);
  assert.match(parseUsername('no pipes').error, /malformed username/);
  assert.equal(parseUsername('no pipes').clientId, undefined);
  assert.deepEqual(parseUsername('c|=x|'), { clientId: 'c', error: 'malformed username parameter "=x"' });
  assert.deepEqual(parseUsername('c|a=1,a=2|'), { clientId: 'c', error: 'duplicate username parameter "a"' });
});

test('checkLogin(): a login signed right is accepted and recorded with what the username says', () => {
  const attempt = checkLogin(...login(), OPTIONS);
  assert.deepEqual(attempt, {
    ok: true, username: login()[0], clientId: 'c1', authMode: 'aksign', signMethod: 'hmacsha256', timestamp: '1573489088171',
    authId: OPTIONS.accessKeyId, iotInstanceId: '', consumerGroupId: 'g', reason: null,
  });
  assert.equal(checkLogin(...login({ authMode: 'ststoken', securityToken: OPTIONS.securityToken }), OPTIONS).ok, true);
});

test('checkLogin(): the reasons a login is refused', () => {
  const reasonOf = (username, password, options = OPTIONS, now) => checkLogin(username, password, options, now).reason;
  assert.equal(reasonOf(login()[0], 'wrong'), 'signature mismatch');
  assert.equal(reasonOf(...login({ secret: 'other' })), 'signature mismatch');
  assert.equal(reasonOf(...login({ clientId: '' })), 'empty clientId');
  assert.equal(reasonOf(login()[0].replace('hmacsha256', 'hmacsha512'), ''), 'unknown signMethod "hmacsha512"');
  assert.equal(reasonOf(login()[0].replace('aksign', 'token'), ''), 'unknown authMode "token"');
  assert.equal(reasonOf(login()[0].replace('timestamp=1573489088171', 'timestamp=soon'), ''), 'bad timestamp "soon"');
  assert.equal(reasonOf(login()[0].replace('consumerGroupId=g', 'consumerGroupId='), ''), 'missing consumerGroupId');
  assert.equal(reasonOf(login()[0].replace(`authId=${OPTIONS.accessKeyId}`, 'authId=other'), ''), 'unknown authId "other"');
  assert.equal(reasonOf(...login({ authMode: 'ststoken' })), 'missing securityToken');
  assert.equal(reasonOf(...login({ authMode: 'ststoken', securityToken: 'forged' })), 'invalid securityToken');
  assert.equal(reasonOf(...login({ securityToken: OPTIONS.securityToken })), 'securityToken given with authMode aksign');
  assert.equal(reasonOf(null, null), 'malformed username: expected "clientId|key=value,...|"');
  const fresh = emulatorOptions({ requireFreshTimestamp: true });
  assert.equal(reasonOf(...login({ timestamp: 1000 }), fresh, 1000 + fresh.timestampToleranceMs + 1), 'stale timestamp');
  assert.equal(reasonOf(...login({ timestamp: 1000 }), fresh, 1000 + fresh.timestampToleranceMs), null);
  assert.equal(reasonOf(...login(), emulatorOptions({ iotInstanceId: 'iot-1' })), 'unknown iotInstanceId ""');
});

test('checkLogin(): a client id is at most 64 characters, counted as code points', () => {
  const smiley = '\u{1F600}';
  assert.equal(checkLogin(...login({ clientId: smiley.repeat(64) }), OPTIONS).ok, true);
  assert.equal(checkLogin(...login({ clientId: smiley.repeat(65) }), OPTIONS).reason, 'clientId longer than 64 characters');
});

test('checkLogin() with credentialsCheck: false accepts anything, still parsing what it can', () => {
  const attempt = checkLogin('c|authMode=aksign|', 'whatever', emulatorOptions({ credentialsCheck: false }));
  assert.equal(attempt.ok, true);
  assert.equal(attempt.reason, null);
  assert.equal(attempt.clientId, 'c');
  assert.equal(attempt.authMode, 'aksign');
});
