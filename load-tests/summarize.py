"""Medians and ratios of a load-tests/run.sh result folder, as Markdown."""
import json
import statistics
import sys
from pathlib import Path


def lines(folder, name):
    path = Path(folder) / name
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip().startswith("{")]


def median(rows, key):
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return statistics.median(values) if values else None


def fmt(v, unit=""):
    return "n/a" if v is None else f"{v:,.3f}".rstrip("0").rstrip(".") + unit


def main(folder):
    ingest, latency = lines(folder, "ingest.jsonl"), lines(folder, "latency.jsonl")
    ours, peers = lines(folder, "compare-ours.jsonl"), lines(folder, "peers.jsonl")
    restart, state = lines(folder, "restart.jsonl"), lines(folder, "state.jsonl")
    # The compare phase's writers on each side (run.sh's COMPARE_WRITERS).
    writers = f"{ours[0]['vehicles']:,}".replace(",", " ") if ours else "1 000"
    print(f"Runs: {len(ingest)} (medians)\n")
    print("| figure | target | median |")
    print("|---|---|---|")
    print(f"| ingest, {ingest[0]['vehicles'] if ingest else '?'} streams, as fast as acknowledged | ≥ 30 000 reports/s | {fmt(median(ingest, 'ingest_per_s'))} reports/s, errors {fmt(median(ingest, 'errors'))} |")
    # Acknowledged positions (the acks less one crew declaration per
    # vehicle) not found in the store; negative: more stored than acked
    # (stored before the run stopped, acks still in flight).
    stall = lines(folder, "stall.jsonl")
    for name, rows in (("ingest", ingest), ("latency", latency), ("state-wide", state), (f"{writers} writers", ours), ("store stall", stall)):
        lost = [r["reports_acked"] - r["vehicles"] - r["stored_track_rows"] for r in rows if r.get("stored_track_rows") is not None]
        settled = [r.get("stored_track_settled") for r in rows]
        if lost:
            print(f"| acknowledged positions missing from the store, {name} | ≤ 0 | {lost} (writes settled: {settled}) |")
    print(f"| ingest-to-wall latency, 1 Hz + 100 walls, every wall on every unit | p99 ≤ 150 ms | p50 {fmt(median(latency, 'wall_latency_p50_ms'))} ms, p99 {fmt(median(latency, 'wall_latency_p99_ms'))} ms |")
    print(f"| reports acknowledged per second in that phase (10 000 offered) | | {fmt(median(latency, 'ingest_per_s'))} |")
    print(f"| nearest through gRPC under that load, main port | p99 ≤ 2 ms | p50 {fmt(median(latency, 'nearest_p50_ms'))} ms, p99 {fmt(median(latency, 'nearest_p99_ms'))} ms |")
    print(f"| the same, console port (same run) | p99 ≤ 2 ms | p50 {fmt(median(latency, 'nearest_console_p50_ms'))} ms, p99 {fmt(median(latency, 'nearest_console_p99_ms'))} ms |")
    # The machine's floor in the same window: the probes' thread to an echo
    # thread and back over loopback, no server code on the way.
    print(f"| the machine's floor in that window: 64 bytes to an echo thread and back | | p50 {fmt(median(latency, 'loopback_p50_ms'))} ms, p99 {fmt(median(latency, 'loopback_p99_ms'))} ms |")
    if state:
        print(f"| the same load in {state[0].get('centrals', '?')} centrals, each wall on its own central: ingest-to-wall latency | p99 ≤ 150 ms | p50 {fmt(median(state, 'wall_latency_p50_ms'))} ms, p99 {fmt(median(state, 'wall_latency_p99_ms'))} ms |")
        print(f"| nearest under that load, main port | p99 ≤ 2 ms | p50 {fmt(median(state, 'nearest_p50_ms'))} ms, p99 {fmt(median(state, 'nearest_p99_ms'))} ms |")
        print(f"| the same, console port | p99 ≤ 2 ms | p50 {fmt(median(state, 'nearest_console_p50_ms'))} ms, p99 {fmt(median(state, 'nearest_console_p99_ms'))} ms |")
        print(f"| the machine's floor in that window (echo thread, loopback) | | p50 {fmt(median(state, 'loopback_p50_ms'))} ms, p99 {fmt(median(state, 'loopback_p99_ms'))} ms |")
        print(f"| reports acknowledged per second in that phase (10 000 offered) | | {fmt(median(state, 'ingest_per_s'))}, errors {fmt(median(state, 'errors'))} |")
    # Memory: the memory phase, 10 000 apps at 1 Hz on a server just
    # restarted; and the ingest phase, with its 40 000 reports in flight
    # (its first run on a fresh server, later ones from what earlier phases
    # left).
    memory = lines(folder, "memory.jsonl")
    if memory:
        print(f"| server memory per connected vehicle, 1 Hz, fresh server (memory phase) | ≤ 16 KiB | {fmt(median(memory, 'rss_per_vehicle_kib'))} KiB |")
    print(f"| server memory per connected vehicle (ingest phase) | ≤ 16 KiB | {fmt(median(ingest, 'rss_per_vehicle_kib'))} KiB |")
    print(f"| restart: /readyz green again | ≤ 5 s | {fmt(median(restart, 'restart_ready_s'))} s |")
    if stall:
        print_stall(folder, stall)
    print()
    print("| where the two cores went (% of one core; machine: % of both) | server | PostgreSQL | generator | machine busy |")
    print("|---|---|---|---|---|")
    for name, rows in (("ingest", ingest), ("latency", latency), ("state-wide", state), (f"{writers} writers", ours)):
        print(f"| {name} | {fmt(median(rows, 'server_cpu_pct'))} | {fmt(median(rows, 'postgres_cpu_pct'))} | {fmt(median(rows, 'generator_cpu_pct'))} | {fmt(median(rows, 'machine_busy_pct'))} |")
    geoadd = lines(folder, "geoadd.jsonl")
    if median(geoadd, "redis_cpu_pct") is not None:
        print(f"| Redis GEOADD, {writers} writers (server: Redis; generator: samu-peers) | {fmt(median(geoadd, 'redis_cpu_pct'))} | {fmt(median(geoadd, 'postgres_cpu_pct'))} | {fmt(median(geoadd, 'generator_cpu_pct'))} | {fmt(median(geoadd, 'machine_busy_pct'))} |")
        # CPU per update, each slice's shares over its own rate: what each
        # side's processes spend on one report or one GEOADD.
        def per_update(rows, rate_key, cpu_key):
            values = [r[cpu_key] * 1e4 / r[rate_key] for r in rows if r.get(cpu_key) is not None and r.get(rate_key)]
            return statistics.median(values) if values else None
        ours_us = [per_update(ours, "ingest_per_s", k) for k in ("server_cpu_pct", "postgres_cpu_pct", "generator_cpu_pct")]
        redis_us = [per_update(geoadd, "redis_geoadd_per_s", k) for k in ("redis_cpu_pct", "generator_cpu_pct")]
        if None not in ours_us and None not in redis_us:
            print()
            print(f"CPU per update, medians of the slices: ours {sum(ours_us):.1f} µs (server {ours_us[0]:.1f}, PostgreSQL {ours_us[1]:.1f}, samu-load {ours_us[2]:.1f}); GEOADD {sum(redis_us):.1f} µs (Redis {redis_us[0]:.1f}, samu-peers {redis_us[1]:.1f}).")
    stages = sorted(Path(folder).glob("stages-*.txt"))
    if stages:
        print()
        print("The server's own split of each measured window (load-tests/stage_latency.py):")
        print()
        for path in stages:
            for line in path.read_text().splitlines():
                print(f"- {path.stem.removeprefix('stages-')}: {line}")
    print()
    print("| peer comparison (same run) | ours | peer | ours ÷ peer |")
    print("|---|---|---|---|")
    if geoadd:
        # Interleaved slices (run.sh): each run's rate is the mean of its
        # slices (equal windows), the ratio that of the two means; the
        # figure is the median of the runs' ratios.
        runs = sorted({r["run"] for r in geoadd if "run" in r})
        per_run = []
        for run in runs:
            o = [r["ingest_per_s"] for r in ours if r.get("run") == run]
            g = [r["redis_geoadd_per_s"] for r in geoadd if r.get("run") == run]
            if o and g:
                per_run.append((statistics.mean(o), statistics.mean(g)))
        if per_run:
            ratios = [o / g for o, g in per_run]
            detail = ", ".join(f"{o:,.0f} ÷ {g:,.0f} = {o / g:.2f}" for o, g in per_run)
            print(f"| updates/s, {writers} concurrent clients, no pipelining, slices alternating (per run: {detail}) | {fmt(round(statistics.median(o for o, _ in per_run)))} | Redis GEOADD {fmt(round(statistics.median(g for _, g in per_run)))} | {statistics.median(ratios):.2f} |")
    else:
        ours_ingest, redis_ingest = median(ours, "ingest_per_s"), median(peers, "redis_geoadd_per_s")
        if ours_ingest and redis_ingest:
            print(f"| updates/s, {writers} concurrent clients, no pipelining | {fmt(ours_ingest)} | Redis GEOADD {fmt(redis_ingest)} | {ours_ingest / redis_ingest:.2f} |")
    for port, prefix in (("main port", "samu_"), ("console port", "samu_console_")):
        for peer, key in (("Redis GEOSEARCH", "redis_geosearch_p99_ms"), ("PostGIS KNN", "postgis_knn_p99_ms")):
            o, p = median(peers, f"{prefix}nearest_p99_ms"), median(peers, key)
            if o and p:
                print(f"| nearest k=5 p99 (ms), {port} | {fmt(o)} | {peer} {fmt(p)} | {o / p:.2f} |")
                o50, p50 = median(peers, f"{prefix}nearest_p50_ms"), median(peers, key.replace("p99", "p50"))
                if o50 and p50:
                    print(f"| nearest k=5 p50 (ms), {port} | {fmt(o50)} | {peer} {fmt(p50)} | {o50 / p50:.2f} |")
            elif o:
                print(f"| nearest k=5 p99 (ms), {port} | {fmt(o)} | {peer}: {next((r.get('postgis') for r in peers if r.get('postgis')), 'n/a')} | n/a |")


