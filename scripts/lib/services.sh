# shellcheck shell=bash
#
# Throwaway PostgreSQL and Redis servers for tests, load tests and fault tests.
#
# Usage (from a bash script):
#
#   source scripts/lib/services.sh
#   samu_services_stop_on_exit [PID_VARIABLE]
#   samu_services_start || exit 1
#
# samu_services_start starts a fresh PostgreSQL and a fresh redis-server, each
# on a free port of 127.0.0.1 with its data in a new temp dir, and exports:
#
#   SAMU_TEST_PG_URL        postgres://postgres@127.0.0.1:PORT/postgres
#   SAMU_TEST_REDIS_URL     redis://127.0.0.1:PORT/
#   SAMU_TEST_PG_BIN        directory holding initdb, pg_ctl, postgres
#   SAMU_TEST_REDIS_SERVER  path to the redis-server binary
#
# It never uses servers that are already running (e.g. on 5432/6379).
# Missing binaries are installed from Debian packages (as root, or via sudo).
# samu_services_stop stops both servers and removes their temp dirs; it is
# idempotent and never fails, so it is safe in an EXIT trap.
# samu_services_stop_on_exit sets that trap, keeping the exit status (130 on
# INT, 143 on TERM); given the name of a variable, it first kills and waits
# for the process whose PID that variable holds then (a server under test).
# Set SAMU_TEST_KEEP=1 to keep the temp dirs (data and logs) after stopping.
# PostgreSQL runs without fsync unless SAMU_PG_DURABLE=1; SAMU_PG_OPTS adds
# server settings ("-c shared_buffers=2GB …"), and SAMU_REDIS_OPTS Redis's
# ("--maxclients 20000").
#
# This file only defines functions and variables; it does not change shell
# options, so it can be sourced with or without `set -euo pipefail`.

# State (kept if the file is sourced twice).
: "${SAMU_PG_BASE:=}"      # temp dir: data/, postgres.log, unix socket
: "${SAMU_PG_DATA:=}"      # $SAMU_PG_BASE/data
: "${SAMU_PG_OS_USER:=}"   # OS user running postgres when we are root
: "${SAMU_PG_PORT:=}"
: "${SAMU_REDIS_DIR:=}"    # temp dir: redis.log, working dir
: "${SAMU_REDIS_PID:=}"
: "${SAMU_REDIS_PORT:=}"
: "${SAMU_APT_UPDATED:=}"

samu_step() { printf '==> %s\n' "$*"; }
samu_warn() { printf 'warning: %s\n' "$*" >&2; }
samu_err() { printf 'error: %s\n' "$*" >&2; }

samu_is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command as root: directly when root, else through sudo (non-interactive
# sudo when there is no terminal, so CI never hangs on a password prompt).
samu_as_root() {
    if samu_is_root; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        if [ -t 0 ]; then
            sudo "$@"
        else
            sudo -n "$@"
        fi
    else
        samu_err "root privileges are needed to run: $*"
        samu_err "not running as root and sudo is not available; install the missing packages manually or rerun as root"
        return 1
    fi
}

# Install Debian packages non-interactively (apt-get update runs once).
samu_apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        samu_err "apt-get not found; please install these packages manually: $*"
        return 1
    fi
    samu_step "installing Debian packages: $*"
    if [ -z "$SAMU_APT_UPDATED" ]; then
        samu_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null || {
            samu_err "apt-get update failed"
            return 1
        }
        SAMU_APT_UPDATED=1
    fi
    samu_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "$@" </dev/null || {
        samu_err "apt-get install $* failed"
        return 1
    }
}

# Print the directory holding initdb, pg_ctl and postgres: the Debian one
# under /usr/lib/postgresql/<ver>/bin with the highest version, else PATH's.
samu_find_pg_bin() {
    local d found=""
    while IFS= read -r d; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
            found=$d
        fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V)
    if [ -z "$found" ] && d=$(command -v initdb 2>/dev/null); then
        d=$(dirname "$d")
        if [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
            found=$d
        fi
    fi
    [ -n "$found" ] || return 1
    printf '%s\n' "$found"
}

# Set and export SAMU_TEST_PG_BIN, installing `postgresql` if needed.
samu_ensure_pg_bin() {
    local bin
    if ! bin=$(samu_find_pg_bin); then
        samu_apt_install postgresql || return 1
        bin=$(samu_find_pg_bin) || {
            samu_err "PostgreSQL binaries (initdb, pg_ctl, postgres) not found after installing postgresql"
            return 1
        }
    fi
    export SAMU_TEST_PG_BIN="$bin"
}

