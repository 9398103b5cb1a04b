'use strict';
// The matrix: the consumers under test, the paced rates and payloads, and the scenarios (the rows,
// one loadgen configuration each) made of them.

/** The consumers under test. */
const CONSUMERS = [
  { id: 'rhea', label: 'rhea 3 (doc script)', kind: 'js', lib: 'rhea' },
  { id: 'ours', label: 'ours, rhea-shaped API (doc script, default options)', kind: 'js', lib: 'ours' },
  { id: 'consumer', label: 'ours, createConsumer() (default options, for-await loop)', kind: 'js', lib: 'consumer' },
  { id: 'floor', label: 'floor (pure Rust, our core)', kind: 'floor' },
];
/** Ours: the package's two APIs, each compared with rhea and with the floor. */
const OURS = ['ours', 'consumer'];

/** The paced rates (one message at a time, see loadgen/src/pace.rs) and how long each row runs. */
const RATES = [100, 1000, 10000, 50000];
const pacedSeconds = (quick) => (quick ? { 100: 2, 1000: 2, 10000: 1, 50000: 0.5 } : { 100: 20, 1000: 10, 10000: 3, 50000: 1 });
/** The 100 msg/s rows are the slowest (20 s a run): 2 rounds in the full run, to keep it near 15 min. */
const ROUNDS_100 = 2;
const SIZES = [[256, '256'], [4096, '4k']];
const rateId = (r) => (r >= 1000 ? `r${r / 1000}k` : `r${r}`);
const rateText = (r) => (r ? `${r.toLocaleString('en-US').replace(/,/g, ' ')} msg/s` : 'unpaced');
const sizeText = (size) => (size === 256 ? '256 B' : '4 KiB');

/** The scenarios: one loadgen configuration each (shorter with `quick`). */
function scenarios(quick) {
  const Q = quick;
  const PACED_SECONDS = pacedSeconds(quick);
  const list = [];
  for (const [size, sid] of SIZES) {
    for (const rate of RATES) {
      list.push({ id: `${rateId(rate)}-${sid}`, title: `${rateText(rate)}, ${size === 256 ? '256 B' : '4 KiB'}`, count: Math.round(rate * PACED_SECONDS[rate]), size, rate, ...(rate === 100 ? { maxRuns: ROUNDS_100 } : {}) });
    }
    // Unpaced: as fast as credit allows (saturation).
    list.push({ id: `tput-${sid}`, title: `unpaced (saturation), ${size === 256 ? '256 B' : '4 KiB'}`, count: size === 256 ? (Q ? 40000 : 150000) : (Q ? 15000 : 50000), size, rate: 0 });
  }
  list.push(
    { id: 'tput-256-tls', title: 'unpaced (saturation), 256 B, TLS', count: Q ? 40000 : 100000, size: 256, rate: 0, tls: true },
    { id: 'connect-tls', title: 'connect() to first message, TLS', count: 200, size: 256, rate: 0, tls: true },
    // The loadgen's own capacity: the floor with no work (accepts only), once per round.
    { id: 'null', title: 'loadgen capacity (null consumer)', count: Q ? 200000 : 500000, size: 256, rate: 0, only: ['floor-null'] },
  );
  return list;
}

/** The rows by rate: every paced rate, then unpaced, for each payload. */
function rateRows() {
  const rows = [];
  for (const [size, sid] of SIZES) {
    for (const rate of RATES) rows.push({ id: `${rateId(rate)}-${sid}`, rate, size });
    rows.push({ id: `tput-${sid}`, rate: 0, size });
  }
  return rows;
}

module.exports = { CONSUMERS, OURS, RATES, pacedSeconds, ROUNDS_100, SIZES, rateId, rateText, sizeText, scenarios, rateRows };