def counter(path, name):
    """A counter's value in a /metrics scrape, 0 when absent."""
    if not path.exists():
        return 0
    for line in path.read_text().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0


def print_stall(folder, stall):
    """The stall phase: the walls while the track is locked, run by run."""
    folder = Path(folder)
    for run, r in enumerate(stall, start=1):
        timeline = lines(folder, f"timeline-stall-{run}.jsonl")
        silent = sum(1 for t in timeline if not t.get("wall_max_ms"))
        worst = max((t.get("wall_max_ms") or 0 for t in timeline), default=0)
        late = sum(t.get("wall_over_150ms") or 0 for t in timeline)
        before, after = (folder / f"metrics-stall-{run}-{w}.txt" for w in ("before", "after"))
        spooled = counter(after, "samu_spool_appended_total") - counter(before, "samu_spool_appended_total")
        print(f"| store stall, run {run}: walls while the track is locked | p99 ≤ 150 ms | p50 {fmt(r.get('wall_latency_p50_ms'))} ms, p99 {fmt(r.get('wall_latency_p99_ms'))} ms, worst {fmt(worst)} ms; {late:,} wall updates over 150 ms, {silent} of {len(timeline)} seconds without one; {fmt(r.get('ingest_per_s'))} reports/s acknowledged, errors {fmt(r.get('errors'))}; {spooled:,.0f} batches spooled in the window |")


if __name__ == "__main__":
    main(sys.argv[1])