# Set and export SAMU_TEST_REDIS_SERVER, installing `redis-server` if needed.
samu_ensure_redis_server() {
    local path
    if ! path=$(command -v redis-server 2>/dev/null); then
        if [ -x /usr/bin/redis-server ]; then
            path=/usr/bin/redis-server
        else
            samu_apt_install redis-server || return 1
            path=$(command -v redis-server 2>/dev/null) || path=/usr/bin/redis-server
            [ -x "$path" ] || {
                samu_err "redis-server not found after installing redis-server"
                return 1
            }
        fi
    fi
    export SAMU_TEST_REDIS_SERVER="$path"
}

# True if something accepts TCP connections on 127.0.0.1:$1.
samu_port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Print a free TCP port on 127.0.0.1, different from any port given as args.
samu_free_port() {
    local port attempt excluded ok
    for attempt in $(seq 1 50); do
        port=""
        if command -v python3 >/dev/null 2>&1; then
            port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' 2>/dev/null) || port=""
        fi
        if [ -z "$port" ]; then
            port=$(((RANDOM * 32768 + RANDOM) % 30000 + 20000))
        fi
        ok=1
        for excluded in "$@"; do
            [ "$port" = "$excluded" ] && ok=""
        done
        if [ -n "$ok" ] && ! samu_port_in_use "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
        : "$attempt"
    done
    samu_err "could not find a free TCP port on 127.0.0.1"
    return 1
}

# Parent dir for temp dirs. As root, /tmp: it must be traversable by the
# postgres user, and root's TMPDIR may not be.
samu_tmp_parent() {
    if samu_is_root; then
        printf '/tmp\n'
    else
        printf '%s\n' "${TMPDIR:-/tmp}"
    fi
}

# Run a command as the user that owns the PostgreSQL cluster: ourselves, or
# $SAMU_PG_OS_USER when root (initdb and postgres refuse to run as root).
samu_pg_run() {
    if samu_is_root; then
        if command -v runuser >/dev/null 2>&1; then
            (cd / && runuser -u "$SAMU_PG_OS_USER" -- "$@")
        else
            (cd / && su "$SAMU_PG_OS_USER" -s /bin/sh -c "$(printf '%q ' "$@")")
        fi
    else
        "$@"
    fi
}

# Start a throwaway PostgreSQL; exports SAMU_TEST_PG_URL and SAMU_TEST_PG_BIN.
samu_pg_start() {
    local bin parent attempt port opts
    if [ -n "$SAMU_PG_BASE" ]; then
        samu_err "samu_pg_start: a PostgreSQL started by this shell is already running ($SAMU_PG_BASE)"
        return 1
    fi
    samu_ensure_pg_bin || return 1
    bin=$SAMU_TEST_PG_BIN
    parent=$(samu_tmp_parent)

    SAMU_PG_BASE=$(mktemp -d "$parent/samu-pg.XXXXXX") || {
        SAMU_PG_BASE=""
        samu_err "mktemp -d failed in $parent"
        return 1
    }
    SAMU_PG_DATA=$SAMU_PG_BASE/data
    if samu_is_root; then
        if id -u postgres >/dev/null 2>&1; then
            SAMU_PG_OS_USER=postgres
        else
            SAMU_PG_OS_USER=nobody
            samu_warn "no 'postgres' system user; running PostgreSQL as 'nobody'"
        fi
        chown "$SAMU_PG_OS_USER:" "$SAMU_PG_BASE" || return 1
        samu_step "initdb as user '$SAMU_PG_OS_USER' into $SAMU_PG_DATA ($bin)"
    else
        SAMU_PG_OS_USER=$(id -un)
        samu_step "initdb into $SAMU_PG_DATA ($bin)"
    fi

    # C.UTF-8 gives Unicode-aware lower()/upper(); fall back to plain C.
    # Text sorts bytewise (collation "C"), as docs/deploy.md asks of a
    # production database: the same order as SQLite's, and the track's
    # primary key compares unit ids with memcmp instead of strcoll.
    # SAMU_PG_COLLATE=C.UTF-8 gives the cluster before (an A/B of it).
    if ! samu_pg_run "$bin/initdb" -D "$SAMU_PG_DATA" -A trust -U postgres --no-sync \
        -E UTF8 --locale=C.UTF-8 --lc-collate="${SAMU_PG_COLLATE:-C}" >"$SAMU_PG_BASE/initdb.log" 2>&1; then
        samu_pg_run rm -rf "$SAMU_PG_DATA" >/dev/null 2>&1 || true
        if ! samu_pg_run "$bin/initdb" -D "$SAMU_PG_DATA" -A trust -U postgres --no-sync \
            -E UTF8 --no-locale >>"$SAMU_PG_BASE/initdb.log" 2>&1; then
            samu_err "initdb failed:"
            cat "$SAMU_PG_BASE/initdb.log" >&2
            return 1
        fi
    fi

    for attempt in 1 2 3 4 5; do
        port=$(samu_free_port "$SAMU_REDIS_PORT") || return 1
        samu_step "starting PostgreSQL on 127.0.0.1:$port"
        opts="-p $port -k '$SAMU_PG_BASE' -c listen_addresses=127.0.0.1"
        # Tests trade durability for speed; the load runs measure a store
        # that keeps what it acknowledged (SAMU_PG_DURABLE=1).
        if [ "${SAMU_PG_DURABLE:-0}" != 1 ]; then
            opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        fi
        opts+=" -c max_connections=400"
        # SAMU_PG_OPTS: more server settings ("-c name=value …"), for the
        # load runs' production-sized buffers and checkpoints.
        [ -n "${SAMU_PG_OPTS:-}" ] && opts+=" $SAMU_PG_OPTS"
        if samu_pg_run "$bin/pg_ctl" -w -t 60 -D "$SAMU_PG_DATA" -o "$opts" \
            -l "$SAMU_PG_BASE/postgres.log" start >/dev/null; then
            SAMU_PG_PORT=$port
            export SAMU_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
            return 0
        fi
        if grep -qiE 'could not (bind|create listen socket)|address already in use' \
            "$SAMU_PG_BASE/postgres.log" 2>/dev/null; then
            samu_warn "port $port was taken meanwhile (attempt $attempt); retrying on another port"
            continue
        fi
        break
    done
    samu_err "PostgreSQL failed to start; last lines of $SAMU_PG_BASE/postgres.log:"
    tail -n 30 "$SAMU_PG_BASE/postgres.log" >&2 2>/dev/null || true
    return 1
}

