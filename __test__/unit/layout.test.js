'use strict';
// The JavaScript rooms import one way (ARCHITECTURE.md): no module of the package requires,
// directly or through others, a module that requires it back. Read from the sources, nothing runs.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');

function sources() {
  const out = [path.join(ROOT, 'index.js')];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) out.push(p);
    }
  };
  walk(path.join(ROOT, 'lib'));
  walk(path.join(ROOT, 'bin'));
  return out;
}

/** The package's own modules a file requires (relative requires, resolved as Node resolves them). */
function requires(file) {
  const text = fs.readFileSync(file, 'utf8');
  const out = [];
  for (const m of text.matchAll(/require\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
    const target = require.resolve(path.resolve(path.dirname(file), m[1]));
    if (target.endsWith('.js')) out.push(target);
  }
  return out;
}

test('no module of index.js, lib/ and bin/ requires itself back, through any path', () => {
  const graph = new Map(sources().map((f) => [f, requires(f)]));
  const state = new Map(); // 1: on the current path, 2: done
  const cycles = [];
  const visit = (f, trail) => {
    state.set(f, 1);
    for (const g of graph.get(f) || []) {
      if (state.get(g) === 1) cycles.push([...trail, f, g].slice(trail.indexOf(g) === -1 ? trail.length : trail.indexOf(g)).map((p) => path.relative(ROOT, p)).join(' -> '));
      else if (!state.has(g) && graph.has(g)) visit(g, [...trail, f]);
    }
    state.set(f, 2);
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f, []);
  assert.deepEqual(cycles, []);
  assert.ok(graph.size > 20, `${graph.size} modules read`);
});
