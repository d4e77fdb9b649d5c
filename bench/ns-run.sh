#!/bin/bash
# Runs ONE module's measurements inside a private mount namespace; run.sh
# starts it as
#   unshare --mount --propagation private -- bash bench/ns-run.sh MODULE DATA WORK OUT
# Every mount below lives and dies with this namespace: the machine's own /etc,
# /usr/lib and /var/lib are never written.
#
#   MODULE  files | cache | roster | floor
#   DATA    one size's data set (gen.py output, plus etc/ and varlib/ from run.sh)
#   WORK    run.sh's work folder (driver, mods/, nsswitch.*.conf)
#   OUT     where the driver's TSV goes
set -euo pipefail

module=$1 data=$2 work=$3 out=$4

# Refuse to touch mounts unless we really are in a namespace of our own.
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
    echo "ns-run.sh: not in a private mount namespace; refusing to mount" >&2
    exit 1
fi

# shellcheck source=/dev/null
. "$data/params.env"

# glibc dlopen()s libnss_MODULE.so.2 from the system library folder: lay a
# folder holding the modules (floor, cache, roster) over it.
libdir=/usr/lib/$(gcc -print-multiarch)
mount -t overlay overlay -o "lowerdir=$work/mods:$libdir" "$libdir"

case $module in
    files)
        # The N generated accounts replace the machine's own passwd/group.
        mount --bind "$data/passwd" /etc/passwd
        mount --bind "$data/group" /etc/group
        ;;
    cache)
        # libnss-cache reads fixed paths /etc/{passwd,group}.cache[.ix*],
        # which do not exist on the host and cannot be bind targets: use a
        # plain copy of /etc that also holds them (no overlayfs on the path
        # the module reads, so it is not charged for overlay lookups).
        mount --bind "$data/etc" /etc
        ;;
    roster)
        # The module reads the fixed path /var/lib/roster/snapshot.
        mount --bind "$data/varlib" /var/lib
        ;;
    floor) ;;
    *)
        echo "ns-run.sh: unknown module $module" >&2
        exit 2
        ;;
esac
# Only the module under test on the passwd/group lines, so glibc consults
# nothing else and the cost measured is that module's.
mount --bind "$work/nsswitch.$module.conf" /etc/nsswitch.conf

gl_expect=$PROBE_NGROUPS
if [ "$module" = floor ]; then
    gl_expect=1 # initgroups_dyn answers NOTFOUND: the primary gid only
    export FLOOR_USER=$HIT_USER FLOOR_UID=$HIT_UID
    export FLOOR_NUSERS=$N_USERS FLOOR_NGROUPS=$N_GROUPS
    # shellcheck disable=SC2153 # HIT_* come from params.env
    FLOOR_GROUPS=$HIT_GROUP:$HIT_GID
    if [ -n "$BIG_GROUP" ]; then FLOOR_GROUPS+=",$BIG_GROUP:$BIG_GID"; fi
    export FLOOR_GROUPS
fi

args=(
    user="$HIT_USER" uid="$HIT_UID" group="$HIT_GROUP" gid="$HIT_GID"
    big_group="$BIG_GROUP" primary_gid="$HIT_GID_PRIMARY"
    miss_user="$MISS_USER" miss_uid="$MISS_UID"
    miss_group="$MISS_GROUP" miss_gid="$MISS_GID"
    gl_expect="$gl_expect" n_users="$N_USERS" n_groups="$N_GROUPS"
    min_s="${BENCH_MIN_S:-0.2}" rounds="${BENCH_ROUNDS:-1}"
)
"$work/driver" "${args[@]}" >"$out"
# Cost of the first lookup in a fresh process (glibc loads the module, the
# module opens its data), sampled over several short-lived processes.
for _ in 1 2 3 4 5 6 7 8 9 10 11; do
    "$work/driver" "${args[@]}" first=1 >>"$out"
done
