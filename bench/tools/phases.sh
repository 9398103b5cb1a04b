#!/usr/bin/env bash
# Warm-up against steady state: phases.sh [RATE] [SECONDS] [CONSUMERS] [RUNS] — one paced run per
# consumer and round (alternated, each against a fresh loadgen, 256 B), printing the whole
# process's CPU per message (the sum of its threads' run time, /proc/PID/task/*/schedstat) in three
# windows of the run: from 10 % to 25 % of its length (what V8 still compiles and runs unoptimized
# at the platform's rate), from 25 % to 50 %, and from 50 % to 90 % (steady state), then the
# medians per consumer and each one's ratio to rhea's in the same window. The bench's rows measure
# from 10 % to the end, so a consumer whose JavaScript tiers up later pays more there than in steady
# state. CONSUMERS: comma-separated js-consumer.js libs (rhea, ours, consumer); default all three.
# Defaults: 1000 msg/s, 20 s, rhea,ours,consumer, 3 rounds. Needs bench/target/release/loadgen.
set -euo pipefail
RATE=${1:-1000}
SECS=${2:-20}
LIBS=${3:-rhea,ours,consumer}
RUNS=${4:-3}
B=$(cd "$(dirname "$0")/.." && pwd)
COUNT=$(( RATE * SECS ))
RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $RATE msg/s, $SECS s a run, $RUNS rounds"

# SECS times a fraction, in seconds.
part() { awk -v s="$SECS" -v f="$1" 'BEGIN { print s * f }'; }
# The process's CPU so far, in ns (threads that ended are not counted: none do in these runs).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {print s + 0}'; }

for ((round = 0; round < RUNS; round++)); do
  read -r -a ORDER <<< "${LIBS//,/ }"
  # Rotate the order every round.
  n=${#ORDER[@]}
  for ((k = 0; k < n; k++)); do
    LIB=${ORDER[$(( (k + round) % n ))]}
    OUT=$(mktemp)
    "$B/target/release/loadgen" --count "$COUNT" --size 256 --rate "$RATE" --rt --timeout-s 120 > "$OUT" 2>/dev/null &
    LG=$!
    for _ in $(seq 1 100); do [ -s "$OUT" ] && break; sleep 0.05; done
    PORT=$(head -1 "$OUT" | awk '{print $2}')
    node "$B/consumers/js-consumer.js" --lib "$LIB" --port "$PORT" --count "$COUNT" > /dev/null &
    JC=$!
    # The schedule starts when the consumer first gives credit, about when it has started.
    sleep "$(part 0.10)"; a=$(cpu_ns $JC)
    sleep "$(part 0.15)"; b=$(cpu_ns $JC)
    sleep "$(part 0.25)"; c=$(cpu_ns $JC)
    sleep "$(part 0.40)"; d=$(cpu_ns $JC)
    wait $JC || true
    wait $LG || true
    rm -f "$OUT"
    awk -v lib="$LIB" -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v r="$RATE" -v s="$SECS" 'BEGIN {
      printf "%-9s %8.1f %8.1f %8.1f\n", lib, (b - a) / 1e3 / (r * s * 0.15), (c - b) / 1e3 / (r * s * 0.25), (d - c) / 1e3 / (r * s * 0.40) }' | tee -a "$RESULTS"
  done
done

echo
echo "medians, CPU µs per message (ratio to rhea's): 10-25 % of the run | 25-50 % | 50-90 %"
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.trim().split(/\s+/));
const by = {};
for (const [lib, ...v] of rows) (by[lib] ||= []).push(v.map(Number));
const median = (xs) => { const v = [...xs].sort((p, q) => p - q); const m = v.length >> 1; return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2; };
const med = {};
for (const [lib, runs] of Object.entries(by)) med[lib] = [0, 1, 2].map((w) => median(runs.map((r) => r[w])));
for (const [lib, m] of Object.entries(med)) {
  const cells = m.map((x, w) => x.toFixed(1) + (med.rhea && lib !== "rhea" ? ` (${(x / med.rhea[w]).toFixed(2)}×)` : ""));
  console.log(`${lib.padEnd(9)} ${cells.join(" | ")}`);
}' "$RESULTS"
