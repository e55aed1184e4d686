#!/usr/bin/env bash
#
# The full load runs of BENCHMARKS.md (issue 7), on this machine, loopback only:
#
#   load-tests/run.sh [RUNS]        (default 3 runs of each)
#
# Starts a throwaway PostgreSQL (with PostGIS, installed from Debian when
# missing) and Redis, a release samu-central on PostgreSQL, then measures:
#   ingest   10 000 vehicle streams as fast as acknowledged, stored track checked
#   memory   10 000 vehicles at 1 Hz on a server just restarted: RSS per vehicle
#   latency  10 000 vehicles at 1 Hz + 100 wall clients, nearest queries at 20/s,
#            every wall watching every unit (one central: the worst case)
#   state    the same load spread over 50 centrals, 2 walls each watching its
#            own central's 200 units (a state-wide instance)
#   compare  COMPARE_WRITERS (default 1 000) concurrent writers: our gRPC
#            ingest vs Redis GEOADD, in COMPARE_SLICES (default 3)
#            alternating 10-second slices each
#   peers    nearest-of-type: ours (gRPC) vs Redis GEOSEARCH vs PostGIS KNN
#   restart  SIGTERM, start again, time until /readyz answers 200
#   stall    (not in the default list) the state-wide load while PostgreSQL's
#            track is locked against writes: STALL_FIRST_S (3) seconds at
#            once, longer than the spool's 2 s, then STALL_LOCK_S (0.8) of
#            every second for STALL_S (15) seconds, a store whose every
#            commit takes about a second; the locks start STALL_AT (5)
#            seconds into the measured window and are logged to
#            stall-RUN.log. Over a window of STALL_DURATION (45) s: the walls must
#            go on, and every acknowledged fix must reach the store.
# Each phase's window opens WARMUP seconds (default 5) after every vehicle's
# first report is acknowledged (samu-load --warmup): the steady state, not
# the start; WARMUP=0 as every set before 2026-12-04 (morning).
# Every figure goes to load-tests/results/<date>/ as JSON lines, with each
# phase run's window second by second in timeline-PHASE-RUN.jsonl (CPU of the
# server, PostgreSQL and the generator, the probes' worst latencies,
# autovacuum); the medians
# and ratios are printed at the end. Tunables: VEHICLES, DURATION, WALLS
# (of the latency and state phases), CENTRALS (of the state phase), PHASES
# (a subset of "ingest memory latency state compare peers stall restart", in that order; stall only when named), PERF=1 (a `perf record` CPU profile of the
# server during each load phase, in the results folder; needs Debian's
# linux-perf; with PERF_ALL=1 the whole machine, by process name), SERVER_ENV (variables for the server alone, as
# "NAME=value NAME2=value2": an allocator's settings, say), SERVER_FEATURES
# (cargo flags for the server's build: --no-default-features for glibc's
# malloc instead of jemalloc), SERVER_CONFIG (TOML appended to the server's
# configuration file), SERVER_BIN (a samu-central binary to run instead of
# the one built from the tree: an A/B of two builds), PROBE_REALTIME (1, the default: the server's console
# thread and the generator's nearest and floor threads at real-time
# priority; 0: everything at normal priority), BARE_STREAMS (1, the default:
# the compare phase's writers as bare streams; 0: as vehicle app links),
# BARE_CLIENT (the bare streams' gRPC client: h2, the default, or tonic).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=../scripts/lib/services.sh
source scripts/lib/services.sh

