#!/usr/bin/env bash
# Load benchmark of the webhook against a ceiling, side by side in one run (by hand; the
# figures go in README.md, "The webhook under load").
#
#   ignite-netpol serve   the full decision on the seed cluster plus bench/mix.rs's 20 Ignite
#                         namespaces, the audit log to a file
#   ceiling               bench/ceiling.rs: serve's TLS and HTTP stack, a typed parse, allowed
#   yardstick             with YARDSTICK=DIR, also DIR/ceiling/target/release/webhook-ceiling
#                         (a built copy of ../shared/bench), to check the ceiling against it
#
# Each round runs every load against every server in turn, so a noisy machine's drift hits them
# alike:
#   h1      wrk, HTTP/1.1 keep-alive, CONNS connections, the ~3 KB CREATE (bench/review-3k.json)
#   h1-mix  wrk, the same, posting bench/mix.rs's COUNT distinct reviews in rotation
#   h2      h2load, HTTP/2, CONNS connections x STREAMS streams, the ~3 KB CREATE
# and, when LOADS names them, h1-allowed and h1-denied: h1-mix's admitted and denied reviews
# apart (bench/mix.rs splits them),
# and prints one line per run (req/s, p50/p99/p99.9 in ms, server CPU µs per request). At the
# end: the median of each column per load and server, and the webhook's ratio to the ceiling
# per load (to the yardstick too, and the ceiling's own ratio to it, with YARDSTICK).
#
# Environment: ROUNDS [3], DURATION seconds [10], CONNS [16], STREAMS [10], COUNT [1000],
# LOADS ["h1 h1-mix h2"],
# YARDSTICK [unset], KEEP [unset: keep the temporary directory with raw output].
# serve reads its own IGNITE_NETPOL_* variables: IGNITE_NETPOL_PIN_THREADS=on pins its connection
# threads, one per core (the README's figures say which).
# Needs wrk and h2load (Debian: apt-get install wrk nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
STREAMS=${STREAMS:-10}
COUNT=${COUNT:-1000}
LOADS=${LOADS:-h1 h1-mix h2}
for tool in wrk h2load curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install wrk nghttp2-client curl" >&2; exit 2; }
done
cargo build --release --locked --bin ignite-netpol --example ceiling >&2
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [[ -n ${KEEP:-} ]] && echo "raw output: $tmp" >&2 || rm -rf "$tmp"' EXIT
cargo run --locked --quiet --example mix -- "$tmp/mix" "$COUNT" >&2
./target/release/ignite-netpol certs --out "$tmp" --san localhost,127.0.0.1 >/dev/null 2>&1

declare -A port pid
# --audit-keep 1000: at these rates the log rotates; every file is kept so that its lines can be
# counted against the written counter at the end.
./target/release/ignite-netpol serve --cluster examples/seed/cluster.yaml --cluster "$tmp/mix/cluster.json" \
  --listen 127.0.0.1:9443 --admin-listen 127.0.0.1:9080 \
  --tls-cert "$tmp/tls.crt" --tls-key "$tmp/tls.key" --audit-log "$tmp/audit.log" --audit-keep 1000 --log warn &
pid[webhook]=$!; port[webhook]=9443
./target/release/examples/ceiling 127.0.0.1:9444 "$tmp/tls.crt" "$tmp/tls.key" 2>/dev/null &
pid[ceiling]=$!; port[ceiling]=9444
servers=(ceiling webhook)
if [[ -n ${YARDSTICK:-} ]]; then
  "$YARDSTICK/ceiling/target/release/webhook-ceiling" 9445 2>/dev/null &
  pid[yardstick]=$!; port[yardstick]=9445
  servers=(yardstick ceiling webhook)
fi
for s in "${servers[@]}"; do
  for _ in $(seq 100); do
    curl -sk -o /dev/null -H 'Content-Type: application/json' --data-binary @bench/review-3k.json \
      "https://127.0.0.1:${port[$s]}/validate" && break
    sleep 0.1
  done
done

hz=$(getconf CLK_TCK)
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
cpu_us() { awk -v t="$1" -v n="$2" -v hz="$hz" 'BEGIN {printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0)}'; }

run_wrk() { # server script [env]
  local s=$1 before after out
  before=$(ticks "${pid[$s]}")
  out=$(env "${@:3}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$2" "https://127.0.0.1:${port[$s]}/validate" | grep '^STATS')
  after=$(ticks "${pid[$s]}")
  local reqs; reqs=$(grep -o 'reqs=[0-9]*' <<<"$out" | cut -d= -f2)
  echo "${out#STATS } cpu=$(cpu_us $((after - before)) "$reqs")"
}

run_h2() { # server
  local s=$1 before after raw=$tmp/h2load.txt log=$tmp/h2load.log
  rm -f "$log"
  before=$(ticks "${pid[$s]}")
  h2load -c"$CONNS" -m"$STREAMS" -D "$DURATION" -d bench/review-3k.json -H 'Content-Type: application/json' \
    --log-file="$log" "https://127.0.0.1:${port[$s]}/validate" >"$raw" 2>&1 || true
  after=$(ticks "${pid[$s]}")
  local rps ok failed
  rps=$(awk '/^finished in/ {gsub(",", "", $4); print int($4 + 0.5)}' "$raw")
  ok=$(awk '/^status codes:/ {print $3}' "$raw")
  failed=$(awk '/^requests:/ {print $10}' "$raw")
  local pct
  pct=$(awk -F'\t' '$2 ~ /^2/ {print $3}' "$log" | sort -n | awk '{v[NR] = $1} END {
    split("50 99 99.9", q, " "); for (i = 1; i <= 3; i++) { r = int(q[i] / 100 * NR + 0.999999); if (r < 1) r = 1
    printf "p%s=%.3f ", q[i], v[r] / 1000 } printf "max=%.3f", v[NR] / 1000 }')
  echo "rps=$rps $pct reqs=$ok non2xx=0 errors=$failed cpu=$(cpu_us $((after - before)) "$ok")"
}

