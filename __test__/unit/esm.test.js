'use strict';
// The ESM face, read without running it: package.json's `exports` map (import, require and types
// conditions, main and types kept), index.mjs naming every export of index.d.ts, and index.d.mts
// naming every value and type of index.d.ts. (Importing it: integration/esm.test.js.)

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { ts, ROOT, moduleLevel } = require('../support/declarations');

const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
/** The default container's entry points, exported by name as well. */
const CONTAINER_FUNCTIONS = ['connect', 'create_container', 'generate_uuid'];

function parse(file) {
  return ts.createSourceFile(file, fs.readFileSync(path.join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
}

/** Names a module exports: {values, types}. */
function exportsOf(sf) {
  const values = [];
  const types = [];
  for (const s of sf.statements) {
    const exported = s.modifiers && s.modifiers.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (ts.isVariableStatement(s) && exported) {
      for (const d of s.declarationList.declarations) {
        if (ts.isObjectBindingPattern(d.name)) for (const e of d.name.elements) values.push(e.name.getText(sf));
        else values.push(d.name.getText(sf));
      }
    } else if (ts.isTypeAliasDeclaration(s) && exported) {
      types.push(s.name.text);
    }
  }
  return { values: values.sort(), types: types.sort() };
}

function namespaceMembers() {
  const sf = parse('index.d.ts');
  const names = [];
  const visit = (n) => {
    if (ts.isModuleDeclaration(n) && n.name.text === 'aliyunIotAmqp') for (const s of n.body.statements) names.push(s.name.text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return names.sort();
}

test('package.json: an exports map with import, require and types conditions; main and types kept', () => {
  assert.equal(PKG.main, 'index.js');
  assert.equal(PKG.types, 'index.d.ts');
  const dot = PKG.exports['.'];
  assert.deepEqual(dot.import, { types: './index.d.mts', default: './index.mjs' });
  assert.deepEqual(dot.require, { types: './index.d.ts', default: './index.js' });
  assert.equal(PKG.exports['./package.json'], './package.json');
  for (const f of ['index.mjs', 'index.d.mts']) assert.ok(PKG.files.includes(f), `files lists ${f}`);
});

test('index.mjs exports by name every function and class index.d.ts declares, and the default container', () => {
  const src = fs.readFileSync(path.join(ROOT, 'index.mjs'), 'utf8');
  assert.match(src, /^import amqp from '\.\/index\.js';$/m);
  assert.match(src, /^export default amqp;$/m);
  assert.deepEqual(exportsOf(parse('index.mjs')).values, [...CONTAINER_FUNCTIONS, ...moduleLevel].sort());
});

test('index.d.mts is what scripts/index-d-mts.js writes from index.d.ts (run it after changing index.d.ts)', () => {
  const { render } = require('../../scripts/index-d-mts.js');
  assert.equal(fs.readFileSync(path.join(ROOT, 'index.d.mts'), 'utf8'), render());
});

test('index.d.mts declares the same values and every type of index.d.ts', () => {
  const { values, types } = exportsOf(parse('index.d.mts'));
  assert.deepEqual(values, [...CONTAINER_FUNCTIONS, ...moduleLevel].sort());
  assert.deepEqual(types, namespaceMembers());
});
