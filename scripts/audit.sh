#!/usr/bin/env bash
#
# Supply-chain checks of the dependency tree (issue 8), with cargo-deny and
# the policy in deny.toml:
#
#   ./scripts/audit.sh
#
# 1. licenses, bans, sources: every license on deny.toml's allow-list, crates
#    from crates.io only, duplicate versions reported (warnings). Needs no
#    network when the crates of Cargo.lock are already downloaded.
# 2. advisories (RustSec): needs the advisory database, a git repository on
#    GitHub. When it cannot be fetched the check is SKIPPED, the script says
#    so and why, and the exit status reflects only the checks that ran.
#    SAMU_AUDIT_REQUIRE_ADVISORIES=1 makes a skip an error (for CI machines
#    that do reach GitHub).
#
# Exit status: 0 when every check that ran passed, 1 otherwise. Installs
# cargo-deny when missing. Not part of scripts/test.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    export PATH
fi
if ! cargo deny --version >/dev/null 2>&1; then
    step "installing cargo-deny"
    cargo install --locked cargo-deny
fi
cargo deny --version

# Offline when everything Cargo.lock names is on disk already; otherwise let
# cargo download the crates (from crates.io, not GitHub).
if cargo metadata --format-version 1 --frozen >/dev/null 2>&1; then
    NET=(--frozen)
else
    NET=(--locked)
fi

status=0
step "cargo deny check licenses bans sources"
# --hide-inclusion-graph: duplicate versions are warnings; `cargo deny check
# bans` shows which crates pull each version in.
if cargo deny "${NET[@]}" check --hide-inclusion-graph licenses bans sources; then
    echo "licenses, bans, sources: ok"
else
    echo "licenses, bans or sources: FAILED (see above)" >&2
    status=1
fi

step "cargo deny check advisories"
if fetch_log=$(cargo deny fetch db 2>&1); then
    # The database was just fetched: no second fetch (--offline).
    if cargo deny "${NET[@]}" --offline check advisories; then
        echo "advisories: ok"
    else
        echo "advisories: FAILED (see above; an advisory that does not apply goes in deny.toml's [advisories] ignore, with its reason)" >&2
        status=1
    fi
else
    reason=$(printf '%s\n' "$fetch_log" | grep -E 'fatal:|error|ERROR' | tail -n 1)
    echo "advisories: SKIPPED: the RustSec advisory database (https://github.com/rustsec/advisory-db) could not be fetched from this machine:"
    echo "    ${reason:-$(printf '%s\n' "$fetch_log" | tail -n 1)}"
    echo "    No advisory check was made. Run ./scripts/audit.sh where GitHub is reachable (CI)."
    if [ "${SAMU_AUDIT_REQUIRE_ADVISORIES:-0}" = 1 ]; then
        echo "SAMU_AUDIT_REQUIRE_ADVISORIES=1: a skipped advisory check is an error" >&2
        status=1
    fi
fi

exit "$status"
