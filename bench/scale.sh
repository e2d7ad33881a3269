#!/usr/bin/env bash
# The live view at scale (by hand; the figures go in README.md, "The live view at scale"):
# bench/scale_live.rs fills the project's fake API server and measures the release binary's
# `serve --cluster live --reconcile report` against it, once per size.
#
#   bench/scale.sh                 10,000 pods / 3,000 policies, then 150,000 / 30,000
#   SIZES="20000:4000" bench/scale.sh
#
# Environment: SIZES ["10000:3000 150000:30000"], CHURN seconds per churn phase [30].
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10000:3000 150000:30000"}
CHURN=${CHURN:-30}
cargo build --release --locked --bin ignite-netpol --example scale_live >&2
for size in $SIZES; do
  echo "## ${size%%:*} pods, ${size##*:} NetworkPolicies"
  ./target/release/examples/scale_live ./target/release/ignite-netpol "${size%%:*}" "${size##*:}" "$CHURN"
done
