#!/usr/bin/env bash
# The NSS module under AddressSanitizer (with LeakSanitizer) and
# ThreadSanitizer: the tests that drive it from C programs inside the real
# glibc — 8 threads across 400 generation swaps, 200 forks during lookups,
# the ERANGE buffer sweeps, and the faults (dup2, atexit and thread-local
# destructors, dlopen cycles, huge names) — with a module built with
# -Zsanitizer (and an instrumented std, -Zbuild-std) and the C programs
# linked with the same LLVM sanitizer runtime (rustc's). A report fails the
# run. Needs root, like the tests; about 5 minutes on 2 cores.
#
#   scripts/sanitize.sh [address|thread]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
# Sanitizers are unstable rustc flags; RUSTC_BOOTSTRAP lets the stable
# toolchain take them. -Zbuild-std needs the standard library's source.
export RUSTC_BOOTSTRAP=1
rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src
sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
for sanitizer in "${@:-address thread}"; do
    for s in $sanitizer; do
        case $s in
            address) runtime=asan ;;
            thread) runtime=tsan ;;
            *) echo "sanitize.sh: unknown sanitizer $s" >&2; exit 2 ;;
        esac
        echo "== $s sanitizer"
        target_dir=target/sanitize-$s
        RUSTFLAGS="-Zsanitizer=$s" cargo build -p nss-roster --target "$host" \
            -Zbuild-std --target-dir "$target_dir"
        # The C programs are not instrumented themselves: they carry the
        # runtime (exported, for the module dlopen()ed into them), whose
        # interceptors see every allocation, lock and thread.
        rt="$sysroot/lib/rustlib/$host/lib/librustc-stable_rt.$runtime.a"
        ROSTER_TEST_NSS_MODULE="$PWD/$target_dir/$host/debug/libnss_roster.so" \
        ROSTER_TEST_CFLAGS="-g -rdynamic -Wl,--whole-archive $rt -Wl,--no-whole-archive -ldl -lm -lrt" \
        ASAN_OPTIONS=detect_leaks=1 TSAN_OPTIONS=halt_on_error=1 \
            cargo test --test system -- --test-threads=1 \
            --skip address_space \
            nss_glibc::concurrent nss_glibc::forking nss_glibc::reentrant \
            faults::descriptors faults::lookups_from faults::dlopen faults::huge
    done
done
