'use strict';
// Every JavaScript and TypeScript code block of the README (and the migration's `diff`, as the
// script it results in) compiles with `tsc --strict` against the package's own index.d.ts, as a
// user would import it: `aliyun-iot-amqp` resolved through node_modules (so through package.json's
// `exports` map), @types/node, JS blocks with --allowJs --checkJs.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const README = path.join(ROOT, 'README.md');
const README_TEXT = fs.readFileSync(README, 'utf8');

// What the README's examples leave to the reader: the application's own functions and objects,
// and, for the fragments that continue an example above them, what that example made.
const PRELUDE = `
declare function saveProperties(productKey: string | undefined, deviceName: string | undefined, items: unknown): Promise<void>;
declare function saveEvent(productKey: string | undefined, deviceName: string | undefined, identifier: string | undefined, event: unknown): Promise<void>;
declare const db: {
  insert(topic: string | undefined, messageId: string | undefined, value: unknown): Promise<void>;
  insertMany(rows: unknown[][]): Promise<void>;
};
declare const metrics: { count(name: string | undefined): void };
declare const log: { warn(...args: unknown[]): void };
declare const host: string;
declare const amqp: typeof import('aliyun-iot-amqp');
declare const fs: typeof import('node:fs');
declare const tls: typeof import('node:tls');
declare const connection: import('aliyun-iot-amqp').Connection;
declare const consumer: import('aliyun-iot-amqp').Consumer;
declare const serveMetrics: typeof import('aliyun-iot-amqp').serveMetrics;
// The recipe's database driver ships no types (its @types package is not a dependency here).
declare module 'pg';
`;

/**
 * The README's code blocks: {lang, code, line} (line: where the block opens, 1-based). A block
 * indented inside a list item counts too: its fence may be indented, and its lines lose that
 * indent (as Markdown reads them).
 */
function readmeBlocks(text = README_TEXT) {
  const blocks = [];
  const re = /^([ \t]*)```([A-Za-z]*)[^\n]*\n([\s\S]*?)^\1```[ \t]*$/gm;
  let m;
  while ((m = re.exec(text))) {
    const indent = m[1];
    const code = indent ? m[3].split('\n').map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart())).join('\n') : m[3];
    blocks.push({ lang: m[2], code, line: text.slice(0, m.index).split('\n').length, indent: indent.length });
  }
  return blocks;
}

/** The script a unified diff block results in: context and added lines, without their marker. */
function diffResult(code) {
  return code.split('\n').filter((l) => !l.startsWith('-') && !l.startsWith('@@'))
    .map((l) => (l.startsWith('+') || l.startsWith(' ') ? l.slice(1) : l)).join('\n');
}

