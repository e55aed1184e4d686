#!/usr/bin/env python3
"""Peak heap per vehicle by allocation site, from `heaptrack_print -p 1`.

    load-tests/heap_sites.py PEAKS.txt VEHICLES [ROWS]

Each row: KB per vehicle, the first two frames outside the standard
library, and the first frame of ours (services/, vendor/) on the way there.
Each site's own peak: the rows do not add up to the process's peak.
"""
import collections
import re
import sys


def size(text):
    m = re.match(r"([\d.]+)([KMG]?)B?", text)
    return float(m.group(1)) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]


def location(line):
    m = re.search(r"at (\S+):(\d+)", line)
    if not m or m.group(1).startswith("/rustc"):
        return None
    return re.sub(r".*/registry/src/[^/]+/", "", m.group(1)) + ":" + m.group(2)


def main():
    path, vehicles = sys.argv[1], int(sys.argv[2])
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    text = open(path, encoding="utf-8").read().split("PEAK MEMORY CONSUMERS", 1)[1]
    sites = collections.Counter()
    for block in re.split(r"\n(?=[\d.]+[KMG]?B? peak memory consumed)", text):
        parts = re.split(r"\n\s*([\d.]+[KMG]?B?) consumed over \d+ calls from:\n", block)
        head = [x for x in map(location, parts[0].splitlines()) if x]
        for i in range(1, len(parts), 2):
            body = [x for x in map(location, parts[i + 1].splitlines()) if x]
            ours = [x for x in body if x.startswith(("services/", "vendor/"))][:1]
            outside = [x for x in head + body if not x.startswith("services/")][:2]
            sites[" < ".join(outside + ours)] += size(parts[i])
    for site, peak in sites.most_common(rows):
        print(f"{peak / vehicles / 1e3:6.2f} KB  {site}")


if __name__ == "__main__":
    main()
