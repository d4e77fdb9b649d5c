#!/bin/bash
# NSS benchmark: roster vs glibc `files` vs libnss-cache vs a do-nothing
# "floor" module, at several table sizes, in one run. Writes BENCHMARKS.md.
#
# usage: bench/run.sh [options]          (as root; `make bench` runs it)
#   --quick             only 10 and 10k users (default: 10, 10k, 100k, 1M)
#   --sizes N,N,...     user counts to measure
#   --modules M,M,...   subset of floor,files,cache,roster
#   --no-build          do not run `cargo build --release --workspace` first
#   --keep              keep the work folder (data sets, raw driver output)
#   --output FILE       write FILE instead of BENCHMARKS.md
# environment: BENCH_PASSES (default 5 interleaved passes), BENCH_MIN_S
# (default 0.2 s per timed round), BENCH_ROUNDS (default 1 round per pass).
#
# Each module is measured by a C driver (bench/driver.c) inside its own
# private mount namespace (bench/ns-run.sh), where a test nsswitch.conf naming
# only that module is bind-mounted over /etc/nsswitch.conf and the modules are
# overlaid on the system library folder. Nothing outside the namespaces is
# changed; libnss-cache is downloaded and unpacked, never installed. Data
# sets come from bench/gen.py, identical for every module; the tables and
# target verdicts from bench/report.py.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
sizes=(10 10000 100000 1000000)
modules=(floor files cache roster)
output=$root/BENCHMARKS.md
build=1
keep=0
# Measurement: each figure is the median of $passes interleaved passes, each
# timing every call for at least $BENCH_MIN_S seconds (driver rounds).
passes=${BENCH_PASSES:-5}
export BENCH_MIN_S=${BENCH_MIN_S:-0.2} BENCH_ROUNDS=${BENCH_ROUNDS:-1}
cmdline="bench/run.sh${*:+ $*}"

usage() {
    sed -n '5,13s/^# \{0,1\}//p' "$0"
}

die() {
    echo "bench: $*" >&2
    exit 1
}

log() {
    printf '[%s] %s\n' "$(date +%T)" "$*" >&2
}

while [ $# -gt 0 ]; do
    case $1 in
        --quick) sizes=(10 10000) ;;
        --sizes)
            IFS=, read -r -a sizes <<<"${2:?--sizes needs a list}"
            shift
            ;;
        --modules)
            IFS=, read -r -a modules <<<"${2:?--modules needs a list}"
            shift
            ;;
        --no-build) build=0 ;;
        --keep) keep=1 ;;
        --output)
            output=${2:?--output needs a file}
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
    shift
done

for n in "${sizes[@]}"; do
    if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 10 ]; then
        die "sizes must be integers >= 10 (got '$n')"
    fi
done

has_module() {
    local m
    for m in "${modules[@]}"; do [ "$m" = "$1" ] && return 0; done
    return 1
}

# --- preconditions -----------------------------------------------------------

[ "$(id -u)" = 0 ] || die "must run as root (mount namespaces, overlay mounts)"
# A caching daemon would answer lookups from outside our namespaces, and the
# numbers would be its, not the module's.
for daemon in nscd unscd sssd; do
    if pgrep -x "$daemon" >/dev/null; then
        die "$daemon is running: it would answer NSS lookups; stop it first"
    fi
done
for tool in cc gcc python3 unshare apt-get dpkg-deb; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
if [ ! -x /usr/bin/time ]; then
    log "installing the 'time' package (GNU time, for peak RSS)"
    apt-get install -y -qq time >/dev/null
fi

