'use strict';
// Child processes: a command run to completion (the builds), a process whose stdout lines are
// collected (loadgen, consumers), stopping one, and the JSON line a process ends with.

const { spawn, spawnSync } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

function log(...a) {
  process.stderr.write(a.join(' ') + '\n');
}

function run(cmd, args, options = {}) {
  log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
}

/** Spawns `cmd` and collects its stdout lines and its stderr; `line(i, ms)` waits for line i. */
function start(cmd, args, env) {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let stderr = '';
  const waiters = [];
  readline.createInterface({ input: child.stdout }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  // 'close', not 'exit': only then has all of stdout been read.
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return {
    child,
    lines,
    get stderr() {
      return stderr;
    },
    exited,
    async line(i, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (lines.length <= i) {
        if (Date.now() > deadline) throw new Error(`${path.basename(cmd)}: no output line ${i} within ${timeoutMs} ms; stderr: ${stderr}`);
        await Promise.race([new Promise((r) => waiters.push(r)), exited, new Promise((r) => setTimeout(r, 100))]);
        if (child.exitCode !== null && child.stdout.readableEnded && lines.length <= i) throw new Error(`${path.basename(cmd)} exited (${child.exitCode}); stderr: ${stderr}`);
      }
      return lines[i];
    },
  };
}

async function stop(proc, ms) {
  const t = setTimeout(() => {
    try {
      proc.child.kill('SIGKILL');
    } catch {
      // gone already
    }
  }, ms);
  await proc.exited;
  clearTimeout(t);
}

function lastJson(lines) {
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i].startsWith('{')) return JSON.parse(lines[i]);
  }
  return null;
}

module.exports = { log, run, start, stop, lastJson };
