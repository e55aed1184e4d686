#!/usr/bin/env bash
#
# Where the server's memory per connected vehicle goes (BENCHMARKS.md,
# "Memory per connected vehicle"), loopback only:
#
#   load-tests/heaptrack.sh [VEHICLES]      (default 2 000, at 1 Hz, 20 s)
#   RATE=0 load-tests/heaptrack.sh [VEHICLES]  (the ingest phase's flood:
#                                            as fast as acknowledged, 4 in flight)
#
# Starts a throwaway PostgreSQL and Redis, the release samu-central on
# PostgreSQL under heaptrack (Debian's heaptrack, installed when missing),
# connects VEHICLES vehicles at 1 Hz with samu-load, stops the server and
# prints the peak heap per vehicle by allocation site (on glibc's malloc:
# the sites are the same on jemalloc, the RSS is not)
# (load-tests/heap_sites.py), beside samu-load's RSS figure. Results in
# load-tests/results/<date>-heaptrack/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../scripts/lib/services.sh
source scripts/lib/services.sh

VEHICLES=${1:-2000}
RATE=${RATE:-1}
OUT="load-tests/results/$(date -u +%Y-%m-%dT%H%M%SZ)-heaptrack"
mkdir -p "$OUT"
HEAPTRACK_PID=""
samu_services_stop_on_exit HEAPTRACK_PID

command -v heaptrack >/dev/null || samu_apt_install heaptrack
# heaptrack sees malloc and free; the binary's jemalloc (prefixed symbols)
# it would not see, so the server is built here on the system allocator.
# The next plain `cargo build --release` links jemalloc back in.
samu_step "building release binaries (samu-central without jemalloc)"
cargo build --release --locked -p samu-load
cargo build --release --locked -p samu-central --no-default-features
BIN=target/release

samu_services_start
DB_URL="${SAMU_TEST_PG_URL%/postgres}/samu_heap"
psql "$SAMU_TEST_PG_URL" -qc "CREATE DATABASE samu_heap" >/dev/null
samu_server_ports
CONFIG="$OUT/samu.toml"
printf 'data_dir = "%s/data"\n[fleet]\nno_signal_after_s = 86400\n' "$OUT" >"$CONFIG"
export DATABASE_URL=$DB_URL
"$BIN/samu-central" migrate --config "$CONFIG" >/dev/null 2>&1
ADMIN=$(RUST_LOG=warn "$BIN/samu-central" token --role admin --label heaptrack --config "$CONFIG" 2>/dev/null)
printf '{"admin": "%s", "wall": "%s"}\n' "$ADMIN" "$ADMIN" >"$OUT/tokens.json"

samu_step "samu-central under heaptrack, $VEHICLES vehicles at rate $RATE (0: as fast as acknowledged)"
SAMU_GRPC_ADDR=127.0.0.1:$GRPC_PORT SAMU_HTTP_ADDR=127.0.0.1:$HTTP_PORT \
    SAMU_CONSOLE_GRPC_ADDR=127.0.0.1:$CONSOLE_PORT RUST_LOG=warn \
    heaptrack -o "$OUT/heap" "$BIN/samu-central" serve --config "$CONFIG" >"$OUT/server.log" 2>&1 &
HEAPTRACK_PID=$!
until curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null; do
    kill -0 "$HEAPTRACK_PID" || { samu_err "the server died; see $OUT/server.log"; exit 1; }
    sleep 0.2
done
# heaptrack's wrapper is a shell: the server is its child.
SERVER_PID=$(pgrep -f "^$BIN/samu-central serve --config $CONFIG" | head -1)
"$BIN/samu-load" --grpc "http://127.0.0.1:$GRPC_PORT" --http "http://127.0.0.1:$HTTP_PORT" \
    --token-file "$OUT/tokens.json" --server-pid "$SERVER_PID" --database-url "$DB_URL" \
    --vehicles "$VEHICLES" --walls 0 --duration 20 --rate "$RATE" --window 4 --nearest-rate 0 --central-id 3199995 |
    tee "$OUT/load.json"
kill "$SERVER_PID"
wait "$HEAPTRACK_PID" || true
HEAPTRACK_PID=""

heaptrack_print -f "$OUT/heap.zst" -a 0 -l 0 -T 0 -p 1 -n 30 -s 12 >"$OUT/peaks.txt" 2>/dev/null
samu_step "peak heap per vehicle by allocation site"
python3 load-tests/heap_sites.py "$OUT/peaks.txt" "$VEHICLES" 30 | tee "$OUT/sites.txt"
