#!/bin/bash
# Toggles callgrind's collection around the compare phase's "ours" slices.
LOG=$1
on=0
while sleep 0.1; do
  if [ $on = 0 ] && grep -q "concurrent writers (ours)" "$LOG"; then
     sleep 3; callgrind_control -z >/dev/null; on=1; date +%s.%N > /tmp/cg/on.t; fi
  if [ $on = 1 ] && grep -q "concurrent writers (Redis GEOADD)" "$LOG"; then
     date +%s.%N > /tmp/cg/off.t; callgrind_control -d > /dev/null; exit 0; fi
done
