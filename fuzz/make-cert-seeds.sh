#!/bin/sh
# Regenerates the certificate seeds with ssh-keygen: a new test CA
# (fuzz_targets/ca.pub), the cert_rules seeds (binary certificate blobs) and
# the auth_info seeds (SSH_AUTH_INFO_0 text). Only public material is kept:
# the CA and user private keys are made in a temporary directory and thrown
# away. Afterwards, `cargo test --manifest-path fuzz/Cargo.toml` checks that
# exactly the valid-* seeds verify under cert_rules' rules.
#
# Every certificate names principal alice and is valid for one hour,
# 2026-11-25T10:00:00Z to 11:00:00Z (cert_rules::NOW is 10:30), unless its
# name says otherwise.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
window=20261125100000Z:20261125110000Z

ssh-keygen -q -t ed25519 -N '' -C roster-fuzz-ca -f "$tmp/ca"
ssh-keygen -q -t ed25519 -N '' -C alice -f "$tmp/alice"
ssh-keygen -q -t ecdsa -b 256 -N '' -C alice-ecdsa -f "$tmp/alice-ecdsa"

# sign NAME USER_KEY ssh-keygen-options...: $tmp/NAME-cert.pub
sign() {
    name=$1 key=$2
    shift 2
    cp "$tmp/$key.pub" "$tmp/$name.pub"
    ssh-keygen -q -s "$tmp/ca" "$@" "$tmp/$name.pub"
}
sign plain alice -I alice@fuzz-plain -n alice -V "$window" -z 1
sign source alice -I alice@fuzz-source -n alice -V "$window" -z 2 \
    -O source-address=10.0.0.0/8,192.0.2.7/32
sign hosts alice -I alice@fuzz-hosts -n alice -V "$window" -z 3 \
    -O extension:hosts@roster=web-01
sign ecdsa alice-ecdsa -I alice@fuzz-ecdsa -n alice -V "$window" -z 4 \
    -O force-command=/bin/true
# Refused, each by one rule (see src/tests.rs).
sign x-host alice -h -I web-01 -n web-01 -V "$window" -z 5
sign x-future alice -I alice@fuzz-future -n alice -V 20261125120000Z:20261125130000Z -z 6
sign x-otherhost alice -I alice@fuzz-otherhost -n alice -V "$window" -z 7 \
    -O extension:hosts@roster=db-07,dc2
sign x-critical alice -I alice@fuzz-critical -n 'alice,al*' -V "$window" -z 8 \
    -O critical:no-touch-required-x=1

cp "$tmp/ca.pub" fuzz_targets/ca.pub
blob() { awk '{print $2}' "$tmp/$1-cert.pub" | base64 -d; }
rm -f seeds/cert_rules/*
for c in plain source hosts ecdsa; do blob "$c" >"seeds/cert_rules/valid-$c.bin"; done
for c in host future otherhost critical; do blob "x-$c" >"seeds/cert_rules/invalid-$c.bin"; done

# SSH_AUTH_INFO_0 as sshd sets it: one line per method that succeeded.
cert() { awk '{print $1" "$2}' "$tmp/$1-cert.pub"; }
key() { awk '{print $1" "$2}' "$tmp/$1.pub"; }
a=seeds/auth_info
rm -f "$a"/*
printf 'publickey %s\n' "$(cert plain)" >"$a/cert-ed25519.txt"
printf 'publickey %s\n' "$(cert ecdsa)" >"$a/cert-ecdsa.txt"
printf 'publickey %s\n' "$(key alice)" >"$a/plain-key.txt"
printf 'publickey %s\npublickey %s\n' "$(cert plain)" "$(cert hosts)" >"$a/two-certs.txt"
printf 'publickey %s\npublickey %s\n' "$(key alice-ecdsa)" "$(cert source)" >"$a/key-then-cert.txt"
printf 'password\nkeyboard-interactive\npublickey %s' "$(cert hosts)" >"$a/methods-no-newline.txt"
echo "new CA: $(cat fuzz_targets/ca.pub)"
