# ignite-netpol — build, test and run. Needs only the Rust toolchain (cargo, rustfmt, clippy).
CARGO ?= cargo
SEED  := examples/seed

.PHONY: all build test lint fmt run certs check eval bench clean

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

## run: the main job — the HTTPS admission webhook on the embedded seed cluster, with a
## development certificate for localhost it creates on first use (Ctrl-C to stop)
run: certs/tls.crt
	$(CARGO) run --release --locked --quiet -- serve \
	  --listen 127.0.0.1:8443 --admin-listen 127.0.0.1:8080 \
	  --tls-cert certs/tls.crt --tls-key certs/tls.key

## certs: a fresh development CA and serving certificate in certs/ (prints the caBundle)
certs:
	$(CARGO) run --release --locked --quiet -- certs --out certs --san localhost,127.0.0.1

certs/tls.crt:
	$(CARGO) run --release --locked --quiet -- certs --out certs --san localhost,127.0.0.1 >/dev/null

## check: the webhook's verdict on each policy of the seed case, applied in order (exit 1 means
## "would deny or patch", the expected outcome here)
check:
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
