#!/usr/bin/env bash
#
# The track's BRIN time index on an existing large track, built the two
# ways, with the track written meanwhile (BENCHMARKS.md, "The BRIN index
# built in the background"), loopback only:
#
#   load-tests/brin-online.sh [MILLION_ROWS]      (default 10)
#
# Starts a throwaway PostgreSQL (and Redis, unused), migrates two databases
# with the release samu-central (so their time index is the migration's
# B-tree) and fills each track with MILLION_ROWS million rows. Then, while
# pgbench inserts single track rows (4 clients, the writer's kind of row),
#
#   inline:     the conversion as 11bacc2 ran it in Store::migrate: one
#               transaction that drops the B-tree and creates the BRIN index;
#   background: the server itself starts (`samu-central serve`) and its
#               retention job converts (Store::track_time_index_to_brin).
#
# Prints, for each: how long the conversion took, how long the server took
# to be ready (background), and the inserts' latency (average, max) and
# count per second, second by second (pgbench --progress), during it.
# Results in load-tests/results/<date>-brin-online/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../scripts/lib/services.sh
source scripts/lib/services.sh

MILLIONS=${1:-10}
OUT="load-tests/results/$(date -u +%Y-%m-%dT%H%M%SZ)-brin-online"
mkdir -p "$OUT"
SERVER_PID=""
samu_services_stop_on_exit SERVER_PID

cargo build --release --locked -p samu-central
BIN=target/release
samu_services_start
PGBENCH="$SAMU_TEST_PG_BIN/pgbench"
base="${SAMU_TEST_PG_URL%/postgres}"
samu_server_ports
printf 'data_dir = "%s/data"\n' "$OUT" >"$OUT/samu.toml"

cat >"$OUT/insert.sql" <<'SQL'
\set seq random(1, 1000000000000)
INSERT INTO unit_positions (unit_id, seq, fix_at, lat, lon, kind)
VALUES ('BENCH-' || :client_id, :seq, (extract(epoch FROM now()) * 1000)::bigint, -19.9, -43.9, 'applied')
ON CONFLICT DO NOTHING;
SQL

prepare() { # DATABASE
    psql "$SAMU_TEST_PG_URL" -qc "CREATE DATABASE $1"
    DATABASE_URL="$base/$1" "$BIN/samu-central" migrate --config "$OUT/samu.toml" >/dev/null 2>&1
    samu_step "$1: $MILLIONS million track rows"
    psql "$base/$1" -qc "INSERT INTO unit_positions (unit_id, seq, fix_at, lat, lon, kind) \
        SELECT 'SAMU-U' || (g % 10000), g, 1764000000000 + g * 100, -19.9, -43.9, 'applied' \
        FROM generate_series(1, $MILLIONS * 1000000) g" -c "VACUUM ANALYZE unit_positions"
    psql "$base/$1" -Atc "SELECT pg_size_pretty(pg_total_relation_size('unit_positions'))" >"$OUT/$1-size.txt"
}

# pgbench for the whole window, in the background; its progress lines go to a file.
bench() { # DATABASE SECONDS
    "$PGBENCH" -n -c 4 -j 2 -T "$2" --progress 1 -f "$OUT/insert.sql" "$base/$1" \
        >"$OUT/$1-pgbench.txt" 2>"$OUT/$1-progress.txt" &
    BENCH_PID=$!
    sleep 3
}

now_ms() { date +%s%3N; }

prepare inline
prepare background

samu_step "inline: DROP INDEX + CREATE INDEX … USING brin in one transaction, inserts going on"
bench inline 60
t0=$(now_ms)
psql "$base/inline" -qc "DO \$\$ BEGIN DROP INDEX unit_positions_fix_at; \
    CREATE INDEX unit_positions_fix_at ON unit_positions USING brin (fix_at) WITH (autosummarize = on); END \$\$"
t1=$(now_ms)
echo "{\"way\": \"inline\", \"million_rows\": $MILLIONS, \"conversion_ms\": $((t1 - t0))}" | tee "$OUT/inline.json"
wait "$BENCH_PID"

samu_step "background: samu-central serve, its retention job converting, inserts going on"
bench background 60
t0=$(now_ms)
DATABASE_URL="$base/background" SAMU_GRPC_ADDR=127.0.0.1:$GRPC_PORT SAMU_HTTP_ADDR=127.0.0.1:$HTTP_PORT \
    RUST_LOG=info SAMU_LOG_FORMAT=json "$BIN/samu-central" serve --config "$OUT/samu.toml" >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
until curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null; do sleep 0.02; done
ready=$(now_ms)
until grep -q "the track's time index is BRIN" "$OUT/server.log"; do
    kill -0 "$SERVER_PID" || { samu_err "the server died; see $OUT/server.log"; exit 1; }
    sleep 0.05
done
t1=$(now_ms)
method=$(psql "$base/background" -Atc "SELECT a.amname FROM pg_class i JOIN pg_am a ON a.oid = i.relam \
    WHERE i.oid = to_regclass('unit_positions_fix_at')")
echo "{\"way\": \"background\", \"million_rows\": $MILLIONS, \"ready_ms\": $((ready - t0)), \"conversion_ms\": $((t1 - t0)), \"index\": \"$method\"}" |
    tee "$OUT/background.json"
wait "$BENCH_PID"
kill "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=""

for way in inline background; do
    samu_step "$way: inserts second by second (pgbench --progress)"
    cat "$OUT/$way-progress.txt"
    grep -E "latency average|tps" "$OUT/$way-pgbench.txt" || true
done
