#!/bin/sh
# Runs samu-central serve under callgrind, collection off until toggled.
if [ "$1" = serve ]; then
  exec valgrind --tool=callgrind --callgrind-out-file=/tmp/cg/out/cg.%p "$REAL_BIN" "$@"
fi
exec "$REAL_BIN" "$@"
