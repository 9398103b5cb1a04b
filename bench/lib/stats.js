'use strict';
// Statistics over runs: medians (of the finite numbers only), each cell's medians, ratios.

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** raw[scenario][consumer] = [run, ...] → results[scenario][consumer] = the median of every figure. */
function medians(raw) {
  const results = {};
  for (const [s, byC] of Object.entries(raw)) {
    results[s] = {};
    for (const [c, runs] of Object.entries(byC)) {
      const m = {};
      for (const k of Object.keys(runs[0])) m[k] = median(runs.map((r) => r[k]));
      results[s][c] = m;
    }
  }
  return results;
}

/** a / b, or null when either is unknown or b is 0. */
const ratio = (a, b) => (a !== null && b !== null && b !== 0 ? a / b : null);

module.exports = { median, medians, ratio };
