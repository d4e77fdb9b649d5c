#!/bin/sh
# The main job, for now: compile the example snapshot and resolve its users
# through real glibc (getent, id) with libnss_roster.so.2 loaded, inside a
# private mount namespace. The machine's own /etc, /usr/lib and /var/lib are
# never changed: every mount lives and dies with the namespace.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$top/target}/debug
[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (mount namespace)" >&2; exit 1; }
for f in "$target/roster" "$target/libnss_roster.so"; do
    [ -e "$f" ] || { echo "demo: $f missing; run 'make demo'" >&2; exit 1; }
done

work=$(mktemp -d /tmp/roster-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lib" "$work/upper" "$work/work"
cp "$target/libnss_roster.so" "$work/lib/libnss_roster.so.2"
sed -e 's/^passwd:.*/passwd:         files roster/' -e 's/^group:.*/group:          files roster/' \
    /etc/nsswitch.conf > "$work/nsswitch.conf"

# Bold headings only on a terminal.
if [ -t 1 ]; then bold=$(printf '\033[1m'); plain=$(printf '\033[0m'); else bold=; plain=; fi
export bold plain
heading() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

heading "roster snapshot compile docs/examples/snapshot.json"
"$target/roster" snapshot compile "$top/docs/examples/snapshot.json" --output "$work/snapshot"

heading "roster snapshot show"
"$target/roster" snapshot show "$work/snapshot"

unshare --mount --propagation private /bin/sh -eu -c '
work=$1
mount -t overlay overlay -o "lowerdir=$work/lib:/usr/lib/x86_64-linux-gnu" /usr/lib/x86_64-linux-gnu
mount --bind "$work/nsswitch.conf" /etc/nsswitch.conf
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$work/upper,workdir=$work/work" /var/lib
install -d -m 0755 /var/lib/roster
install -m 0644 "$work/snapshot" /var/lib/roster/snapshot
show() { printf "\n%s\$ %s%s\n" "$bold" "$*" "$plain"; "$@" || echo "(exit status $?)"; }
show grep -E "^(passwd|group):" /etc/nsswitch.conf
show getent passwd alice
show getent passwd 10002
show id alice
show getent group developers
show getent initgroups alice
show getent passwd carol
show getent passwd root
show sh -c "getent passwd | tail -n 4"
show getent passwd mallory
' demo "$work"
