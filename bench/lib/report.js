'use strict';
// A run's results written out: the markdown (stdout and .md), the JSON, the chart (.svg); and the
// same rendered again from a past run's JSON.

const fs = require('node:fs');
const path = require('node:path');
const { ROOT, RESULTS } = require('./paths');
const { log } = require('./proc');
const { table } = require('./tables');
const { chart } = require('./chart');

function header(meta) {
  return `## aliyun-iot-amqp vs rhea — ${meta.date}\n\nCommand: \`${meta.command}\` (git ${meta.git}); took ${Math.round(meta.seconds)} s; load average ${meta.load_average_start.map((x) => x.toFixed(2)).join(' ')} → ${meta.load_average_end.map((x) => x.toFixed(2)).join(' ')}.\n\n`;
}

/**
 * Writes bench/results/latest.{md,json,svg} and a timestamped JSON (for a partial run:
 * partial-latest.* and partial-results-*.json) and prints the markdown.
 */
function write(meta, results, raw, partial) {
  const { markdown, targets } = table(results, meta, raw);
  const md = header(meta) + markdown + '\n';
  const json = JSON.stringify({ meta, results, runs: raw, targets }, null, 2);
  const stamp = meta.date.replace(/[:.]/g, '-');
  const latest = partial ? 'partial-latest' : 'latest';
  fs.writeFileSync(path.join(RESULTS, `${latest}.md`), md);
  fs.writeFileSync(path.join(RESULTS, `${latest}.json`), json);
  fs.writeFileSync(path.join(RESULTS, `${partial ? 'partial-' : ''}results-${stamp}.json`), json);
  fs.writeFileSync(path.join(RESULTS, `${latest}.svg`), chart(results));
  process.stdout.write('\n' + md + '\n');
  log(`results: ${path.relative(ROOT, path.join(RESULTS, `${latest}.md`))}, ${latest}.json, ${latest}.svg (${Math.round(meta.seconds)} s)`);
}

/** The table and chart of a past run, from its JSON: FILE.md and FILE.svg beside it. */
function render(file) {
  const { meta, results, runs } = JSON.parse(fs.readFileSync(file, 'utf8'));
  const { markdown } = table(results, meta, runs);
  const md = `${header(meta)}${markdown}\n`;
  const base = file.replace(/\.json$/, '');
  fs.writeFileSync(`${base}.md`, md);
  fs.writeFileSync(`${base}.svg`, chart(results));
  process.stdout.write(md);
  log(`wrote ${base}.md and ${base}.svg`);
}

module.exports = { write, render };
