#!/usr/bin/env bash
# Load benchmark of the webhook (run by hand; figures go in README.md).
#
# ignite-netpol serve (full decision on the seed cluster, audit log to a file) against
# bench/baseline.rs (same stack, answers allowed: true), alternating, ROUNDS times each:
#   - wrk, HTTP/1.1 keep-alive, 16 connections (throughput, p50/p99 latency)
#   - h2load, HTTP/2, 16 connections (throughput, mean latency)
# CPU per request is read from /proc/PID/stat (utime + stime) around each run.
# Needs: wrk (Debian package wrk), h2load (Debian package nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-16}
for tool in wrk h2load; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install wrk nghttp2-client" >&2; exit 2; }
done
cargo build --release --locked --bin ignite-netpol --example baseline >&2
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
./target/release/ignite-netpol certs --out "$tmp" --san localhost,127.0.0.1 >/dev/null 2>&1
./target/release/ignite-netpol serve --cluster examples/seed/cluster.yaml \
  --listen 127.0.0.1:9443 --admin-listen 127.0.0.1:9080 \
  --tls-cert "$tmp/tls.crt" --tls-key "$tmp/tls.key" --audit-log "$tmp/audit.log" --log warn &
webhook=$!
./target/release/examples/baseline 127.0.0.1:9444 "$tmp/tls.crt" "$tmp/tls.key" 2>/dev/null &
baseline=$!
for port in 9443 9444; do
  for _ in $(seq 100); do
    curl -sk -o /dev/null -H 'Content-Type: application/json' --data-binary @bench/review-3k.json "https://127.0.0.1:$port/validate" && break
    sleep 0.1
  done
done
hz=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_wrk() { # name pid port
  local before after out rps p50 p99 reqs
  before=$(cpu "$2")
  out=$(REVIEW=bench/review-3k.json wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s bench/post.lua "https://127.0.0.1:$3/validate")
  after=$(cpu "$2")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)
  echo "| $1 | HTTP/1.1 (wrk) | $rps | $p50 | $p99 | $(awk -v c=$((after - before)) -v n="$reqs" -v hz="$hz" 'BEGIN {printf "%.1f", c / hz * 1e6 / n}') | ${errors:-none} |"
}

run_h2() { # name pid port
  local before after out rps mean reqs
  before=$(cpu "$2")
  out=$(h2load -c"$CONNS" -m1 -D "$DURATION" -d bench/review-3k.json -H 'Content-Type: application/json' "https://127.0.0.1:$3/validate")
  after=$(cpu "$2")
  rps=$(awk '/^finished in/ {print $4}' <<<"$out")
  reqs=$(awk '/^requests:/ {print $8}' <<<"$out")
  mean=$(awk '/^time for request:/ {print $6}' <<<"$out")
  failed=$(awk '/^requests:/ {print $10}' <<<"$out")
  echo "| $1 | HTTP/2 (h2load) | $rps | mean $mean | | $(awk -v c=$((after - before)) -v n="$reqs" -v hz="$hz" 'BEGIN {printf "%.1f", c / hz * 1e6 / n}') | failed $failed |"
}

echo "| server | protocol | req/s | p50 | p99 | CPU µs/req | errors |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
  run_wrk baseline "$baseline" 9444
  run_wrk ignite-netpol "$webhook" 9443
  run_h2 baseline "$baseline" 9444
  run_h2 ignite-netpol "$webhook" 9443
done
echo
echo "audit records written (all files): $(cat "$tmp"/audit.log* | wc -l); dropped: $(curl -s localhost:9080/metrics | awk '/^ignite_netpol_audit_records_dropped_total/ {print $2}')"
