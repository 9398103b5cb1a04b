'use strict';
// One rule for "under CI" (support/ci.js), and every test that asks uses it.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { underCI } = require('../support/ci');

test('CI=true and CI=1 are CI; unset, empty, false and 0 are not', () => {
  for (const value of ['true', '1', 'TRUE', 'True', ' true ']) assert.equal(underCI({ CI: value }), true, value);
  for (const value of [undefined, '', 'false', '0', 'no', 'yes-ish']) assert.equal(underCI({ CI: value }), false, String(value));
});

test('no test reads the CI variable but through support/ci.js', () => {
  const root = path.join(__dirname, '..');
  const own = path.join(root, 'support', 'ci.js');
  const offenders = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (/\.[cm]?js$/.test(entry.name) && file !== own && /\benv\s*(\.\s*CI\b|\[\s*['"]CI['"]\s*\])/.test(fs.readFileSync(file, 'utf8'))) {
        offenders.push(path.relative(root, file));
      }
    }
  };
  walk(root);
  assert.deepEqual(offenders, [], 'read the CI variable directly instead of through underCI()');
});
