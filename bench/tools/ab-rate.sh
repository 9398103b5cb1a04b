#!/usr/bin/env bash
# Paced A/B: ab-rate.sh ADDON LIB RATE COUNT [RUNS] — latency p50/p99 and steady-state CPU (% of a core) per run.
set -euo pipefail
ADDON=$(realpath "$1"); LIB=$2; RATE=$3; COUNT=$4; RUNS=${5:-3}
B=$(cd "$(dirname "$0")/.." && pwd)
for i in $(seq 1 "$RUNS"); do
  OUT=$(mktemp)
  "$B/target/release/loadgen" --count "$COUNT" --size 256 --rate "$RATE" > "$OUT" 2>&1 &
  LG=$!
  for _ in $(seq 1 50); do [ -s "$OUT" ] && break; sleep 0.05; done
  PORT=$(head -1 "$OUT" | awk '{print $2}')
  env -u NODE_EXTRA_CA_CERTS NAPI_RS_NATIVE_LIBRARY_PATH="$ADDON" node "$B/consumers/js-consumer.js" --lib "$LIB" --port "$PORT" --count "$COUNT" --latency ${EXTRA:-} \
    | node -e 'const j = JSON.parse(require("fs").readFileSync(0, "utf8").trim().split("\n").pop()); console.log(`p50 ${j.lat_p50_us.toFixed(0)} µs  p99 ${j.lat_p99_us.toFixed(0)} µs  cpu ${j.cpu_steady_pct.toFixed(1)} %  cpu/msg ${j.cpu_steady_us_per_msg.toFixed(1)} µs`)'
  wait $LG || true
  rm -f "$OUT"
done
