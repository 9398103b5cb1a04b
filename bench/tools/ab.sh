#!/usr/bin/env bash
# One build, unpaced: ab.sh ADDON LIB SIZE COUNT RUNS — prints rate, CPU/msg, loop/msg, main-thread/msg
# (after the warm-up tenth) per run and medians; EXTRA (e.g. "--index DIR/index.js") goes to the
# consumer. Used by experiments/run.sh. To A/B two builds, alternated, paced or not: tools/ab.js.
set -euo pipefail
ADDON=$(realpath "$1"); LIB=$2; SIZE=$3; COUNT=$4; RUNS=${5:-5}
B=$(cd "$(dirname "$0")/.." && pwd)
for i in $(seq 1 "$RUNS"); do
  OUT=$(mktemp)
  "$B/target/release/loadgen" --count "$COUNT" --size "$SIZE" > "$OUT" 2>&1 &
  LG=$!
  for _ in $(seq 1 50); do [ -s "$OUT" ] && break; sleep 0.05; done
  PORT=$(head -1 "$OUT" | awk '{print $2}')
  env -u NODE_EXTRA_CA_CERTS NAPI_RS_NATIVE_LIBRARY_PATH="$ADDON" node "$B/consumers/js-consumer.js" --lib "$LIB" --port "$PORT" --count "$COUNT" ${EXTRA:-}
  wait $LG || true
  rm -f "$OUT"
done | node -e '
const rows = require("fs").readFileSync(0, "utf8").trim().split("\n").filter(l => l.startsWith("{")).map(JSON.parse);
const med = (a) => { a = a.slice().sort((x, y) => x - y); return a[a.length >> 1]; };
const r = rows.map(x => ({ rate: x.rate, cpu: x.cpu_steady_us_per_msg, loop: x.elu_steady_us_per_msg, main: x.main_steady_us_per_msg, rss: x.vm_hwm_kb / 1024 }));
for (const x of r) console.log(`  rate ${x.rate.toFixed(0)}  cpu ${x.cpu.toFixed(2)}  loop ${x.loop.toFixed(2)}  main ${x.main.toFixed(2)}  rss ${x.rss.toFixed(1)}`);
console.log(`median rate ${med(r.map(x => x.rate)).toFixed(0)}  cpu ${med(r.map(x => x.cpu)).toFixed(2)} µs  loop ${med(r.map(x => x.loop)).toFixed(2)} µs  main ${med(r.map(x => x.main)).toFixed(2)} µs  rss ${med(r.map(x => x.rss)).toFixed(1)} MB`);
'
