#!/bin/bash
# The compare phase alone, RUNS times in a row (two alternating slices
# each), for the spread of ours / GEOADD and of each side's CPU per update.
cd "$(dirname "${BASH_SOURCE[0]}")/../../../.."
RUNS=${RUNS:-6}
for i in $(seq 1 "$RUNS"); do
  PHASES=compare COMPARE_SLICES=2 load-tests/run.sh 1 > "${TMPDIR:-/tmp}/repeat-$i.log" 2>&1
  R=$(ls -td load-tests/results/*/ | head -1)
  echo "$i $R $(grep 'concurrent clients' "$R/summary.md" | grep -o 'per run: [^)]*') | $(grep '^CPU per update' "$R/summary.md")"
done
