#!/usr/bin/env python3
"""Instructions per vehicle report in a callgrind dump of the server.

    per-report.py DUMP [DUMP...]

Reports = calls of FleetState::apply_position in the window. The writer's
live-state chunks and the credential refresh run by the clock, not by the
reports, and the server under callgrind takes ~3 000 reports/s instead of
~45 000, so they are left out of the per-report figure (and printed).
"""
import re, subprocess, sys

def annotate(dump, *args):
    return subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", *args, dump],
                          capture_output=True, text=True, check=True).stdout

def first(text, pat):
    for line in text.splitlines():
        if pat in line:
            return int(re.match(r"\s*([\d,]+)", line).group(1).replace(",", ""))
    return 0

for dump in sys.argv[1:]:
    incl = annotate(dump)
    tree = annotate(dump, "--tree=caller")
    n = int(re.search(r"< .*FleetState::apply_position \(([\d,]+)x\)", tree).group(1).replace(",", ""))
    total = first(incl, "PROGRAM TOTALS")
    live = first(incl, "write_live_chunk::{{closure}} [")
    cred = first(incl, "Central::refresh_credentials::{{closure}} [")
    parts = {
        "reader task": first(incl, "samu_grpc::telemetry::Reader::run::{{closure}} ["),
        "connection task": first(incl, "tonic::transport::server::serve_connection::{{closure}} ["),
        "response stream task": first(incl, "<hyper::proto::h2::server::H2Stream<F,B,Ex> as core::future::future::Future>::poll ["),
        "writer (without live states)": first(incl, "samu_runtime::writer::Writer::run::{{closure}} [") - live,
    }
    print(f"{dump}: {n} reports, {(total - live - cred) / n:.0f} instructions a report "
          f"(live-state chunks {live / 1e6:.0f} M, credential refresh {cred / 1e6:.0f} M left out)")
    for name, v in parts.items():
        print(f"  {name:30s} {v / n:8.0f}")