# Stop the PostgreSQL started by samu_pg_start and remove its temp dir.
samu_pg_stop() {
    local pid
    [ -n "$SAMU_PG_BASE" ] || return 0
    if [ -f "$SAMU_PG_DATA/postmaster.pid" ]; then
        samu_step "stopping PostgreSQL on 127.0.0.1:${SAMU_PG_PORT:-?}"
        if ! samu_pg_run "$SAMU_TEST_PG_BIN/pg_ctl" -D "$SAMU_PG_DATA" -m immediate -w -t 30 \
            stop >/dev/null 2>&1; then
            pid=$(head -n 1 "$SAMU_PG_DATA/postmaster.pid" 2>/dev/null)
            if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
                samu_warn "pg_ctl stop failed; killing postmaster $pid"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    fi
    if [ "${SAMU_TEST_KEEP:-0}" = 1 ]; then
        samu_step "keeping $SAMU_PG_BASE (SAMU_TEST_KEEP=1)"
    else
        rm -rf "$SAMU_PG_BASE" || true
    fi
    SAMU_PG_BASE="" SAMU_PG_DATA="" SAMU_PG_PORT=""
    return 0
}

# True if the Redis on 127.0.0.1:$1 answers PING with +PONG.
samu_redis_ping() {
    local reply
    reply=$(
        exec 2>/dev/null
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'PING\r\n' >&3
        IFS= read -r -t 2 line <&3 || exit 1
        printf '%s' "$line"
    ) || return 1
    [[ $reply == "+PONG"* ]]
}

