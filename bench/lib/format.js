'use strict';
// Figures as text, for the tables, the chart and the console.

function fmt(v, digits = 1) {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  if (Math.abs(v) >= 10000) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(digits);
}

/** A figure with as many digits as it deserves. */
function num(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a >= 999.5) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** A ratio as "0.42×". */
const x = (r) => (r === null ? 'n/a' : `${r.toFixed(2)}×`);

module.exports = { fmt, num, x };
