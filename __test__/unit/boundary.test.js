'use strict';
// What crosses between Rust and JavaScript is written once, on the Rust side, and read by the JS
// layer from the binding: the string enums, the settle codes and the names of their outcomes.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const native = require('../../lib/native.js');
const options = require('../../lib/options.js');
const outcomes = require('../../lib/outcomes.js');

const ROOT = path.join(__dirname, '..', '..');
const read = (file) => fs.readFileSync(path.join(ROOT, file), 'utf8');

test('the option enums are the binding\'s string enums', () => {
  assert.deepEqual(options.SIGN_METHODS, Object.values(native.SignMethod));
  assert.deepEqual(options.AUTH_MODES, Object.values(native.AuthMode));
  assert.deepEqual(options.SIGN_METHODS, ['hmacmd5', 'hmacsha1', 'hmacsha256']);
  assert.deepEqual(options.AUTH_MODES, ['aksign', 'ststoken']);
  for (const file of ['lib/options.js']) {
    assert.doesNotMatch(read(file), /\[\s*'hmacmd5'|\[\s*'aksign'|\[\s*'tcp'/, `${file} spells an enum's values`);
  }
});

test('each settle code is named by the code itself, and the outcome names are the binding\'s', () => {
  assert.equal(outcomes.CODE_OUTCOMES[native.SettleCode.Accept], native.OutcomeKind.Accepted);
  assert.equal(outcomes.CODE_OUTCOMES[native.SettleCode.Release], native.OutcomeKind.Released);
  assert.equal(Object.keys(outcomes.CODE_OUTCOMES).length, Object.keys(native.SettleCode).length);
  assert.equal(outcomes.ACCEPT, native.SettleCode.Accept);
  assert.equal(outcomes.RELEASE, native.SettleCode.Release);
  // Nowhere else in the rhea-shaped layer are outcomes spelled or codes turned into names.
  for (const file of ['lib/delivery.js', 'lib/batch.js', 'lib/diagnostics.js']) {
    const text = read(file).replace(/^\s*(\/\/|\/\*\*|\*).*$/gm, '');
    assert.doesNotMatch(text, /'(accepted|released|rejected|modified)'/, `${file} spells an outcome`);
    assert.doesNotMatch(text, /SettleCode/, `${file} reads the settle codes itself`);
  }
});

test('the packed batch\'s codes and index layout are written once, in src/node/batch/codes.rs', () => {
  // The unpacker names the tape's codes; codes.rs gives each name its number (SPLICED).
  const unpack = read('src/node/batch/unpack.js');
  const codesRs = read('src/node/batch/codes.rs');
  const declared = [...unpack.matchAll(/^\/\* global (.*) \*\/$/gm)].flatMap((m) => m[1].split(', '));
  const spliced = [...codesRs.matchAll(/^ {4}\("(\w+)", /gm)].map((m) => m[1]);
  assert.deepEqual([...declared].sort(), [...spliced].sort());
  assert.ok(spliced.length >= 12, `${spliced.length} names spliced`);
  assert.doesNotMatch(unpack, /case -?\d+:/, 'unpack.js spells a code');
  // lib/batch.js reads the index's layout from the binding.
  const layout = native.batchIndex();
  const slots = ['fields', 'id', 'flags', 'topicAt', 'topicLen', 'topicAscii', 'idKind', 'idA', 'idB', 'timeKind', 'timeA', 'bodyAt', 'bodyLen', 'propsAt'];
  assert.deepEqual(slots.map((k) => layout[k]).sort((a, b) => a - b), Array.from({ length: layout.slots }, (_, i) => i));
  const batchJs = read('lib/batch.js');
  assert.match(batchJs, /= native\.batchIndex\(\);/);
  assert.doesNotMatch(batchJs, /^const (SLOTS|FIELDS|ID|FLAGS|TOPIC_\w+|ID_\w+|TIME_\w+|BODY_\w+|PROPS_\w+) = /m, 'lib/batch.js lays out the index again');
  assert.doesNotMatch(batchJs, /case \d+:|& [12]\)/, 'lib/batch.js spells a kind or a flag');
});
