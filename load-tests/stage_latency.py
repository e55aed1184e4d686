#!/usr/bin/env python3
"""Where a fix's way to the wall went during one load phase.

Reads two scrapes of the server's /metrics, taken before and after the
phase, and prints, for each of the server's latency histograms, how many
observations the phase added and the bucket bounds its p50 and p99 fall in:

- samu_report_age_seconds: a fix's age when the server takes it (the
  generator, its link, the network, the server reading the stream);
- samu_wall_fix_age_seconds: its age when its wall delta is encoded (all
  that, plus the wait for the encoder's tick);
- samu_nearest_query_seconds: the nearest query inside the handler;
- samu_fleet_write_lock_seconds: the signal sweep's and the live-state
  write-behind's wait for and hold of the fleet's write lock (every query
  waits behind them).

The rest of a wall's latency, after encoding, is the frame's way out to the
wall client: the generator's `wall_latency_*` minus the second figure.

    load-tests/stage_latency.py BEFORE.txt AFTER.txt
"""
import re
import sys

NAMES = [
    "samu_report_age_seconds",
    "samu_wall_fix_age_seconds",
    "samu_nearest_query_seconds",
    "samu_fleet_write_lock_seconds",
]


def buckets(path):
    """{name: {le: cumulative count}}, summed over label sets."""
    out = {}
    pattern = re.compile(r'^(\w+)_bucket\{(.*)\}\s+(\S+)$')
    for line in open(path, encoding="utf-8"):
        m = pattern.match(line.strip())
        if not m or m.group(1) not in NAMES:
            continue
        le = re.search(r'le="([^"]+)"', m.group(2)).group(1)
        bound = float("inf") if le == "+Inf" else float(le)
        per = out.setdefault(m.group(1), {})
        per[bound] = per.get(bound, 0) + float(m.group(3))
    return out


def quantile(cumulative, q):
    """The (lower, upper] bucket bounds the q-quantile falls in."""
    bounds = sorted(cumulative)
    total = cumulative[bounds[-1]]
    lower = 0.0
    for bound in bounds:
        if cumulative[bound] >= q * total:
            return lower, bound
        lower = bound
    return lower, float("inf")


def ms(x):
    return "inf" if x == float("inf") else f"{x * 1000:g}"


def main():
    before, after = buckets(sys.argv[1]), buckets(sys.argv[2])
    for name in NAMES:
        if name not in after:
            continue
        delta = {b: n - before.get(name, {}).get(b, 0) for b, n in after[name].items()}
        total = delta[max(delta)]
        if total <= 0:
            continue
        p50, p99 = quantile(delta, 0.5), quantile(delta, 0.99)
        print(f"{name}: {int(total)} observed; p50 in ({ms(p50[0])}, {ms(p50[1])}] ms, "
              f"p99 in ({ms(p99[0])}, {ms(p99[1])}] ms")


if __name__ == "__main__":
    main()
