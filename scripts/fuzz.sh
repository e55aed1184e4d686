#!/usr/bin/env bash
#
# Fuzzes every decoder and validator reachable from the network or the
# operator (issue 8), each for a bounded time:
#
#   ./scripts/fuzz.sh [seconds-per-target]      default 60
#   SAMU_FUZZ_TARGETS="telemetry_report config_toml" ./scripts/fuzz.sh 300
#
# Builds the targets of fuzz/ (its own workspace) with `cargo +nightly fuzz`,
# then runs each one for the given time, starting from the committed seeds
# (fuzz/seeds/<target>) and the corpus earlier runs grew (fuzz/corpus/<target>,
# not committed), with the target's dictionary (fuzz/dicts/<target>.dict). Every target runs even when one fails; the script exits 1
# if any target crashed, panicked, broke an invariant (an assert), timed out
# on one input or ran out of memory, and prints the reproducer of each
# (fuzz/artifacts/<target>/…) and the command that replays it.
#
# Not part of scripts/test.sh: it needs the nightly toolchain and takes
# minutes. Installs cargo-fuzz (and the nightly toolchain, through rustup)
# when missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$(pwd -P)
SECONDS_PER_TARGET=${1:-60}
case "$SECONDS_PER_TARGET" in
'' | *[!0-9]*)
    echo "usage: $0 [seconds-per-target]" >&2
    exit 64
    ;;
esac

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    export PATH
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
    command -v rustup >/dev/null 2>&1 || {
        echo "the nightly toolchain is needed (cargo fuzz uses libFuzzer and sanitizer flags) and rustup is missing" >&2
        exit 1
    }
    step "installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    step "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

cd "$REPO_ROOT/fuzz"
mapfile -t ALL_TARGETS < <(cargo +nightly fuzz list)
if [ -n "${SAMU_FUZZ_TARGETS:-}" ]; then
    read -r -a TARGETS <<<"$SAMU_FUZZ_TARGETS"
else
    TARGETS=("${ALL_TARGETS[@]}")
fi

# No sanitizer: every crate of ours forbids unsafe code, and without ASan the
# targets run several times faster. Debug assertions stay on (integer
# overflow panics). SAMU_FUZZ_SANITIZER=address for a run with ASan.
SANITIZER=${SAMU_FUZZ_SANITIZER:-none}
FUZZ_FLAGS=(--sanitizer "$SANITIZER" --debug-assertions)

step "building ${#TARGETS[@]} fuzz targets (cargo +nightly fuzz build, sanitizer: $SANITIZER)"
cargo +nightly fuzz build "${FUZZ_FLAGS[@]}"

failed=()
for target in "${TARGETS[@]}"; do
    corpus="corpus/$target"
    seeds="seeds/$target"
    mkdir -p "$corpus" "artifacts/$target"
    dirs=("$corpus")
    [ -d "$seeds" ] && dirs+=("$seeds")
    extra=()
    [ -f "dicts/$target.dict" ] && extra+=("-dict=dicts/$target.dict")
    step "fuzzing $target for ${SECONDS_PER_TARGET}s"
    # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a
    # memory blow-up is a failure too.
    if cargo +nightly fuzz run "${FUZZ_FLAGS[@]}" "$target" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "${extra[@]}"; then
        echo "$target: no failure in ${SECONDS_PER_TARGET}s"
    else
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    step "FAILED: ${failed[*]}"
    for target in "${failed[@]}"; do
        for artifact in artifacts/"$target"/*; do
            [ -e "$artifact" ] || continue
            echo "reproducer: fuzz/$artifact"
            echo "  replay:   (cd fuzz && cargo +nightly fuzz run ${FUZZ_FLAGS[*]} $target $artifact)"
        done
    done
    exit 1
fi
step "all ${#TARGETS[@]} fuzz targets ran ${SECONDS_PER_TARGET}s each without a failure"
