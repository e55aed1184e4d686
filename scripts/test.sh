#!/usr/bin/env bash
#
# The project's test command:
#
#   ./scripts/test.sh [extra cargo-nextest args]     e.g. ./scripts/test.sh -E 'test(foo)'
#
# 1. checks the toolchain (installs cargo-nextest if missing),
# 2. cargo fmt --check and cargo clippy -D warnings (skipped with SAMU_SKIP_LINT=1),
# 3. starts a throwaway PostgreSQL and Redis on free ports of 127.0.0.1 (never
#    the machine's own servers) and exports SAMU_TEST_PG_URL, SAMU_TEST_REDIS_URL,
#    SAMU_TEST_PG_BIN and SAMU_TEST_REDIS_SERVER,
# 4. doc tests (only when no extra args are given and the workspace has a library),
# 5. cargo nextest run (profile "ci" from .config/nextest.toml), extra args passed on.
#
# The servers and their temp dirs are removed on exit, whatever the outcome.
# Works as root (CI) or as a normal user; missing Debian packages are installed
# with apt-get (as root or through sudo).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$(pwd -P)

# shellcheck source-path=SCRIPTDIR source=lib/services.sh
source "$REPO_ROOT/scripts/lib/services.sh"

export DEBIAN_FRONTEND=noninteractive

die() {
    samu_err "$*"
    exit 1
}

# Always stop the servers and remove their temp dirs, keeping the exit status.
samu_services_stop_on_exit

# --- toolchain --------------------------------------------------------------
samu_step "checking the Rust toolchain"
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    export PATH
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust first (https://rustup.rs)"
cargo --version

if [ "${SAMU_SKIP_LINT:-0}" != 1 ]; then
    for component in rustfmt clippy; do
        if [ "$component" = rustfmt ]; then sub=fmt; else sub=clippy; fi
        if ! cargo "$sub" --version >/dev/null 2>&1; then
            command -v rustup >/dev/null 2>&1 ||
                die "cargo $sub is missing and rustup is not available to install $component"
            samu_step "installing the $component component"
            rustup component add "$component"
        fi
    done
fi

if ! cargo nextest --version >/dev/null 2>&1; then
    samu_step "installing cargo-nextest"
    cargo install cargo-nextest --locked
fi

# --- lint -------------------------------------------------------------------
if [ "${SAMU_SKIP_LINT:-0}" = 1 ]; then
    samu_step "SAMU_SKIP_LINT=1: skipping cargo fmt and cargo clippy"
else
    samu_step "cargo fmt --all -- --check"
    cargo fmt --all -- --check

    samu_step "cargo clippy --workspace --all-targets --locked -- -D warnings"
    cargo clippy --workspace --all-targets --locked -- -D warnings
fi

# --- deploy files ------------------------------------------------------------
samu_step "python3 deploy/check.py"
python3 deploy/check.py

# --- supply chain -------------------------------------------------------------
# cargo deny: licenses, bans and sources must pass; RustSec advisories are
# checked when GitHub is reachable and reported as SKIPPED otherwise
# (docs/reliability.md). SAMU_SKIP_AUDIT=1 skips it (e.g. while offline
# without cargo-deny installed).
if [ "${SAMU_SKIP_AUDIT:-0}" = 1 ]; then
    samu_step "SAMU_SKIP_AUDIT=1: skipping scripts/audit.sh"
else
    samu_step "scripts/audit.sh (cargo deny)"
    "$REPO_ROOT/scripts/audit.sh" || die "the supply-chain check failed"
fi

# --- services ---------------------------------------------------------------
samu_services_start || die "could not start the test PostgreSQL/Redis"

# --- tests ------------------------------------------------------------------
profile=default
if [ -f .config/nextest.toml ] && grep -qE '^[[:space:]]*\[profile\.ci\]' .config/nextest.toml; then
    profile=ci
fi
# Doc tests first, so that nextest's summary closes the run.
if [ "$#" -gt 0 ]; then
    samu_step "extra nextest args given: skipping doc tests"
elif cargo metadata --no-deps --format-version 1 --locked 2>/dev/null |
    grep -qE '"kind":\["(lib|rlib|dylib|proc-macro)"'; then
    samu_step "cargo test --workspace --doc --locked"
    cargo test --workspace --doc --locked
else
    samu_step "no library crate in the workspace: skipping doc tests"
fi


# Chromium and the page's node packages for the wall's end-to-end test.
samu_step "scripts/e2e-setup.sh"
"$REPO_ROOT/scripts/e2e-setup.sh" || die "could not install the wall page's e2e prerequisites"

# The pages' pure helpers (formatting, queues, elapsed time), with node --test.
samu_step "npm test (dashboard)"
(cd "$REPO_ROOT/dashboard" && npm test --silent) || die "the dashboard's unit tests failed"

samu_step "cargo nextest run --workspace --locked --profile $profile${*:+ $*}"
cargo nextest run --workspace --locked --profile "$profile" "$@"

samu_step "all checks passed"
