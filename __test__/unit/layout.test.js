'use strict';
// The rooms import one way (ARCHITECTURE.md): no module of the package requires, directly or
// through others, a module that requires it back; no room of the Rust core names, through any
// path, a room that names it back, and none outside src/node/ names the bindings. Read from the
// sources, nothing runs.

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

/**
 * The Rust core's rooms (`src/<room>.rs`, or a folder `src/<room>/`) and, for each, the rooms it
 * names with `crate::` paths (`use crate::a::b`, `use crate::{a, b}`, `crate::a::f()`), outside
 * comments and test modules.
 */
function rustRooms() {
  const src = path.join(ROOT, 'src');
  const rooms = new Map();
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.rs') && e.name !== 'tests.rs') {
        const room = path.relative(src, p).split(path.sep)[0].replace(/\.rs$/, '');
        if (room === 'lib') continue;
        let text = fs.readFileSync(p, 'utf8');
        // A module's own tests come last in its file (or in a tests.rs of its folder).
        const tests = text.search(/#\[cfg\(test\)\]\s*mod tests\s*\{/);
        if (tests !== -1) text = text.slice(0, tests);
        text = text.replace(/\/\/.*$/gm, '');
        const uses = rooms.get(room) || new Set();
        for (const m of text.matchAll(/\bcrate::(\w+)/g)) uses.add(m[1]);
        for (const m of text.matchAll(/\bcrate::\{([^}]*)\}/g)) {
          for (const item of m[1].split(',')) {
            const name = item.trim().split('::')[0];
            if (/^\w+$/.test(name)) uses.add(name);
          }
        }
        rooms.set(room, uses);
      }
    }
  };
  walk(src);
  for (const [room, uses] of rooms) {
    uses.delete(room);
    for (const u of uses) if (!rooms.has(u)) uses.delete(u);
  }
  return rooms;
}

/** The cycles of a graph (Map of node to Set of nodes), each as 'a -> b -> a'. */
function cyclesOf(graph) {
  const state = new Map(); // 1: on the current path, 2: done
  const cycles = [];
  const visit = (n, trail) => {
    state.set(n, 1);
    for (const m of graph.get(n) || []) {
      if (state.get(m) === 1) cycles.push([...trail.slice(trail.indexOf(m)), n, m].join(' -> '));
      else if (!state.has(m)) visit(m, [...trail, n]);
    }
    state.set(n, 2);
  };
  for (const n of graph.keys()) if (!state.has(n)) visit(n, []);
  return cycles;
}

test('no room of the Rust core names, through any path, a room that names it back', () => {
  const rooms = rustRooms();
  assert.deepEqual(cyclesOf(rooms), []);
  assert.ok(rooms.size > 15, `${rooms.size} rooms read`);
  // Sanity: the reader sees the arrows it should (frames are read with the value walker).
  assert.ok(rooms.get('codec').has('value'), 'codec -> value');
  assert.ok(rooms.get('session').has('link'), 'session -> link');
});

test('nothing in the Rust core outside src/node/ names the bindings', () => {
  const naming = [...rustRooms()].filter(([room, uses]) => room !== 'node' && uses.has('node')).map(([room]) => room);
  assert.deepEqual(naming, []);
});

test('the cycle finder finds a cycle', () => {
  const g = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])], ['d', new Set(['a'])]]);
  assert.deepEqual(cyclesOf(g), ['a -> b -> c -> a']);
});
