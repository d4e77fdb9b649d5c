# The two commands a newcomer needs (as root, on Debian 12 with a Rust
# toolchain from rustup): `make demo` and `make test`.
CARGO ?= cargo

.PHONY: deps build deb demo test sanitize fuzz lint bench

deps:
	scripts/install-deps.sh

build: deps
	$(CARGO) build --workspace

# The whole story on one machine (`roster demo`, src/tools/demo.rs): a CA, a people
# file, a snapshot served on loopback, a real sshd and sudo in private
# namespaces, logins, offboarding, the audit trail. Every step is printed and
# checked; nothing on the machine changes.
demo: build
	target/debug/roster demo

# The four Debian packages (roster, libnss-roster, libpam-roster, roster-scim) in
# target/debian/, built with dpkg-buildpackage and checked with lintian.
DEB_VERSION = $(shell dpkg-parsechangelog -S Version)
DEB_ARCH = $(shell dpkg --print-architecture)
DEB_OUT = $(foreach p,roster libnss-roster libpam-roster roster-scim,../$(p)_$(DEB_VERSION)_$(DEB_ARCH).deb ../$(p)-dbgsym_$(DEB_VERSION)_$(DEB_ARCH).deb) \
	../roster_$(DEB_VERSION)_$(DEB_ARCH).buildinfo ../roster_$(DEB_VERSION)_$(DEB_ARCH).changes
deb: deps
	dpkg-buildpackage -us -uc -b
	rm -rf target/debian && mkdir -p target/debian
	mv $(DEB_OUT) target/debian/
	# lintian leaves its mldbm-* scratch files in TMPDIR: keep them out of /tmp.
	mkdir -p target/debian/tmp
	TMPDIR=$(CURDIR)/target/debian/tmp lintian --fail-on error --info target/debian/roster_$(DEB_VERSION)_$(DEB_ARCH).changes

# Unit tests, then the integration tests that load the built modules into
# real glibc inside private mount namespaces (root required; they fail, never
# skip, when they cannot run).
# tests/install.rs installs the packages from `make deb` into a throwaway root.
# --no-fail-fast: every test binary runs even when one fails, so one failure
# never hides another. scripts/leak-check.sh wraps the whole run: it fails if
# the tests left /etc, /var, /tmp, /home, /run or the mount table changed
# (`deb` writes only under the checkout and its parent, and runs before it).
test: build deb
	scripts/leak-check.sh $(CARGO) test --workspace --all-targets --no-fail-fast

# The NSS module under AddressSanitizer (+ LeakSanitizer) and ThreadSanitizer:
# the concurrency, fork, buffer-sweep and fault tests (scripts/sanitize.sh).
sanitize: build
	scripts/sanitize.sh

# Every fuzz target for 30 s from the committed seeds (fuzz/run.sh; longer:
# fuzz/run.sh SECONDS), and the seeds replayed without libFuzzer.
fuzz: deps
	$(CARGO) test --manifest-path fuzz/Cargo.toml
	fuzz/run.sh 30

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings

bench: deps
	bench/run.sh
