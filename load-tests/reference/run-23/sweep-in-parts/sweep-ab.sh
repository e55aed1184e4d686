#!/bin/bash
# usage: sweep-ab.sh BIN LABEL: restart the server on the 40 000-unit store, 30 s idle,
# then the sweep's lock holds and 5 000 nearest queries per system (samu-peers).
cd /tmp/nearx
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/nearx
kill $(cat server.pid) 2>/dev/null; sleep 1
SAMU_GRPC_ADDR=127.0.0.1:47051 SAMU_HTTP_ADDR=127.0.0.1:47080 SAMU_CONSOLE_GRPC_ADDR=127.0.0.1:47052 RUST_LOG=warn $1 serve --config samu.toml >> server.log 2>&1 &
echo $! > server.pid
until curl -fs http://127.0.0.1:47080/readyz >/dev/null; do sleep 0.1; done
sleep 30
echo "== $2: samu_fleet_write_lock_seconds by signal_sweep, 30 s"
curl -fs http://127.0.0.1:47080/metrics | grep 'samu_fleet_write_lock_seconds.*signal_sweep' | grep -v ' 0$'
/tmp/ab/samu-peers-old --only queries --redis redis://127.0.0.1:6379 --postgis postgres://postgres@127.0.0.1:5432/nearpeers --grpc http://127.0.0.1:47051 --console-grpc http://127.0.0.1:47052 --token-file tokens.json --central-id 3199991 --units 10000 --queries 5000 2>/dev/null | tail -1 | sed "s/^{/{\"build\":\"$2\",/"
