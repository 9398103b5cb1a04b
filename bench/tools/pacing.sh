#!/usr/bin/env bash
# The pacing's evenness: pacing.sh [SECONDS] [RATES] [CONSUMER] — one paced run per rate against the
# floor (CONSUMER floor, the default) or the null consumer (floor-null), printing the loadgen's own
# record of its sends after the first tenth: inter-send gaps p1/p50/p99/max, the share of messages
# sent in a burst (consecutive sends under 20 µs apart, or half the interval when that is less),
# lateness behind the schedule p50/p99/max, timer wake-ups per message, loadgen CPU per message.
# LOADGEN_ARGS (e.g. "--rt", or "" to compare without it; default "--rt") go to the loadgen.
set -euo pipefail
SECONDS_EACH=${1:-3}
RATES=${2:-100,1000,10000,50000}
CONSUMER=${3:-floor}
B=$(cd "$(dirname "$0")/.." && pwd)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for RATE in ${RATES//,/ }; do
  COUNT=$(( RATE * SECONDS_EACH ))
  OUT=$(mktemp)
  "$B/target/release/loadgen" --count "$COUNT" --size 256 --rate "$RATE" ${LOADGEN_ARGS---rt} > "$OUT" 2>/dev/null &
  LG=$!
  for _ in $(seq 1 100); do [ -s "$OUT" ] && break; sleep 0.05; done
  PORT=$(head -1 "$OUT" | awk '{print $2}')
  NULL=""; [ "$CONSUMER" = floor-null ] && NULL=--null
  "$B/target/release/floor" --port "$PORT" --count "$COUNT" $NULL > /dev/null
  wait $LG || true
  tail -1 "$OUT" | node -e '
const j = JSON.parse(require("fs").readFileSync(0, "utf8"));
const p = j.pacing, s = p.steady;
console.log(`${String(j.rate_asked).padStart(6)} msg/s (${j.sched}): gaps p1 ${s.gap_p1_us} p50 ${s.gap_p50_us} p99 ${s.gap_p99_us} max ${s.gap_max_us} µs; ` +
  `in bursts (< ${p.burst_under_us} µs) ${(100 * s.burst_share).toFixed(2)} %; late p50 ${s.late_p50_us} p99 ${s.late_p99_us} max ${s.late_max_us} µs; ` +
  `wake-ups/msg ${(p.timer_wakeups / j.sent).toFixed(3)}; credit stalls ${p.credit_stalls} (${p.credit_stall_ms} ms); loadgen ${((j.cpu_user_us + j.cpu_sys_us) / j.sent).toFixed(1)} µs/msg`);'
  rm -f "$OUT"
done
