#!/usr/bin/env bash
# What roster adds to a whole SSH login: `ssh ... true` against one real sshd
# (tests/login_bench.rs, on the tests' sshd harness), a snapshot user with a
# roster certificate against a local user with authorized_keys, interleaved,
# with release builds of roster and its modules. Writes its section of
# BENCHMARKS.md (between the "ssh login" markers).
#   bench/login.sh [LOGINS]      (of each kind; default 40)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "login.sh: needs root (namespaces, sshd)" >&2; exit 1; }
cargo build --release -q --workspace --manifest-path "$top/Cargo.toml"
cd "$top"
ROSTER_BENCH_LOGINS=${1:-40} ROSTER_BENCH_OUTPUT=$top/BENCHMARKS.md \
    ROSTER_BENCH_MODULES=$top/target/release \
    cargo test --release --test login_bench -- --nocapture
