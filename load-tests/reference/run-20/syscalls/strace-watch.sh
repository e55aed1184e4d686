#!/bin/bash
LOG=$1
while sleep 0.1; do
  if grep -q "concurrent writers (ours)" "$LOG"; then
     sleep 3; pid=$(pgrep -f "samu-central serve" | head -1)
     timeout -s INT 4 strace -c -f -p $pid -o /tmp/ab/strace.txt; exit 0; fi
done
