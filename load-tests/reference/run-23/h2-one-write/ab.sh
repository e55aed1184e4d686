#!/bin/bash
# usage: ab.sh BIN LABEL N
cd /tmp/nearx
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/nearx
kill $(cat server.pid) 2>/dev/null; sleep 1
SAMU_GRPC_ADDR=127.0.0.1:47051 SAMU_HTTP_ADDR=127.0.0.1:47080 SAMU_CONSOLE_GRPC_ADDR=127.0.0.1:47052 RUST_LOG=warn $1 serve --config samu.toml >> server.log 2>&1 &
echo $! > server.pid
until curl -fs http://127.0.0.1:47080/readyz >/dev/null; do sleep 0.1; done
sleep 1
for i in $(seq $3); do
  /tmp/ab/samu-peers-old --only queries --redis redis://127.0.0.1:6379 --postgis postgres://postgres@127.0.0.1:5432/nearpeers --grpc http://127.0.0.1:47051 --console-grpc http://127.0.0.1:47052 --token-file tokens.json --central-id 3199991 --units 10000 --queries 5000 2>/dev/null | tail -1 | sed "s/^{/{\"build\":\"$2\",/"
done
