#!/bin/bash
# The compare phase on a small store (alone) and after the ingest phase's flood, or after the latency and state phases (AFTER).
cd "$(dirname "${BASH_SOURCE[0]}")/../../../.."
for round in 1 2; do
  for v in small after; do
    if [ $v = small ]; then phases="compare"; else phases="${AFTER:-ingest} compare"; fi
    PHASES="$phases" COMPARE_SLICES=2 load-tests/run.sh 1 > "${TMPDIR:-/tmp}/ab2-$v-$round.log" 2>&1
    R=$(ls -td load-tests/results/*/ | head -1)
    echo "$v $round $R $(grep 'concurrent clients' "${TMPDIR:-/tmp}/ab2-$v-$round.log" | grep -o 'per run: [^)]*')"
  done
done
