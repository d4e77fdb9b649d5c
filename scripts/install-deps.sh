#!/bin/sh
# Installs the Debian packages that building and testing roster need, if any
# is missing. Needs root. Used by `make` targets and by .ci/run.
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
# a real systemd); fuzz: g++ (libfuzzer-sys builds libFuzzer).
packages="libpam0g-dev gcc g++ libc6-dev make util-linux procps openssh-client openssh-server iproute2 sudo systemd debhelper lintian pamtester debootstrap systemd-container"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "roster: missing Debian packages:$missing (run as root to install them)" >&2
    exit 1
fi
echo "roster: installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -qq --no-install-recommends $missing
