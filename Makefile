# The two commands a newcomer needs (as root, on Debian 12 with a Rust
# toolchain from rustup): `make demo` and `make test`.
CARGO ?= cargo

.PHONY: deps build demo test lint bench

deps:
	scripts/install-deps.sh

build: deps
	$(CARGO) build --workspace

# The whole story on one machine (tests/demo.rs): a CA, a people file, a
# real sshd and sudo in a private namespace, logins, offboarding, the audit
# trail. Every step is printed and checked.
demo: build
	$(CARGO) test --test demo -- --nocapture

# Unit tests, then the integration tests that load the built modules into
# real glibc inside private mount namespaces (root required; they fail, never
# skip, when they cannot run).
test: build
	$(CARGO) test --workspace --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: deps
	bench/run.sh
