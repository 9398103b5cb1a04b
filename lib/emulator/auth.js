'use strict';
// The platform's credential check, as the emulator applies it to a SASL PLAIN login: the username
// `clientId|key=value,...|` parsed, and the password verified as the platform signs it (base64 of
// an HMAC over `authId=...[&securityToken=...]&timestamp=...`). No I/O: unit tested on its own.

const crypto = require('node:crypto');

/** HMAC algorithms by the platform's `signMethod` names. */
const SIGN_METHODS = Object.freeze({ hmacmd5: 'md5', hmacsha1: 'sha1', hmacsha256: 'sha256' });
const AUTH_MODES = Object.freeze(['aksign', 'ststoken']);

/** base64(HMAC_method(key, data)): the platform's password scheme. */
function signPassword(signMethod, key, data) {
  return crypto.createHmac(SIGN_METHODS[signMethod], key).update(data).digest('base64');
}

/** The string the platform signs: the keys in alphabetical order, joined with '&'. */
function stringToSign(authMode, authId, timestamp, securityToken) {
  return authMode === 'ststoken'
    ? `authId=${authId}&securityToken=${securityToken}&timestamp=${timestamp}`
    : `authId=${authId}&timestamp=${timestamp}`;
}

function safeEqual(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/**
 * Parses the platform's username `clientId|key=value,...|`: `{clientId, params}` (params a
 * null-prototype object), or `{error}` saying why it is malformed.
 */
function parseUsername(username) {
  const match = /^([^|]*)\|([^|]*)\|$/.exec(username);
  if (!match) return { error: 'malformed username: expected "clientId|key=value,...|"' };
  const [, clientId, paramText] = match;
  const params = Object.create(null);
  for (const part of paramText.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return { clientId, error: `malformed username parameter "${part}"` };
    const key = part.slice(0, eq);
    if (key in params) return { clientId, error: `duplicate username parameter "${key}"` };
    params[key] = part.slice(eq + 1);
  }
  return { clientId, params };
}

/**
 * Checks a SASL PLAIN login against the emulator's options (`accessKeyId`, `accessKeySecret`,
 * `securityToken`, `iotInstanceId`, `credentialsCheck`, `requireFreshTimestamp`,
 * `timestampToleranceMs`). Returns the attempt as the emulator records it:
 * `{ok, username, clientId, authMode, signMethod, timestamp, authId, iotInstanceId, consumerGroupId, reason}`.
 */
function checkLogin(username, password, options, now = Date.now()) {
  const attempt = {
    ok: false,
    username: username === null || username === undefined ? '' : username,
    clientId: null,
    authMode: null,
    signMethod: null,
    timestamp: null,
    authId: null,
    iotInstanceId: null,
    consumerGroupId: null,
    reason: null,
  };
  const reason = checkCredentials(attempt, password === null || password === undefined ? '' : password, options, now);
  if (!options.credentialsCheck) {
    attempt.ok = true;
  } else {
    attempt.ok = reason === null;
    attempt.reason = reason;
  }
  return attempt;
}

/** Parses the username into `attempt` and verifies the password; returns why it is wrong, or null. */
function checkCredentials(attempt, password, o, now) {
  const parsed = parseUsername(attempt.username);
  if (parsed.clientId !== undefined) attempt.clientId = parsed.clientId;
  if (parsed.error) return parsed.error;
  const { clientId, params } = parsed;

  const { authMode, signMethod, timestamp, authId, iotInstanceId, consumerGroupId, securityToken } = params;
  Object.assign(attempt, {
    authMode: authMode === undefined ? null : authMode,
    signMethod: signMethod === undefined ? null : signMethod,
    timestamp: timestamp === undefined ? null : timestamp,
    authId: authId === undefined ? null : authId,
    iotInstanceId: iotInstanceId === undefined ? null : iotInstanceId,
    consumerGroupId: consumerGroupId === undefined ? null : consumerGroupId,
  });

  if (clientId === '') return 'empty clientId';
  // Characters are Unicode code points, as the client counts them (in JS and in Rust).
  if ([...clientId].length > 64) return 'clientId longer than 64 characters';
  if (!AUTH_MODES.includes(authMode)) return `unknown authMode "${authMode}"`;
  if (!Object.hasOwn(SIGN_METHODS, signMethod)) return `unknown signMethod "${signMethod}"`;
  if (!/^\d+$/.test(timestamp || '')) return `bad timestamp "${timestamp}"`;
  if (o.requireFreshTimestamp && Math.abs(now - Number(timestamp)) > o.timestampToleranceMs) {
    return 'stale timestamp';
  }
  if (!consumerGroupId) return 'missing consumerGroupId';
  if (o.iotInstanceId !== undefined && iotInstanceId !== o.iotInstanceId) return `unknown iotInstanceId "${iotInstanceId}"`;
  if (authId !== o.accessKeyId) return `unknown authId "${authId}"`;
  if (authMode === 'ststoken') {
    if (securityToken === undefined) return 'missing securityToken';
    if (securityToken !== o.securityToken) return 'invalid securityToken';
  } else if (securityToken !== undefined) {
    return 'securityToken given with authMode aksign';
  }
  const expected = signPassword(signMethod, o.accessKeySecret, stringToSign(authMode, authId, timestamp, securityToken));
  if (!safeEqual(password, expected)) return 'signature mismatch';
  return null;
}

module.exports = { SIGN_METHODS, AUTH_MODES, signPassword, stringToSign, parseUsername, checkLogin };
