#!/bin/bash
# A/B: jemalloc's default arenas (4 per core: 8 here) against two, on the
# ingest phase alone (a fresh server each run, so every run is a "run 1").
cd "$(dirname "${BASH_SOURCE[0]}")/../../../.."
ROUNDS=${ROUNDS:-2}
for round in $(seq 1 "$ROUNDS"); do
  for v in A B; do
    if [ $v = A ]; then env=""; else env="_RJEM_MALLOC_CONF=narenas:2"; fi
    SERVER_ENV="$env" PHASES=ingest load-tests/run.sh 1 > "${TMPDIR:-/tmp}/ab-$v-$round.log" 2>&1
    R=$(ls -td load-tests/results/*/ | head -1)
    echo "$v $round $R $(python3 -c 'import json,sys; [print(j["ingest_per_s"], j["rss_per_vehicle_kib"], j["server_rss_start_mib"], j["server_rss_mib"]) for j in map(json.loads, open(sys.argv[1]))]' "$R/ingest.jsonl")"
  done
done
