#!/usr/bin/env bash
#
# An A/B of server builds through load-tests/run.sh, the builds alternating:
#
#   load-tests/reference/run-21/ab.sh ROUNDS OUT "PHASES" name=/path/to/samu-central ...
#
# Each round runs `SERVER_BIN=<binary> PHASES=<PHASES> load-tests/run.sh 1`
# once per build, in the order given, and moves its results folder to
# OUT/<round>-<name>/ (summary.md inside). The generator is the tree's.
# Other run.sh tunables (COMPARE_SLICES, ...) pass through the environment.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
rounds=$1 out=$2 phases=$3
shift 3
mkdir -p "$out"
for round in $(seq 1 "$rounds"); do
    for build in "$@"; do
        name=${build%%=*} bin=${build#*=}
        echo "== round $round: $name ($bin) $(date -u +%H:%M:%S)"
        before=$(ls -d load-tests/results/*/ 2>/dev/null | sort | tail -1 || true)
        SERVER_BIN=$bin PHASES=$phases load-tests/run.sh 1 >"$out/$round-$name.log" 2>&1 ||
            echo "   run failed: see $out/$round-$name.log"
        after=$(ls -d load-tests/results/*/ | sort | tail -1)
        if [ "$after" != "$before" ]; then
            mv "$after" "$out/$round-$name"
        fi
    done
done
echo "== done $(date -u +%H:%M:%S)"
