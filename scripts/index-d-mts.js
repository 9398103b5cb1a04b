'use strict';
// Writes index.d.mts (the types of `import ... from 'aliyun-iot-amqp'`) from index.d.ts: the
// default export, every module-level value and the default container's entry points by name,
// and every type of the namespace. Run it after changing index.d.ts:
//
//   node scripts/index-d-mts.js          write index.d.mts
//   node scripts/index-d-mts.js --check  exit 1 if index.d.mts is not what it would write
//
// (unit/esm.test.js checks the same.)

const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const ROOT = path.resolve(__dirname, '..');
/** The default container's entry points, exported by name as well (bound in index.js). */
const CONTAINER_FUNCTIONS = ['connect', 'create_container', 'generate_uuid'];

function render() {
  const sf = ts.createSourceFile('index.d.ts', fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8'), ts.ScriptTarget.Latest, true);
  const types = [];
  let values = [];
  const visit = (n) => {
    if (ts.isModuleDeclaration(n) && n.name.text === 'aliyunIotAmqp') for (const s of n.body.statements) types.push(s.name.text);
    if (ts.isVariableDeclaration(n) && n.name.getText(sf) === 'aliyunIotAmqp') {
      values = n.type.types.find(ts.isTypeLiteralNode).members.map((m) => m.name.getText(sf));
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  let out = `// Type definitions for \`import ... from 'aliyun-iot-amqp'\` (index.mjs), written by
// scripts/index-d-mts.js from index.d.ts (the CommonJS module): the default export is the ready
// container, and every function, class and type is exported by name as well.
import amqp from './index.js';

export default amqp;

// Values: the default container's entry points, the classes, and the functions.
`;
  for (const v of [...CONTAINER_FUNCTIONS, ...values]) out += `export declare const ${v}: typeof amqp.${v};\n`;
  out += '\n// Types.\n';
  for (const t of types) out += `export type ${t} = amqp.${t};\n`;
  return out;
}

if (require.main === module) {
  const file = path.join(ROOT, 'index.d.mts');
  const text = render();
  if (process.argv.includes('--check')) {
    if (fs.readFileSync(file, 'utf8') !== text) {
      console.error('index.d.mts is out of date: run node scripts/index-d-mts.js');
      process.exitCode = 1;
    }
  } else {
    fs.writeFileSync(file, text);
  }
}

module.exports = { render, CONTAINER_FUNCTIONS };
