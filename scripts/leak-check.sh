#!/bin/sh
# Runs a command (`make test`: the whole cargo test run) and fails if it left
# the machine's /etc, /var, /tmp, /home or /run different from how it found
# them. Every system-level test works in private namespaces or throwaway
# roots; this is the check that they really did.
#
#   scripts/leak-check.sh COMMAND [ARG...]
#
# Before and after COMMAND it lists every path under those folders with its
# type, mode and owner (and, under /etc, inode and modification time, so that
# a configuration file replaced by rename or rewritten in place shows too),
# and the machine's mount table, then prints the difference. Exit status:
# COMMAND's if it failed, else 1 if anything differs, else 0. The listings are
# kept in $LEAK_CHECK_DIR (default target/leak-check, under the checkout and
# so outside the checked folders).
#
# The machine must be otherwise quiet meanwhile: another user's work in these
# folders shows as a difference too.
set -u

out=${LEAK_CHECK_DIR:-target/leak-check}
mkdir -p "$out"

# Left out: only what provably is not the tests' doing, each with the reason
# (extended regular expressions, matched against the listing's lines).
cat >"$out/exclude" <<'PATTERNS'
^/tmp/bash_(jobs|tool)[._]
^/run/mount d 755 root:root$
PATTERNS
# ^/tmp/bash_(jobs|tool): the development sessions' shell tool keeps each
#   command's output there; it is not on a CI machine.
# ^/run/mount, the empty folder only: libmount's own (for its utab), which
#   mount(8) creates on the machine's /run at its first use even inside a
#   private namespace, when nothing has yet; systemd makes it at boot, a CI
#   runner booted without systemd does not. Anything put inside it still
#   shows.

list() {
    find /etc /var /tmp /home /run \
        \( -path '/etc/*' -printf '%p %y %m %u:%g %i %T@\n' \) -o \
        -printf '%p %y %m %u:%g\n' 2>/dev/null
    # Mounts the tests made and did not undo (their namespaces' mounts are
    # private: none should reach the machine's table).
    sed 's/^/mount: /' /proc/self/mounts
}

snapshot() {
    list | grep -v -E -f "$out/exclude" | LC_ALL=C sort >"$1"
}

snapshot "$out/before"
"$@"
status=$?
snapshot "$out/after"
diff -U0 "$out/before" "$out/after" | grep -v -E '^(@@|---|\+\+\+)' >"$out/diff"
if [ -s "$out/diff" ]; then
    echo "leak-check: \`$*\` left these changes on the machine (- before, + after):" >&2
    cat "$out/diff" >&2
    [ "$status" -ne 0 ] && exit "$status"
    exit 1
fi
echo "leak-check: /etc, /var, /tmp, /home and /run and the mount table are as they were before \`$*\`"
exit "$status"