RUNS=${1:-3}
VEHICLES=${VEHICLES:-10000}
DURATION=${DURATION:-30}
WALLS=${WALLS:-100}
CENTRALS=${CENTRALS:-50}
PHASES=${PHASES:-ingest memory latency state compare peers restart}
STALL_AT=${STALL_AT:-5}
STALL_FIRST_S=${STALL_FIRST_S:-3}
STALL_LOCK_S=${STALL_LOCK_S:-0.8}
STALL_FREE_S=${STALL_FREE_S:-0.2}
STALL_S=${STALL_S:-15}
STALL_DURATION=${STALL_DURATION:-45}
PERF=${PERF:-0}
WARMUP=${WARMUP:-5}
GENERATOR_NICE=${GENERATOR_NICE:-0}
# The nearest queries and the floor's echo run at real-time priority in the
# generator, standing in for a console on a machine of its own, and the
# server's console thread too (console_grpc_realtime). 0: all at normal
# priority, as every set before 2026-12-03.
PROBE_REALTIME=${PROBE_REALTIME:-1}
PROBE_SWITCH=""
[ "$PROBE_REALTIME" = 1 ] && PROBE_SWITCH=--probe-realtime
# The compare phase's 1 000 writers as bare streams (one task each sending a
# report and waiting for its acknowledgement), the same loop as the GEOADD
# clients of samu-peers; BARE_STREAMS=0 for the vehicle app's link, as every
# set before 2026-12-04.
BARE_STREAMS=${BARE_STREAMS:-1}
# Slices of the compare phase per run: ours and GEOADD alternating.
COMPARE_SLICES=${COMPARE_SLICES:-3}
# Concurrent writers on each side of the compare phase (one connection
# each, no pipelining on either side).
COMPARE_WRITERS=${COMPARE_WRITERS:-1000}
# The bare streams' gRPC client: h2 (the default), the gRPC call written
# straight into HTTP/2, two tasks a report like the GEOADD side's client
# (load-tests/src/h2stream.rs), or tonic, tonic's generated client over
# hyper, three tasks a report (every set before 2026-12-04, night).
BARE_CLIENT=${BARE_CLIENT:-h2}
COMPARE_SWITCH=""
[ "$BARE_STREAMS" = 1 ] && COMPARE_SWITCH="--bare-streams --bare-client $BARE_CLIENT"
OUT="load-tests/results/$(date -u +%Y-%m-%dT%H%M%SZ)"
mkdir -p "$OUT"
SERVER_PID=""

samu_services_stop_on_exit SERVER_PID

samu_step "building release binaries"
# SERVER_FEATURES=--no-default-features builds the server on the system
# allocator instead of jemalloc (an A/B of the allocator).
cargo build --release --locked -p samu-load
BIN=target/release
if [ -z "${SERVER_BIN:-}" ]; then
    cargo build --release --locked -p samu-central ${SERVER_FEATURES:-}
    SERVER_BIN=$BIN/samu-central
fi

# A durable PostgreSQL (fsync, synchronous commit), as in production: an
# acknowledgement means the report is on disk.
export SAMU_PG_DURABLE=1
# Sized as a production server would be, not at PostgreSQL's defaults
# (128 MB of buffers, a checkpoint every 1 GB of WAL): a run writes about
# two million track rows. A set at the defaults and one sized so gave the
# same figures within their spread (BENCHMARKS.md, 2026-12-02 night).
# SAMU_PG_OPTS="" for the defaults.
export SAMU_PG_OPTS="${SAMU_PG_OPTS--c shared_buffers=2GB -c max_wal_size=8GB -c checkpoint_timeout=15min}"
# Redis takes 10 000 clients by default; a compare phase of as many writers
# (COMPARE_WRITERS) needs a few more (it caps this to its file limit).
export SAMU_REDIS_OPTS="${SAMU_REDIS_OPTS---maxclients 20000}"
samu_services_start
PG_VERSION=$(basename "$(dirname "$SAMU_TEST_PG_BIN")")
if [ ! -f "/usr/share/postgresql/$PG_VERSION/extension/postgis.control" ]; then
    samu_step "installing PostGIS for PostgreSQL $PG_VERSION"
    samu_apt_install "postgresql-$PG_VERSION-postgis-3" || samu_warn "PostGIS unavailable: its comparison will be skipped"