lines=$tmp/lines
: >"$lines"
echo "| round | load | server | req/s | p50 ms | p99 ms | p99.9 ms | CPU µs/req | errors |"
echo "|---|---|---|---|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
  for load in $LOADS; do
    for s in "${servers[@]}"; do
      case $load in
        h1) line=$(run_wrk "$s" bench/post.lua) ;;
        h1-mix) line=$(run_wrk "$s" bench/rotate.lua "REVIEWS=$tmp/mix/reviews.jsonl") ;;
        h1-allowed) line=$(run_wrk "$s" bench/rotate.lua "REVIEWS=$tmp/mix/allowed.jsonl") ;;
        h1-denied) line=$(run_wrk "$s" bench/rotate.lua "REVIEWS=$tmp/mix/denied.jsonl") ;;
        h2) line=$(run_h2 "$s") ;;
        *) echo "unknown load $load (LOADS: h1 h1-mix h1-allowed h1-denied h2)" >&2; exit 2 ;;
      esac
      echo "$load $s $line" >>"$lines"
      awk -v r="$round" '{for (i = 3; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r, $1, $2, v["rps"], v["p50"], v["p99"], v["p99.9"], v["cpu"], v["non2xx"] + v["errors"]}' <<<"$load $s $line"
    done
  done
done

echo
echo "Medians over $ROUNDS rounds:"
echo
echo "| load | server | req/s | p50 ms | p99 ms | p99.9 ms | CPU µs/req | ratio to ceiling |"
echo "|---|---|---|---|---|---|---|---|"
awk -v yard="${YARDSTICK:+1}" '
  function median(key, k,   n, a, b, t, s) {
    n = cnt[key, k]; for (a = 1; a <= n; a++) s[a] = val[key, k, a]
    for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++) if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
    return (n % 2) ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
  }
  { key = $1 " " $2; if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
    for (i = 3; i <= NF; i++) { split($i, kv, "="); val[key, kv[1], ++cnt[key, kv[1]]] = kv[2] + 0 } }
  END {
    for (j = 1; j <= nk; j++) { split(order[j], p, " "); rps[order[j]] = median(order[j], "rps") }
    for (j = 1; j <= nk; j++) {
      key = order[j]; split(key, p, " ")
      ratio = p[2] == "ceiling" ? "1" : sprintf("%.2f", rps[key] / rps[p[1] " ceiling"])
      if (p[2] == "yardstick") ratio = "—"
      printf "| %s | %s | %d | %.3f | %.3f | %.3f | %.1f | %s |\n", p[1], p[2], rps[key],
        median(key, "p50"), median(key, "p99"), median(key, "p99.9"), median(key, "cpu"), ratio
    }
    print ""
    for (j = 1; j <= nk; j++) { split(order[j], p, " "); if (p[2] != "webhook") continue
      printf "%s: webhook / ceiling = %.2f", p[1], rps[order[j]] / rps[p[1] " ceiling"]
      if (yard) printf "; webhook / yardstick = %.2f; ceiling / yardstick = %.2f", rps[order[j]] / rps[p[1] " yardstick"], rps[p[1] " ceiling"] / rps[p[1] " yardstick"]
      printf "\n" }
    for (j = 1; j <= nk; j++) { split(order[j], p, " ")
      if (p[1] ~ /^h1-/ && p[2] == "webhook" && rps["h1 webhook"] > 0)
        printf "%s / h1 (webhook) = %.2f by req/s, %.2f by ratio to the ceiling\n", p[1], rps[order[j]] / rps["h1 webhook"],
          (rps[order[j]] / rps[p[1] " ceiling"]) / (rps["h1 webhook"] / rps["h1 ceiling"]) }
  }' "$lines"
echo
# The writer counts a record once its batch is on disk: wait (at most 5 s) until every answered
# review is counted written, dropped or lost, so the counters and the files are compared at rest.
for _ in $(seq 50); do
  metrics=$(curl -s localhost:9080/metrics)
  awk '/^ignite_netpol_reviews_total/ {r += $2} /^ignite_netpol_audit_records_(written|dropped|lost)_total/ {a += $2}
    END {exit !(r > 0 && r == a)}' <<<"$metrics" && break
  sleep 0.1
done
echo "audit records: written $(awk '/^ignite_netpol_audit_records_written_total/ {print $2}' <<<"$metrics"), dropped $(awk '/^ignite_netpol_audit_records_dropped_total/ {print $2}' <<<"$metrics"), lost $(awk '/^ignite_netpol_audit_records_lost_total/ {print $2}' <<<"$metrics"); lines in the files: $(cat "$tmp"/audit.log* | wc -l)"
echo "verdicts: $(awk '/^ignite_netpol_reviews_total/ {match($0, /verdict="[a-z]*"/); v = substr($0, RSTART + 9, RLENGTH - 10); n[v] += $2} END {for (k in n) printf "%s %d  ", k, n[k]}' <<<"$metrics")"
