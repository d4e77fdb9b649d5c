#!/usr/bin/env bash
# The sshd gate's cost: `roster principals` per call (what sshd runs for
# every certificate offered), at several snapshot sizes, inside a private
# mount namespace. Writes its section of BENCHMARKS.md (between the
# "sshd gate" markers; bench/run.sh calls it after its own report).
#   bench/principals.sh [USERS ...]      (default: 10 10000 100000)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "principals.sh: needs root (mount namespace)" >&2; exit 1; }
cargo build --release -q -p roster --manifest-path "$top/Cargo.toml"
roster=$top/target/release/roster
work=$(mktemp -d /var/tmp/roster-principals.XXXXXX)
trap 'rm -rf "$work"' EXIT
ssh-keygen -q -t ed25519 -N '' -f "$work/ca"
ssh-keygen -q -t ed25519 -N '' -f "$work/user"
ssh-keygen -q -s "$work/ca" -I u0000001@bench -n u0000001 -V -1m:+10m "$work/user.pub"
read -r type b64 _ < "$work/user-cert.pub"
calls=200
lines=()
for users in "${@:-10 10000 100000}"; do
    for n in $users; do
        mkdir -p "$work/$n/roster"
        python3 "$top/bench/gen.py" "$n" "$work/$n/data" >/dev/null
        python3 - "$work/$n/data/roster.json" "$work/ca.pub" <<'PY'
import json, sys
path, ca = sys.argv[1], open(sys.argv[2]).read().strip()
d = json.load(open(path))
d["user_cas"] = [ca]
json.dump(d, open(path, "w"))
PY
        "$roster" snapshot compile "$work/$n/data/roster.json" --output "$work/$n/roster/snapshot" >/dev/null
        date +%s > "$work/$n/roster/confirmed"
        chmod 755 "$work/$n/roster"
        size=$(stat -c %s "$work/$n/roster/snapshot")
        # shellcheck disable=SC2016 # the inner script takes its values as arguments
        ns=$(unshare --mount --propagation private /bin/sh -eu -c '
            # /var/lib/roster may not exist on this host: a tmpfs over /var/lib
            # (in this namespace only) holds the mount point.
            mount -t tmpfs -o mode=0755 tmpfs /var/lib
            mkdir /var/lib/roster
            mount --bind "$1" /var/lib/roster
            out=$("$2" principals u0000001 "$3" "$4")
            [ "$out" = u0000001 ] || { echo "unexpected answer: $out" >&2; exit 1; }
            start=$(date +%s%N)
            i=0; while [ $i -lt "$5" ]; do "$2" principals u0000001 "$3" "$4" >/dev/null; i=$((i+1)); done
            echo $(( ($(date +%s%N) - start) / $5 ))
        ' sh "$work/$n/roster" "$roster" "$type" "$b64" "$calls")
        lines+=("| $n | $size | $((ns / 1000)) |")
        echo "$n users: $((ns / 1000)) us per call"
    done
done

report=$top/BENCHMARKS.md
{
    echo "<!-- sshd gate: written by bench/principals.sh -->"
    echo "## The sshd gate: roster principals"
    echo
    echo "\`bench/principals.sh\` ($(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg)):"
    echo "wall time per \`roster principals USER TYPE KEY\` call, process start included,"
    echo "mean of $calls calls, one ed25519 certificate, snapshot from bench/gen.py."
    echo
    echo "| users | compiled snapshot (bytes) | µs per call |"
    echo "|---|---|---|"
    printf '%s\n' "${lines[@]}"
    echo
    echo "The command reads the header, the section table, the small sections and, per"
    echo "name, the index slots of its probe path and the records they point to"
    echo "(store::Sparse): a few kilobytes whatever the snapshot's size, so the cost is"
    echo "the process start and one signature check. pam_roster reads the same way."
    echo "<!-- /sshd gate -->"
} >"$work/gate.md"
if [ -f "$report" ]; then
    python3 - "$report" "$work/gate.md" <<'PY'
import re, sys
report, gate = sys.argv[1], open(sys.argv[2]).read()
text = open(report).read()
block = re.compile(r"<!-- sshd gate:.*?<!-- /sshd gate -->\n?", re.S)
text = block.sub("", text).rstrip("\n") + "\n\n" + gate
open(report, "w").write(text)
PY
    echo "updated $report"
fi