fi
DB_URL="${SAMU_TEST_PG_URL%/postgres}/samu_load"
psql "$SAMU_TEST_PG_URL" -qc "CREATE DATABASE samu_load" >/dev/null
PEERS_URL="${SAMU_TEST_PG_URL%/postgres}/samu_peers"
psql "$SAMU_TEST_PG_URL" -qc "CREATE DATABASE samu_peers" >/dev/null

# CONSOLE_PORT is the consoles' own gRPC port (console_grpc_addr): the
# nearest queries are measured there and on the main port, side by side.
samu_server_ports
CONFIG="$OUT/samu.toml"
cat >"$CONFIG" <<TOML
data_dir = "$OUT/data"
# The console thread at real-time priority, as deploy/ runs it
# (PROBE_REALTIME=0 turns this and the probes' priority off).
console_grpc_realtime = $([ "$PROBE_REALTIME" = 1 ] && echo true || echo false)
[fleet]
# Units parked after a phase stay dispatchable for the nearest comparison.
no_signal_after_s = 86400
# Every fix is kept, so the stored track can be counted against the acks.
[fleet.track]
min_interval_s = 0
min_distance_m = 0.0
TOML
# SERVER_CONFIG: more TOML for the server's configuration, appended (an
# A/B of a setting: SERVER_CONFIG=$'[http.wall]\ntick_ms = 25').
[ -n "${SERVER_CONFIG:-}" ] && printf '%s\n' "$SERVER_CONFIG" >>"$CONFIG"

start_server() {
    DATABASE_URL=$DB_URL SAMU_GRPC_ADDR=127.0.0.1:$GRPC_PORT SAMU_HTTP_ADDR=127.0.0.1:$HTTP_PORT \
        SAMU_CONSOLE_GRPC_ADDR=127.0.0.1:$CONSOLE_PORT RUST_LOG=warn \
        ${SERVER_ENV:+env $SERVER_ENV} "$SERVER_BIN" serve --config "$CONFIG" >>"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    local t0
    t0=$(date +%s%N)
    until curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null; do
        kill -0 "$SERVER_PID" || { samu_err "the server died; see $OUT/server.log"; return 1; }
        sleep 0.05
    done
    # A global, not stdout: `$(start_server)` would run it in a subshell and
    # lose SERVER_PID for the next runs.
    READY_S=$(awk "BEGIN { printf \"%.3f\", ($(date +%s%N) - $t0) / 1e9 }")
}

stop_server() {
    kill "$SERVER_PID" && wait "$SERVER_PID" || true
    SERVER_PID=""
}

DATABASE_URL=$DB_URL "$SERVER_BIN" migrate --config "$CONFIG" >/dev/null 2>&1
ADMIN=$(DATABASE_URL=$DB_URL RUST_LOG=warn "$SERVER_BIN" token --role admin --label samu-load --config "$CONFIG" 2>/dev/null)
WALL=$(DATABASE_URL=$DB_URL RUST_LOG=warn "$SERVER_BIN" token --role wall --label samu-load --config "$CONFIG" 2>/dev/null)
TOKENS="$OUT/tokens.json"
printf '{"admin": "%s", "wall": "%s"}\n' "$ADMIN" "$WALL" >"$TOKENS"
start_server

# Waits until the server's write queue and local spool are empty, so one
# phase's backlog never runs into the next phase's measurements.
drain() {
    local i body
    for i in $(seq 1 600); do
        body=$(curl -s "http://127.0.0.1:$HTTP_PORT/readyz" || true)
        case "$body" in *'"write_backlog":0'*'"spooled_batches":0'* | *'"spooled_batches":0'*'"write_backlog":0'*) return 0 ;; esac
        sleep 0.5
        : "$i"
    done
    samu_warn "the write queue and spool did not drain within 5 minutes"
}

