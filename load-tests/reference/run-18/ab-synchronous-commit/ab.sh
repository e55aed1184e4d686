#!/bin/bash
# A/B: durable commit wait vs synchronous_commit=off, compare phase only.
cd "$(dirname "${BASH_SOURCE[0]}")/../../../.."
BASE="-c shared_buffers=2GB -c max_wal_size=8GB -c checkpoint_timeout=15min"
for round in 1 2; do
  for v in A B; do
    if [ $v = A ]; then opts="$BASE"; else opts="$BASE -c synchronous_commit=off"; fi
    SAMU_PG_OPTS="$opts" PHASES=compare COMPARE_SLICES=2 load-tests/run.sh 1 > "${TMPDIR:-/tmp}/ab-$v-$round.log" 2>&1
    R=$(ls -td load-tests/results/*/ | head -1)
    echo "$v $round $R $(grep 'concurrent clients' "${TMPDIR:-/tmp}/ab-$v-$round.log" | grep -o 'per run: [^)]*')"
  done
done
