# ignite-netpol — build, test and run. Needs only the Rust toolchain (cargo, rustfmt, clippy).
CARGO ?= cargo
SEED  := examples/seed

.PHONY: all build test lint fmt run eval bench clean

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

## run: the main job on the embedded seed case — the webhook's verdict on each policy of the
## motivating case, applied in order (check exits 1 when it would deny or patch; that is the
## expected outcome here, not a failure of `make run`)
run:
	$(CARGO) run --release --locked --quiet -- check \
	  --cluster $(SEED)/cluster.yaml \
	  $(SEED)/ingress-only.yaml \
	  $(SEED)/deny-all-traffic.yaml \
	  $(SEED)/egress-attempt.yaml \
	  $(SEED)/dns-same-namespace.yaml; \
	  status=$$?; [ $$status -le 1 ]

## eval: connectivity answers for the seed case's queries
eval:
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
