#!/usr/bin/env bash
# Reproduces a measured proposal (a change outside bench/, kept here as bench/experiments/NAME.patch
# rather than applied): copies the working tree to a scratch directory, applies the patch, builds
# the addon there (release), and A/Bs it against bench/build's addon (built by bench/run.js) with
# bench/tools/ab.sh, alternating the two, RUNS times each.
#
#   bench/experiments/run.sh NAME [SIZE] [COUNT] [RUNS] [LIB]
#
# No proposal is pending: both measured ones are applied (read-chunk: src/reader.rs; batch-api:
# open_receiver({batch: true}), src/node/batch/ and lib/batch.js, measured by bench/batch-loop.js).
#
# Defaults: SIZE 4096, COUNT 30000, RUNS 5, LIB ours (js-consumer.js --lib). Needs `node bench/run.js`
# to have built bench/build first.
set -euo pipefail
NAME=${1:?usage: run.sh NAME [SIZE] [COUNT] [RUNS] [LIB]}
SIZE=${2:-4096}
COUNT=${3:-30000}
RUNS=${4:-5}
LIB=${5:-ours}
BENCH=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
SCRATCH=${SCRATCH:-/tmp/aliyun-iot-amqp-exp-$NAME}
BASE="$BENCH/build/aliyun-iot-amqp.linux-x64-gnu.node"
[ -f "$BASE" ] || { echo "build the baseline first: node bench/run.js (or npm run bench)"; exit 1; }

rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
(cd "$ROOT" && tar --exclude=./target --exclude=./bench --exclude=./node_modules --exclude='./*.node' -cf - .) | tar -xf - -C "$SCRATCH"
ln -s "$ROOT/node_modules" "$SCRATCH/node_modules"
(cd "$SCRATCH" && patch -p1 --quiet < "$BENCH/experiments/$NAME.patch")
(cd "$SCRATCH" && CARGO_TARGET_DIR="$BENCH/target/experiments" npx napi build --platform --release --features node \
  --output-dir "$SCRATCH/out" --no-js >/dev/null)
EXP="$SCRATCH/out/aliyun-iot-amqp.linux-x64-gnu.node"

EXTRA="--index $SCRATCH/index.js"
for i in $(seq 1 "$RUNS"); do
  echo -n "baseline   run $i: "; "$BENCH/tools/ab.sh" "$BASE" "$LIB" "$SIZE" "$COUNT" 1 | tail -1
  echo -n "$NAME run $i: "; EXTRA="$EXTRA" "$BENCH/tools/ab.sh" "$EXP" "$LIB" "$SIZE" "$COUNT" 1 | tail -1
done
