#!/bin/sh
# Installs the Debian packages that building and testing roster need, if any
# is missing, and the pinned scim2-tester venv in /opt/roster-scim-tester.
# Needs root. Used by `make` targets and by .ci/run.
set -eu
# build: libpam0g-dev (the PAM crate links -lpam), gcc/libc6-dev (linking, the
# C test programs); tests: util-linux (unshare, mount), procps, openssh-client
# (ssh-keygen: the sync tests' signing keys and SSHSIG interoperability; ssh:
# the login tests' client), openssh-server (the real sshd the login tests log
# in to), iproute2 (`ip`: loopback up in their network namespace), sudo (sudo and
# visudo: the role tests' sudo through roster's PAM account check and sudoers files),
# systemd (systemd-analyze verify: the shipped agent unit; the machine's systemd is
# not started);
# packages: debhelper (dpkg-buildpackage), lintian, pamtester (the installed PAM
# stack in tests/install.rs); debootstrap and systemd-container (tests/systemd.rs:
# a Debian 12 root booted with systemd-nspawn runs the shipped agent unit under
# a real systemd); fuzz: g++ (libfuzzer-sys builds libFuzzer); scim: python3
# and python3-venv (Debian's python3 has no ensurepip without it, so
# `python3 -m venv` fails) for the scim2-tester venv below; metrics:
# prometheus-node-exporter (tests/system/metrics.rs runs its binary on
# loopback, as a child; the package's own service is never used).
packages="libpam0g-dev gcc g++ libc6-dev make util-linux procps openssh-client openssh-server iproute2 sudo systemd debhelper lintian pamtester debootstrap systemd-container python3 python3-venv prometheus-node-exporter"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "roster: missing Debian packages:$missing (run as root to install them)" >&2
        exit 1
    fi
    echo "roster: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    apt-get install -y -qq --no-install-recommends $missing
fi

# scim2-tester (scripts/scim-conformance.py) in its own venv, every package at
# the version scripts/scim-tester-requirements.txt names, installed with
# --no-deps so pip resolves nothing of its own. The venv lives in /opt, not in
# the checkout: a venv's scripts hold its absolute path, so one inside a
# checkout breaks when the checkout moves, CI clones afresh into a new folder
# each run, and a tree-wide grep or `git clean -dfx` should not meet 47 MB of
# Python. One venv serves every checkout and worktree. It is built with
# Debian's /usr/bin/python3 (3.11 on Debian 12), not whatever python3 comes
# first on PATH. The copy of the requirements kept in the venv says what it
# holds: the same file means nothing to do.
venv=/opt/roster-scim-tester
reqs="$(dirname "$0")/scim-tester-requirements.txt"
if ! cmp -s "$reqs" "$venv/roster-requirements.txt" 2>/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "roster: $venv is missing or out of date (run as root to install it)" >&2
        exit 1
    fi
    echo "roster: installing scim2-tester into $venv"
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --only-binary=:all: -r "$reqs"
    "$venv/bin/pip" check --disable-pip-version-check >/dev/null
    cp "$reqs" "$venv/roster-requirements.txt"
fi