# `load NAME ARGS…`: one samu-load run, profiled with PERF=1.
load() {
    local name=$1 perf_pid=""
    shift
    drain
    if [ "$PERF" = 1 ]; then
        local perf_target="-p $SERVER_PID"
        [ -n "${PERF_ALL:-}" ] && perf_target=-a
        perf record -q -F 499 -g $perf_target -o "$OUT/perf-$name-$run.data" 2>>"$OUT/perf.log" &
        perf_pid=$!
    fi
    nice -n "$GENERATOR_NICE" "$BIN/samu-load" --grpc "http://127.0.0.1:$GRPC_PORT" --http "http://127.0.0.1:$HTTP_PORT" \
        --token-file "$TOKENS" --server-pid "$SERVER_PID" --database-url "$DB_URL" \
        --metrics-out "$OUT/metrics-$name-$run" --warmup "$WARMUP" --timeline "$OUT/timeline-$name-$run.jsonl" ${PROBE_SWITCH:-} "$@"
    # The server's own view of the measured window: where a fix's way to
    # the wall went (samu-load's two scrapes; their difference).
    python3 load-tests/stage_latency.py "$OUT/metrics-$name-$run-before.txt" "$OUT/metrics-$name-$run-after.txt" \
        >"$OUT/stages-$name-$run.txt" 2>/dev/null || true
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" && wait "$perf_pid" || true
        perf report -i "$OUT/perf-$name-$run.data" --no-children --sort ${PERF_ALL:+comm,}dso,symbol -g none --percent-limit 0.5 --stdio 2>/dev/null | grep -v "^#" | cut -c1-120 |
            grep -v '^$' | head -60 >"$OUT/perf-$name-$run.txt" || true
    fi
}

# `lock_track SECONDS`: one transaction that holds the track (the table
# every batch of the writer appends to) against writes for SECONDS, as a
# long ANALYZE's I/O, a migration or a stuck disk keeps commits waiting.
lock_track() {
    echo "lock $(date +%s.%N) $1"
    psql "$DB_URL" -qAtc "BEGIN; LOCK TABLE unit_positions IN SHARE MODE; SELECT pg_sleep($1); COMMIT;" >/dev/null
    echo "free $(date +%s.%N)"
}

# The stall phase's store: one long lock, then a lock most of every second,
# from STALL_AT seconds after the measured window opens (when samu-load
# writes its first scrape: every vehicle connected and warmed up).
stall_store() {
    local end
    until [ -s "$OUT/metrics-stall-$run-before.txt" ]; do sleep 0.1; done
    sleep "$STALL_AT"
    lock_track "$STALL_FIRST_S"
    end=$(($(date +%s) + STALL_S))
    while [ "$(date +%s)" -lt "$end" ]; do
        lock_track "$STALL_LOCK_S"
        sleep "$STALL_FREE_S"
    done
}

# Tags a JSON line with the run and the compare slice it came from.
tag_slice() { sed "s/^{/{\"run\":$run,\"slice\":$slice,/"; }

