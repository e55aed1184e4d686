#!/bin/bash
# A/B: the compare phase's bare streams through tonic's client (A) or
# through h2 itself (B), alternating, the compare phase only.
cd "$(dirname "${BASH_SOURCE[0]}")/../../../.."
ROUNDS=${ROUNDS:-2}
for round in $(seq 1 "$ROUNDS"); do
  for v in A B; do
    if [ $v = A ]; then client=tonic; else client=h2; fi
    BARE_CLIENT=$client PHASES=compare COMPARE_SLICES=2 load-tests/run.sh 1 > "${TMPDIR:-/tmp}/ab-$v-$round.log" 2>&1
    R=$(ls -td load-tests/results/*/ | head -1)
    echo "$v $round $R $(grep 'concurrent clients' "${TMPDIR:-/tmp}/ab-$v-$round.log" | grep -o 'per run: [^)]*')"
  done
done