/** The files to compile: one per JS/TS block, .mjs/.mts where it is ESM, .cjs/.cts otherwise. */
function compilable(blocks) {
  const files = [];
  for (const b of blocks) {
    let lang = b.lang;
    let code = b.code;
    const guide = lang === 'diff';
    if (guide) {
      code = diffResult(code);
      lang = 'js';
    }
    if (!['js', 'javascript', 'ts', 'typescript', 'mjs', 'cjs'].includes(lang)) continue;
    const ts = lang === 'ts' || lang === 'typescript';
    // ESM where it imports or exports, or awaits at the top level without require() (a fragment
    // of a module: top-level await is ESM's alone).
    const esm = /^\s*(import|export)\s/m.test(code) || (/^(for )?await\b|^\S.*= await\b/m.test(code) && !/\brequire\(/.test(code));
    files.push({ name: `readme-line-${b.line}.${esm ? 'm' : 'c'}${ts ? 'ts' : 'js'}`, code, line: b.line, guide });
  }
  return files;
}

test('README: the code blocks found are the ones expected (JS, TS, the migration diff)', () => {
  const blocks = readmeBlocks();
  const files = compilable(blocks);
  // The diff, connect() with credentials, the two createConsumer() examples, the 简体中文 example.
  assert.ok(files.length >= 5, `only ${files.length} compilable blocks found`);
  assert.ok(blocks.some((b) => b.lang === 'diff'), 'the migration diff');
  const unknown = blocks.filter((b) => !['js', 'ts', 'diff', 'sh'].includes(b.lang)).map((b) => `${b.lang || '(none)'} at line ${b.line}`);
  assert.deepEqual(unknown, [], 'blocks of a language this test neither compiles nor knows to skip');
  const migrated = files.find((f) => f.code.startsWith("const container = require('aliyun-iot-amqp');"));
  assert.ok(migrated, 'the diff results in the migrated script');
  assert.match(migrated.code, /function hmacSha1/, 'the migrated script is whole (it defines hmacSha1)');
  // A block indented inside a list item (the certificate pinning example) is found, dedented.
  const pin = files.find((f) => f.code.includes('checkServerIdentity(host, cert)'));
  assert.ok(pin, 'the indented pinning example');
  assert.match(pin.code, /^const PIN = /, 'dedented');
  // The 简体中文 section's example too.
  const chinese = README_TEXT.slice(0, README_TEXT.indexOf('\n## 简体中文')).split('\n').length;
  assert.ok(files.some((f) => f.line > chinese && f.code.includes('amqp.connect(')), 'the 简体中文 example');
});

test('README: the migration diff is the platform\'s script with the require changed (and one comment added)', () => {
  const { DOC_AMQP_JS } = require('../support/doc-script');
  const diff = readmeBlocks().find((b) => b.lang === 'diff').code.replace(/\n$/, '').split('\n');
  // The original side is the guide's script, its comment lines left out.
  const original = diff.filter((l) => !l.startsWith('+')).map((l) => l.slice(1));
  const guide = DOC_AMQP_JS.replace(/\n$/, '').split('\n').filter((l) => !/^\s*\/\//.test(l)).map((l) => l.trimEnd());
  assert.deepEqual(original, guide);
  // What changes: the require, and a JSDoc comment that does nothing at run time.
  assert.deepEqual(diff.filter((l) => /^[-+]/.test(l)), [
    "-const container = require('rhea');",
    "+const container = require('aliyun-iot-amqp');",
    '+/** @param {any} key @param {string} context */',
  ]);
});

/** Runs tsc --strict (and `extra` options) over the files in a fresh project; returns its report. */
function compile(files, extra = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aliyun-iot-amqp-readme-'));
  try {
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'aliyun-iot-amqp'), 'junction');
    // Other packages the blocks require (e.g. pg in the recipe), from the repository's node_modules.
    const needed = new Set();
    for (const f of files) for (const m of f.code.matchAll(/(?:require\(|from )'([^'./][^']*)'/g)) if (!m[1].startsWith('node:') && m[1] !== 'aliyun-iot-amqp') needed.add(m[1]);
    for (const name of needed) {
      const from = path.join(ROOT, 'node_modules', name);
      if (fs.existsSync(from)) fs.symlinkSync(from, path.join(dir, 'node_modules', name), 'junction');
    }
    for (const f of files) fs.writeFileSync(path.join(dir, f.name), f.code);
    fs.writeFileSync(path.join(dir, 'app-globals.d.ts'), PRELUDE);
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'readme-blocks', private: true }));
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, allowJs: true, checkJs: true, module: 'nodenext', moduleResolution: 'nodenext',
        moduleDetection: 'force', target: 'es2022', types: ['node'], typeRoots: [path.join(ROOT, 'node_modules', '@types')], ...extra,
      },
      files: ['app-globals.d.ts', ...files.map((f) => f.name)],
    }, null, 2));
    const r = spawnSync(process.execPath, [TSC, '-p', dir, '--pretty', 'false'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.error, undefined);
    // Name the README line of each error, not the temporary file.
    const report = `${r.stdout}${r.stderr}`.replace(/readme-line-(\d+)\.\w+\((\d+),(\d+)\)/g,
      (_, line, l, c) => `README.md:${Number(line) + Number(l)}:${c}`);
    return { status: r.status, report };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('README: every JS/TS code block compiles with tsc --strict against index.d.ts', { timeout: 120000 }, () => {
  const { status, report } = compile(compilable(readmeBlocks()).filter((f) => !f.guide));
  assert.equal(status, 0, `tsc --strict failed on README blocks:\n${report}`);
});

test('README: the migrated guide script compiles with tsc --strict --checkJs', { timeout: 120000 }, () => {
  // Full --strict: the guide's untyped hmacSha1(key, context) is typed by the JSDoc comment the
  // diff adds (the README says why); nothing is relaxed.
  const { status, report } = compile(compilable(readmeBlocks()).filter((f) => f.guide));
  assert.equal(status, 0, `tsc --strict failed on the migrated script:\n${report}`);
});

module.exports = { readmeBlocks, compilable };