phase() { case " $PHASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

for run in $(seq 1 "$RUNS"); do
    if phase ingest; then
        samu_step "run $run/$RUNS: ingest, $VEHICLES vehicles as fast as acknowledged"
        load ingest --vehicles "$VEHICLES" --walls 0 --duration "$DURATION" --rate 0 --window 4 --nearest-rate 0 \
            --central-id 3199991 | tee -a "$OUT/ingest.jsonl"
    fi
    if phase memory; then
        # On a server just restarted, so the heap holds no earlier phase's
        # peaks: what 10 000 apps at their real rate hold while connected.
        samu_step "run $run/$RUNS: memory, $VEHICLES vehicles at 1 Hz on a fresh server"
        stop_server
        start_server
        load memory --vehicles "$VEHICLES" --walls 0 --duration "$DURATION" --rate 1 --nearest-rate 0 \
            --central-id 3199994 | tee -a "$OUT/memory.jsonl"
    fi
    if phase latency; then
        samu_step "run $run/$RUNS: latency, $VEHICLES vehicles at 1 Hz + $WALLS walls"
        load latency --vehicles "$VEHICLES" --walls "$WALLS" --duration "$DURATION" --rate 1 --nearest-rate 20 \
            --console-grpc "http://127.0.0.1:$CONSOLE_PORT" --central-id 3199992 | tee -a "$OUT/latency.jsonl"
    fi
    if phase state; then
        samu_step "run $run/$RUNS: state-wide, $VEHICLES vehicles at 1 Hz in $CENTRALS centrals + $WALLS walls"
        load state --vehicles "$VEHICLES" --walls "$WALLS" --centrals "$CENTRALS" --duration "$DURATION" --rate 1 \
            --nearest-rate 20 --console-grpc "http://127.0.0.1:$CONSOLE_PORT" --central-id 3190000 | tee -a "$OUT/state.jsonl"
    fi
    if phase compare; then
        # Ours and Redis GEOADD in alternating 10-second slices, so both
        # face the same machine: the shared VM's speed moves by 30 % within
        # a minute, and one window of each a minute apart gave ratios from
        # 0.31 to 0.58 (BENCHMARKS.md, 2026-12-04). Each line is tagged
        # with its run and slice.
        for slice in $(seq 1 "$COMPARE_SLICES"); do
            samu_step "run $run/$RUNS, slice $slice/$COMPARE_SLICES: $COMPARE_WRITERS concurrent writers (ours)"
            load "compare-s$slice" --vehicles "$COMPARE_WRITERS" --walls 0 --duration 10 --rate 0 --window 1 --nearest-rate 0 \
                ${COMPARE_SWITCH:-} --central-id 3199993 | tag_slice | tee -a "$OUT/compare-ours.jsonl"
            samu_step "run $run/$RUNS, slice $slice/$COMPARE_SLICES: $COMPARE_WRITERS concurrent writers (Redis GEOADD)"
            drain
            "$BIN/samu-peers" --only writers --redis "$SAMU_TEST_REDIS_URL" --units "$VEHICLES" --clients "$COMPARE_WRITERS" \
                --duration 10 | tag_slice | tee -a "$OUT/geoadd.jsonl"
        done
    fi
    if phase peers; then
        samu_step "run $run/$RUNS: peers (Redis GEO, PostGIS) and our nearest, same points"
        drain
        # The GEOADDs are measured in the compare phase, beside ours.
        "$BIN/samu-peers" --only queries --redis "$SAMU_TEST_REDIS_URL" --postgis "$PEERS_URL" \
            --grpc "http://127.0.0.1:$GRPC_PORT" --console-grpc "http://127.0.0.1:$CONSOLE_PORT" --token-file "$TOKENS" --central-id 3199991 \
            --units "$VEHICLES" | tee -a "$OUT/peers.jsonl"
    fi
    if phase stall; then
        samu_step "run $run/$RUNS: store stall, the state-wide load while the track is locked ($STALL_FIRST_S s, then $STALL_LOCK_S s of every second for $STALL_S s)"
        drain
        stall_store >"$OUT/stall-$run.log" 2>&1 &
        stall_pid=$!
        # The state phase's centrals and units again: no new registry.
        load stall --vehicles "$VEHICLES" --walls "$WALLS" --centrals "$CENTRALS" --duration "$STALL_DURATION" --rate 1 \
            --nearest-rate 20 --console-grpc "http://127.0.0.1:$CONSOLE_PORT" --central-id 3190000 | tee -a "$OUT/stall.jsonl"
        wait "$stall_pid" || samu_warn "the stall's locks failed: see $OUT/stall-$run.log"
    fi
    if phase restart; then
        samu_step "run $run/$RUNS: restart with $VEHICLES+ units"
        stop_server
        start_server
        echo "{\"restart_ready_s\": $READY_S}" | tee -a "$OUT/restart.jsonl"
    fi
done

samu_step "medians of $RUNS runs"
python3 load-tests/summarize.py "$OUT" | tee "$OUT/summary.md"
