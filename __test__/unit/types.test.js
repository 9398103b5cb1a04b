'use strict';
// index.d.ts against its typed usage, read with the TypeScript compiler API (nothing runs or
// connects): __test__/types/usage/ uses every member of every interface index.d.ts declares.
// (tsc over those files, and the declarations against the real objects: integration/types.test.js.)

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');

const { ts, USAGE, interfaces, moduleLevel } = require('../support/declarations');

test('the usage files use every member of every interface index.d.ts declares', () => {
  const used = new Set();
  const visit = (node) => {
    if (ts.isIdentifier(node) || ts.isStringLiteral(node)) used.add(node.text);
    ts.forEachChild(node, visit);
  };
  for (const file of USAGE) visit(ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true));
  const unused = [];
  for (const [name, decl] of Object.entries(interfaces)) {
    if (!used.has(name)) unused.push(name);
    for (const member of decl.members.keys()) if (!used.has(member.replace(/^['"]|['"]$/g, ''))) unused.push(`${name}.${member}`);
  }
  for (const k of moduleLevel) if (!used.has(k)) unused.push(`module export ${k}`);
  assert.deepEqual(unused, [], 'declared in index.d.ts (types/) but not used in __test__/types/usage/: add a use there');
});
