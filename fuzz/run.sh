#!/usr/bin/env bash
# fuzz/run.sh [SECONDS]: builds every fuzz target and runs each for SECONDS
# (default 60), one after another, starting from the committed seeds.
#
# Each target's corpus is fuzz/corpus/<target>, made fresh from
# fuzz/seeds/<target>/ on every run; crash, timeout and out-of-memory inputs
# land in fuzz/artifacts/<target>/ (both ignored by git). The first finding
# stops the run with a non-zero exit and the artifact's path. Replay one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <artifact>
# and the committed seeds without libFuzzer with
#   cargo test --manifest-path fuzz/Cargo.toml
#
# Works on stable Rust: RUSTC_BOOTSTRAP=1 lets it take the -Z flags cargo fuzz
# passes (-Zsanitizer=address). Installs cargo-fuzz when `cargo fuzz` is
# missing. Builds are release with debug assertions and overflow checks
# (cargo fuzz's default), so an overflow is a finding too.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: fuzz/run.sh [SECONDS]   (SECONDS: a positive whole number, default 60)" >&2
    exit 2
fi

# cargo fuzz finds fuzz/ from the project root.
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

start=$(date +%s)
echo "== building the fuzz targets ($(cargo fuzz --version))"
cargo fuzz build

mapfile -t targets < <(cargo fuzz list)
summary=()
for target in "${targets[@]}"; do
    corpus=fuzz/corpus/$target
    artifacts=fuzz/artifacts/$target
    rm -rf "$corpus"
    mkdir -p "$corpus" "$artifacts"
    cp fuzz/seeds/"$target"/* "$corpus"/
    log=$artifacts/last-run.log
    echo "== $target: ${seconds}s from $(ls "$corpus" | wc -l) seeds (log: $log)"
    status=0
    cargo fuzz run "$target" "$corpus" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    if [[ $status -ne 0 ]]; then
        grep -E -A2 "panicked at|ERROR: libFuzzer|==[0-9]+==ERROR" "$log" | head -n 20 >&2 || true
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "FAIL: $target (exit $status); full output in $log" >&2
        if [[ -n $artifact ]]; then
            echo "artifact: $artifact" >&2
            echo "replay:   RUSTC_BOOTSTRAP=1 cargo fuzz run $target $artifact" >&2
        fi
        exit 1
    fi
    stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<<"$stats")
    summary+=("$(printf '%-18s %10s runs %8s exec/s  cov %s' "$target" "$runs" "$speed" "$cov")")
done

echo "== no findings in $(( $(date +%s) - start ))s"
printf '%s\n' "${summary[@]}"
