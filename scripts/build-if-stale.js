'use strict';
// Builds the release addon unless one newer than every Rust source is already there, so that
// `npm test` after `npm run build` (or in CI) builds the addon once, not twice.
//   node scripts/build-if-stale.js          build if stale
//   node scripts/build-if-stale.js --check  exit 1 if stale, build nothing

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const addons = fs.readdirSync(root).filter((f) => /^aliyun-iot-amqp\..+\.node$/.test(f));

function newestSource() {
  let newest = 0;
  const visit = (p) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) for (const f of fs.readdirSync(p)) visit(path.join(p, f));
    else newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of ['src', 'Cargo.toml', 'Cargo.lock', 'build.rs']) visit(path.join(root, p));
  return newest;
}

const builtAt = Math.max(0, ...addons.map((f) => fs.statSync(path.join(root, f)).mtimeMs));
const fresh = addons.length > 0 && fs.existsSync(path.join(root, 'native.js')) && builtAt >= newestSource();

if (fresh) {
  console.log(`addon up to date: ${addons.join(', ')}`);
} else if (process.argv.includes('--check')) {
  console.error('addon missing or older than the Rust sources: run `npm run build`');
  process.exit(1);
} else {
  console.log('building the release addon (npm run build)...');
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
}
