# ignite-netpol — build, test and run. Needs only the Rust toolchain (cargo, rustfmt, clippy).
CARGO ?= cargo
SEED  := examples/seed

.PHONY: all build test lint fmt run bench clean

all: build

## build: release binary at target/release/ignite-netpol
build:
	$(CARGO) build --release --locked

## test: formatting, lints, then every test (the conformance test prints its counts)
test: lint
	$(CARGO) test --locked -- --show-output

## lint: rustfmt check and clippy with warnings as errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## run: the main job on the embedded seed case — Ignite's DNS and API-server connections under
## the policies of the motivating case
run:
	$(CARGO) run --release --locked --quiet -- eval \
	  --cluster $(SEED)/cluster.yaml \
	  --cluster $(SEED)/deny-all-traffic.yaml \
	  --cluster $(SEED)/egress-attempt.yaml \
	  --queries $(SEED)/queries.jsonl

## bench: engine micro-benchmarks (figures go in README.md)
bench:
	$(CARGO) bench --locked --bench engine

clean:
	$(CARGO) clean
