#!/usr/bin/env bash
# Runs the fuzz targets (every `bin` in fuzz/Cargo.toml, or the ones named as arguments) with
# cargo-fuzz, FUZZ_SECONDS seconds each (default 15). A crash, a panic or an input that hangs
# fails the run and leaves the input in fuzz/artifacts/<target>/. Installs cargo-fuzz when it
# is missing. Examples:
#   bash fuzz/run.sh                          # every target, 15 s each (what tests/run-all.sh runs)
#   FUZZ_SECONDS=3600 bash fuzz/run.sh hub_json
#   bash fuzz/run.sh token -- -jobs=2         # libFuzzer options after --
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

CARGO_FUZZ_VERSION=0.13.2
seconds=${FUZZ_SECONDS:-15}

if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
# cargo-fuzz instruments with -Z flags (sanitizer coverage, AddressSanitizer); only nightly
# rustc takes them, or a stable one told to act as nightly.
export RUSTC_BOOTSTRAP=1
# cargo-fuzz has no --locked: fail here if fuzz/Cargo.lock does not fit the manifests.
cargo fetch --locked --quiet

targets=()
extra=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --) shift; extra=("$@"); break ;;
        *) targets+=("$1"); shift ;;
    esac
done
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo fuzz list)
fi

# `cargo fuzz run` builds what it runs; every target shares one build of the server crate.
for target in "${targets[@]}"; do
    echo "== fuzz $target (${seconds} s)"
    corpus=corpus/$target
    mkdir -p "$corpus"
    seeds=()
    [[ -d seeds/$target ]] && seeds=("seeds/$target")
    cargo fuzz run "$target" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "${extra[@]}"
done