start_s=$(date +%s)
work=$(mktemp -d /var/tmp/roster-bench.XXXXXX)
cleanup() {
    if [ "$keep" = 1 ]; then
        log "kept work folder $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
results=$work/results
mkdir -p "$results" "$work/mods" "$work/deb"

# --- modules -----------------------------------------------------------------

if has_module roster; then
    if [ "$build" = 1 ]; then
        log "cargo build --release --workspace"
        (cd "$root" && cargo build --release --workspace --quiet) ||
            die "roster does not build; run with --modules floor,files,cache to bench without it"
    fi
    for f in libnss_roster.so roster; do
        [ -f "$root/target/release/$f" ] || die "target/release/$f missing (build first or drop roster from --modules)"
    done
    cp "$root/target/release/libnss_roster.so" "$work/mods/libnss_roster.so.2"
    roster_bin=$root/target/release/roster
fi

log "building the driver and the floor module"
cc -O2 -Wall -Wextra -o "$work/driver" "$here/driver.c"
cc -O2 -Wall -Wextra -shared -fPIC -Wl,-soname,libnss_floor.so.2 \
    -o "$work/mods/libnss_floor.so.2" "$here/floor.c"

cache_version=n/a
if has_module cache; then
    # Fetch Debian's libnss-cache and unpack it: never installed.
    log "apt-get download libnss-cache"
    if ! (cd "$work/deb" && apt-get download -qq libnss-cache 2>/dev/null); then
        apt-get update -qq
        (cd "$work/deb" && apt-get download -qq libnss-cache 2>/dev/null) ||
            die "apt-get download libnss-cache failed"
    fi
    deb=$(echo "$work"/deb/libnss-cache_*.deb)
    dpkg-deb -x "$deb" "$work/deb/x"
    cache_version=$(dpkg-deb -f "$deb" Version)
    cp -L "$work"/deb/x/usr/lib/*/libnss_cache.so.2 "$work/mods/libnss_cache.so.2"
fi

for m in "${modules[@]}"; do
    case $m in files | cache | roster | floor) ;; *) die "unknown module $m" ;; esac
    printf 'passwd: %s\ngroup: %s\n' "$m" "$m" >"$work/nsswitch.$m.conf"
done

# --- machine description -----------------------------------------------------

{
    echo "command=$cmdline"
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
    echo "cores=$(nproc)"
    echo "mem_kb=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)"
    echo "kernel=$(uname -sr)"
    # shellcheck source=/dev/null
    echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "glibc=$(getconf GNU_LIBC_VERSION)"
    echo "cc=$(cc --version | head -n1)"
    echo "rustc=$(rustc --version 2>/dev/null || echo n/a)"
    echo "libnss_cache=$cache_version"
    echo "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo n/a)"
    # Uncommitted changes in the code that is measured.
    if [ -n "$(git -C "$root" status --porcelain -- src nss Cargo.toml Cargo.lock 2>/dev/null)" ]; then
        echo "dirty=yes"
    else
        echo "dirty=no"
    fi
    echo "modules=${modules[*]}"
    echo "sizes=${sizes[*]}"
    echo "min_s=$BENCH_MIN_S"
    echo "rounds=$BENCH_ROUNDS"
    echo "passes=$passes"
    echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$results/meta.env"

# --- per size ----------------------------------------------------------------

for n in "${sizes[@]}"; do
    data=$work/data-$n
    out=$results/$n
    mkdir -p "$out"
    log "n=$n: generating data"
    python3 "$here/gen.py" "$n" "$data"
    cp "$data/params.env" "$out/params.env"
    stat -c %s "$data/roster.json" >"$out/json.size"

    if has_module cache; then
        # A private copy of /etc plus libnss-cache's files, bound over /etc
        # in the cache namespace only. cp -a keeps the mtimes (the indexes
        # must not be older than the .cache files).
        cp -a /etc "$data/etc"
        cp -a "$data/etc-cache/." "$data/etc/"
    fi

    if has_module roster; then
        # Module's fixed path: /var/lib/roster/snapshot (root, 0755 / 0644).
        mkdir -p "$data/varlib/roster"
        chmod 0755 "$data/varlib" "$data/varlib/roster"
        log "n=$n: roster snapshot compile"
        # Local tables for validation: the machine's own (small) files.
        if /usr/bin/time -v -o "$out/compile.time" \
            "$roster_bin" snapshot compile "$data/roster.json" \
            --output "$data/varlib/roster/snapshot" \
            --passwd /etc/passwd --group /etc/group --shells /etc/shells \
            >"$out/compile.log" 2>&1; then
            chmod 0644 "$data/varlib/roster/snapshot"
            stat -c %s "$data/varlib/roster/snapshot" >"$out/snapshot.size"
        else
            log "n=$n: roster snapshot compile FAILED (see below); roster not measured at this size"
            tail -n 20 "$out/compile.log" >&2
        fi
    fi

    # Interleave the modules: every pass measures each module once, starting
    # with a different module each time, so a burst of load from anything
    # else on the machine lands on all columns alike rather than on one.
    # report.py takes the median over the passes.
    for ((pass = 0; pass < passes; pass++)); do
        log "n=$n: pass $((pass + 1))/$passes"
        for ((k = 0; k < ${#modules[@]}; k++)); do
            m=${modules[(pass + k) % ${#modules[@]}]}
            if [ "$m" = roster ] && [ ! -f "$out/snapshot.size" ]; then
                continue
            fi
            rc=0
            unshare --mount --propagation private -- \
                bash "$here/ns-run.sh" "$m" "$data" "$work" "$out/$m.$pass.tsv" || rc=$?
            if [ "$rc" != 0 ]; then
                log "n=$n: $m run failed (exit status $rc)"
                echo "exit status $rc" >"$out/$m.failed"
            fi
        done
    done
    [ "$keep" = 1 ] || rm -rf "$data"
done

{
    echo "duration_s=$(($(date +%s) - start_s))"
    echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$results/meta.env"
python3 "$here/report.py" "$results" >"$output.tmp"
# bench/scim.sh's section, kept as it was.
[ -f "$output" ] && sed -n '/^<!-- scim: /,/^<!-- \/scim -->/p' "$output" | sed '1s/^/\n/' >>"$output.tmp"
mv "$output.tmp" "$output"
log "wrote $output"
# The sshd gate's own section (roster principals per call).
[ "$output" = "$root/BENCHMARKS.md" ] && "$here/principals.sh"
# A whole ssh login, roster certificate against authorized_keys (bench/login.sh).
[ "$output" = "$root/BENCHMARKS.md" ] && "$here/login.sh"