# Start a throwaway redis-server; exports SAMU_TEST_REDIS_URL and
# SAMU_TEST_REDIS_SERVER.
samu_redis_start() {
    local attempt port i
    if [ -n "$SAMU_REDIS_PID" ]; then
        samu_err "samu_redis_start: a redis-server started by this shell is already running (pid $SAMU_REDIS_PID)"
        return 1
    fi
    samu_ensure_redis_server || return 1
    SAMU_REDIS_DIR=$(mktemp -d "$(samu_tmp_parent)/samu-redis.XXXXXX") || {
        SAMU_REDIS_DIR=""
        samu_err "mktemp -d failed"
        return 1
    }

    for attempt in 1 2 3 4 5; do
        port=$(samu_free_port "$SAMU_PG_PORT") || return 1
        samu_step "starting Redis on 127.0.0.1:$port"
        "$SAMU_TEST_REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize no --dir "$SAMU_REDIS_DIR" ${SAMU_REDIS_OPTS:-} \
            </dev/null >>"$SAMU_REDIS_DIR/redis.log" 2>&1 &
        SAMU_REDIS_PID=$!
        SAMU_REDIS_PORT=$port
        for i in $(seq 1 100); do
            if samu_redis_ping "$port"; then
                export SAMU_TEST_REDIS_URL="redis://127.0.0.1:$port/"
                return 0
            fi
            kill -0 "$SAMU_REDIS_PID" 2>/dev/null || break
            sleep 0.1
            : "$i"
        done
        if kill -0 "$SAMU_REDIS_PID" 2>/dev/null; then
            samu_err "redis-server (pid $SAMU_REDIS_PID) did not answer PING on port $port within 10s"
            break
        fi
        wait "$SAMU_REDIS_PID" 2>/dev/null || true
        SAMU_REDIS_PID="" SAMU_REDIS_PORT=""
        if grep -qiE 'address already in use|could not create server tcp' "$SAMU_REDIS_DIR/redis.log"; then
            samu_warn "port $port was taken meanwhile (attempt $attempt); retrying on another port"
            continue
        fi
        break
    done
    samu_err "redis-server failed to start; last lines of $SAMU_REDIS_DIR/redis.log:"
    tail -n 30 "$SAMU_REDIS_DIR/redis.log" >&2 || true
    return 1
}

# Stop the redis-server started by samu_redis_start and remove its temp dir.
samu_redis_stop() {
    local i
    if [ -n "$SAMU_REDIS_PID" ]; then
        samu_step "stopping Redis on 127.0.0.1:${SAMU_REDIS_PORT:-?}"
        kill -TERM "$SAMU_REDIS_PID" 2>/dev/null || true
        for i in $(seq 1 50); do
            kill -0 "$SAMU_REDIS_PID" 2>/dev/null || break
            sleep 0.1
            : "$i"
        done
        if kill -0 "$SAMU_REDIS_PID" 2>/dev/null; then
            samu_warn "redis-server $SAMU_REDIS_PID ignored SIGTERM; sending SIGKILL"
            kill -KILL "$SAMU_REDIS_PID" 2>/dev/null || true
        fi
        wait "$SAMU_REDIS_PID" 2>/dev/null || true
    fi
    if [ -n "$SAMU_REDIS_DIR" ]; then
        if [ "${SAMU_TEST_KEEP:-0}" = 1 ]; then
            samu_step "keeping $SAMU_REDIS_DIR (SAMU_TEST_KEEP=1)"
        else
            rm -rf "$SAMU_REDIS_DIR" || true
        fi
    fi
    SAMU_REDIS_PID="" SAMU_REDIS_DIR="" SAMU_REDIS_PORT=""
    return 0
}

# Start both servers (PostgreSQL first, then Redis).
samu_services_start() {
    samu_pg_start || return 1
    samu_redis_start || return 1
    samu_step "SAMU_TEST_PG_URL=$SAMU_TEST_PG_URL"
    samu_step "SAMU_TEST_REDIS_URL=$SAMU_TEST_REDIS_URL"
}

# Stop both servers and remove their temp dirs. Idempotent; never fails.
samu_services_stop() {
    samu_redis_stop || true
    samu_pg_stop || true
    return 0
}

samu_services_stop_on_exit() {
    SAMU_EXIT_PID_VARIABLE=${1:-}
    trap samu_on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# The EXIT trap of samu_services_stop_on_exit.
samu_on_exit() {
    local rc=$? pid=""
    trap - EXIT INT TERM
    [ -n "${SAMU_EXIT_PID_VARIABLE:-}" ] && pid=${!SAMU_EXIT_PID_VARIABLE:-}
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    samu_services_stop
    exit "$rc"
}

# Three free ports of 127.0.0.1 for a server under test, apart from the
# services' and from each other: sets GRPC_PORT, HTTP_PORT and CONSOLE_PORT.
samu_server_ports() {
    GRPC_PORT=$(samu_free_port "$SAMU_PG_PORT" "$SAMU_REDIS_PORT") || return 1
    HTTP_PORT=$(samu_free_port "$SAMU_PG_PORT" "$SAMU_REDIS_PORT" "$GRPC_PORT") || return 1
    CONSOLE_PORT=$(samu_free_port "$SAMU_PG_PORT" "$SAMU_REDIS_PORT" "$GRPC_PORT" "$HTTP_PORT") || return 1
}
