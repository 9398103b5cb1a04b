#!/usr/bin/env bash
# Paced A/B of two addon builds (or package trees), one message at a time at 1 000 and 10 000 msg/s:
#   bench/tools/ab-rate.sh A B [more options for ab.js, e.g. --lib consumer --runs 5 --rates 100,1000]
# A, B: a .node file, a package directory, or `rhea` (see tools/ab.js --help). Each side is run
# 3 times per rate, 5 s a run, alternating: about 1 minute per side.
set -euo pipefail
exec node "$(dirname "$0")/ab.js" --rates 1000,10000 --seconds 5 --runs 3 "$@"
