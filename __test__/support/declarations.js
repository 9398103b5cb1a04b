'use strict';
// index.d.ts as data, for the types tests: the members each interface of the aliyunIotAmqp
// namespace declares (read with the TypeScript compiler API), and how a runtime object compares
// with them.

const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');

/** The package root. */
const ROOT = path.resolve(__dirname, '..', '..');
/** The TypeScript compiler, as the package's devDependency. */
const ts = require(require.resolve('typescript', { paths: [ROOT] }));
/** tsc's entry point, to run as a child process. */
const TSC = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
/** The typed usage of every declaration, in files (compiled together by integration/types.test.js). */
const USAGE_DIR = path.join(__dirname, '..', 'types', 'usage');
const USAGE = ['rhea.ts', 'consumer.ts'].map((f) => path.join(USAGE_DIR, f));

/** The declaration files: index.d.ts and the parts it names the types of (types/*.d.ts). */
const DECLARATION_FILES = [
  path.join(ROOT, 'index.d.ts'),
  ...fs.readdirSync(path.join(ROOT, 'types')).filter((f) => f.endsWith('.d.ts')).map((f) => path.join(ROOT, 'types', f)),
];

/** {interfaceName: {members: Map<name, optional>, extends: [names]}} of the aliyunIotAmqp namespace. */
function declaredInterfaces() {
  const out = {};
  let moduleLevel = null;
  for (const file of DECLARATION_FILES) {
    const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node) => {
      if (ts.isInterfaceDeclaration(node)) {
        const members = new Map();
        // Computed names ([Symbol.asyncIterator]) are checked by hand below.
        for (const m of node.members) if (m.name && !ts.isComputedPropertyName(m.name)) members.set(m.name.getText(sf), Boolean(m.questionToken));
        const ext = [];
        for (const clause of node.heritageClauses || []) for (const t of clause.types) ext.push(t.expression.getText(sf));
        out[node.name.text] = { members, extends: ext };
      }
      if (ts.isVariableDeclaration(node) && node.name.getText(sf) === 'aliyunIotAmqp' && node.type && ts.isIntersectionTypeNode(node.type)) {
        const literal = node.type.types.find(ts.isTypeLiteralNode);
        moduleLevel = literal ? literal.members.map((m) => m.name.getText(sf)) : [];
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return { interfaces: out, moduleLevel };
}

const { interfaces, moduleLevel } = declaredInterfaces();

// Public runtime members index.d.ts does not declare, known and reported; drop an entry once
// index.d.ts declares the member (or index.js hides it).
const KNOWN_UNDECLARED = {
  Emulator: ['options'],
};

/** Every member of an interface, with those it inherits from interfaces in the same file. */
function membersOf(name) {
  const decl = interfaces[name];
  assert.ok(decl, `index.d.ts declares interface ${name}`);
  const all = new Map();
  for (const parent of decl.extends) if (interfaces[parent]) for (const [k, v] of membersOf(parent)) all.set(k, v);
  for (const [k, v] of decl.members) all.set(k, v);
  return all;
}

const EMITTER_MEMBERS = new Set([
  ...Object.getOwnPropertyNames(EventEmitter.prototype),
  ...Object.keys(new EventEmitter()),
]);

/** Public members the object has: own enumerable keys and its classes' methods (not those of Object, EventEmitter or Error), not `_`-prefixed. */
function publicMembers(obj) {
  const names = new Set(Object.keys(obj));
  const builtIn = [Object.prototype, EventEmitter.prototype, Error.prototype];
  for (let p = Object.getPrototypeOf(obj); p && !builtIn.includes(p); p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) if (k !== 'constructor') names.add(k);
  }
  return [...names].filter((k) => !k.startsWith('_') && !EMITTER_MEMBERS.has(k)).sort();
}

/** Declared-but-missing and present-but-undeclared members of obj against interface `name`. */
function compare(name, obj, { ignoreExtra = [] } = {}) {
  const declared = membersOf(name);
  const missing = [...declared].filter(([k, optional]) => !optional && !(k in obj)).map(([k]) => k);
  const known = KNOWN_UNDECLARED[name] || [];
  const extra = publicMembers(obj).filter((k) => !declared.has(k) && !ignoreExtra.includes(k) && !known.includes(k));
  return { missing, extra };
}

module.exports = { ROOT, ts, TSC, USAGE, interfaces, moduleLevel, membersOf, publicMembers, compare };
