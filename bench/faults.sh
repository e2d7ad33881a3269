#!/usr/bin/env bash
# Load and faults (run by hand, as root on Linux: it mounts a small tmpfs; figures go in the
# README's "Reliability" table).
#
#   bench/faults.sh soak      MINUTES (10) of load at the benchmark rate while
#                             - the serving certificate is reissued every ROTATE_EVERY (60) seconds
#                               from the same CA, written the way the kubelet updates a Secret
#                               volume (new directory, atomic `..data` symlink swap);
#                             - the audit log lives on a tmpfs of AUDIT_DISK_MB (768) MiB that
#                               fills up; once full, it stays full for FULL_FOR (30) seconds, then
#                               the oldest half of the rotated files is "shipped" (counted, deleted)
#                               as a log shipper would.
#                             Load: wrk, HTTP/1.1, 16 keep-alive connections (as bench/webhook.sh)
#                             plus a probe that opens a new connection every second, verifies the
#                             served certificate against the CA and checks each new certificate is
#                             picked up; HANDSHAKE_CONNS (0) more connections that reconnect for
#                             every request add a TLS handshake per review (at a lower review rate:
#                             handshakes cost more CPU than reviews on these 2 cores).
#   bench/faults.sh sigterm   ROUNDS (3) times each: SIGTERM in the middle of a 20 s load, HTTP/1.1
#                             (wrk) and HTTP/2 (h2load).
#
# Every check prints PASS or FAIL; the exit code is the number of FAILs.
# Needs: wrk, h2load, openssl, curl (apt-get install wrk nghttp2-client openssl curl).
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-10}
ROTATE_EVERY=${ROTATE_EVERY:-60}
AUDIT_DISK_MB=${AUDIT_DISK_MB:-768}
FULL_FOR=${FULL_FOR:-30}
AUDIT_FILE_MB=${AUDIT_FILE_MB:-64}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-16}
HANDSHAKE_CONNS=${HANDSHAKE_CONNS:-0}
PORT=9443
ADMIN=9080
mode=${1:-}
case "$mode" in soak | sigterm) ;; *)
  echo "usage: $0 soak|sigterm" >&2
  exit 2
  ;;
esac
for tool in wrk h2load openssl curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install wrk nghttp2-client openssl curl" >&2; exit 2; }
done
cargo build --release --locked --bin ignite-netpol >&2
bin=./target/release/ignite-netpol
tmp=$(mktemp -d)
server=
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  mountpoint -q "$tmp/audit" 2>/dev/null && umount "$tmp/audit"
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
check() { # description, then a test command
  local what=$1
  shift
  if "$@"; then echo "PASS  $what"; else echo "FAIL  $what"; fails=$((fails + 1)); fi
}
metric() { # sum of every series of one metric
  curl -s "localhost:$ADMIN/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%d", s}'
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
wait_ready() {
  for _ in $(seq 200); do
    curl -sf "localhost:$ADMIN/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not become ready" >&2
  exit 2
}
start_server() { # audit log path, extra args...
  local audit=$1
  shift
  $bin serve --cluster examples/seed/cluster.yaml --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN" \
    --tls-cert "$tmp/certs/tls.crt" --tls-key "$tmp/certs/tls.key" --audit-log "$audit" --log warn "$@" \
    2>>"$tmp/server.log" &
  server=$!
  wait_ready
}

# Certificates in a kubelet-style Secret volume: tls.crt -> ..data/tls.crt, ..data -> ..rev-N.
mkdir -p "$tmp/certs" "$tmp/ca"
$bin certs --out "$tmp/ca" --san localhost,127.0.0.1 >/dev/null 2>&1
rev=0
issue() { # writes a new serving certificate from the same CA and swaps it in atomically
  rev=$((rev + 1))
  local dir="$tmp/certs/..rev-$rev"
  mkdir "$dir"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=ignite-netpol" \
    -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
  openssl x509 -req -in "$dir/tls.csr" -CA "$tmp/ca/ca.crt" -CAkey "$tmp/ca/ca.key" -days 1 \
    -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') \
    -out "$dir/tls.crt" 2>/dev/null
  rm "$dir/tls.csr"
  ln -s "..rev-$rev" "$tmp/certs/..data.new"
  mv -T "$tmp/certs/..data.new" "$tmp/certs/..data"
  if [ "$rev" -gt 1 ]; then rm -rf "$tmp/certs/..rev-$((rev - 1))"; fi
  issued_serial=$(openssl x509 -in "$dir/tls.crt" -noout -serial | cut -d= -f2)
}
issued_serial=
issue
ln -s ..data/tls.crt "$tmp/certs/tls.crt"
ln -s ..data/tls.key "$tmp/certs/tls.key"
served_serial() {
  openssl s_client -connect "127.0.0.1:$PORT" -servername localhost </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
probe() { # a review over a connection that verifies the served certificate
  curl -sf -o /dev/null --cacert "$tmp/ca/ca.crt" -H 'Content-Type: application/json' \
    --data-binary @bench/review-3k.json "https://localhost:$PORT/validate"
}
wrk_field() { # wrk output file, field: requests|non2xx|connect|read|write|timeout
  awk -v f="$2" '
    /requests in/ {requests = $1}
    /Non-2xx/ {non2xx = $NF}
    /Socket errors/ {gsub(",", ""); connect = $4; read = $6; write = $8; timeout = $10}
    END {v["requests"] = requests; v["non2xx"] = non2xx; v["connect"] = connect; v["read"] = read;
         v["write"] = write; v["timeout"] = timeout; printf "%d", v[f]}' "$1"
}

soak() {
  local seconds=$((MINUTES * 60))
  mkdir -p "$tmp/audit"
  mount -t tmpfs -o "size=${AUDIT_DISK_MB}m" tmpfs "$tmp/audit" ||
    { echo "cannot mount a tmpfs for the audit disk (run as root)" >&2; exit 2; }
  start_server "$tmp/audit/audit.log" --audit-max-bytes $((AUDIT_FILE_MB * 1024 * 1024)) --audit-keep 10000
  echo "soak: $MINUTES min, certificate every ${ROTATE_EVERY}s, audit disk ${AUDIT_DISK_MB} MiB" >&2
  REVIEW=bench/review-3k.json wrk -t1 -c"$CONNS" -d"${seconds}s" -s bench/post.lua \
    "https://127.0.0.1:$PORT/validate" >"$tmp/keepalive.out" 2>&1 &
  local keepalive=$!
  local handshakes= clients=keepalive
  if [ "$HANDSHAKE_CONNS" -gt 0 ]; then
    REVIEW=bench/review-3k.json wrk -t1 -c"$HANDSHAKE_CONNS" -d"${seconds}s" -s bench/post.lua -H 'Connection: close' \
      "https://127.0.0.1:$PORT/validate" >"$tmp/handshakes.out" 2>&1 &
    handshakes=$!
    clients="keepalive handshakes"
  fi

  local start=$SECONDS next_rotation=$((SECONDS + ROTATE_EVERY)) full_since=-1
  local probes=0 probe_failures=0 rotations=0 pickup_max=0 shipped_lines=0 shipped_files=0
  local last_lost=0 lost_with_room=0 fills=0 waiting_for=
  local rotated_at=0 next_sample=0
  echo "t,rss_kb,avail_bytes,written,lost,dropped" >"$tmp/samples.csv"
  while kill -0 "$keepalive" 2>/dev/null; do
    sleep 1
    local now=$((SECONDS - start))
    # The probe: a verified review, and the served certificate once a new one is waiting.
    probes=$((probes + 1))
    probe || probe_failures=$((probe_failures + 1))
    if [ -n "$waiting_for" ] && [ "$(served_serial)" = "$waiting_for" ]; then
      local pickup=$((SECONDS - rotated_at))
      [ "$pickup" -gt "$pickup_max" ] && pickup_max=$pickup
      waiting_for=
    fi
    if [ "$SECONDS" -ge "$next_rotation" ] && [ "$now" -lt $((seconds - 5)) ]; then
      [ -n "$waiting_for" ] && echo "certificate $waiting_for was never served" >&2 && probe_failures=$((probe_failures + 1))
      issue
      waiting_for=$issued_serial
      rotated_at=$SECONDS
      rotations=$((rotations + 1))
      next_rotation=$((next_rotation + ROTATE_EVERY))
    fi
    # The audit disk: lost records must only appear while it is full.
    local avail lost
    avail=$(df -B1 --output=avail "$tmp/audit" | tail -1 | tr -d ' ')
    lost=$(metric ignite_netpol_audit_records_lost_total)
    if [ "$lost" -gt "$last_lost" ]; then
      # Records may only be lost on a full disk: less room than a 64 KiB batch is left.
      if [ "$avail" -ge $((64 * 1024)) ]; then lost_with_room=$((lost_with_room + lost - last_lost)); fi
      if [ "$full_since" -lt 0 ]; then
        full_since=$now
        fills=$((fills + 1))
        echo "t=${now}s audit disk full" >&2
      fi
    fi
    if [ "$full_since" -ge 0 ] && [ $((now - full_since)) -ge "$FULL_FOR" ]; then
      # Ship the oldest half of the rotated files: move each out of the numbered scheme first, so
      # a rotation running at the same time cannot change what is counted.
      local files
      files=$(cd "$tmp/audit" && { ls audit.log.* 2>/dev/null || true; } | sort -t. -k3 -n -r)
      local count
      count=$(wc -w <<<"$files")
      for f in $(head -n $(((count + 1) / 2)) <<<"$files"); do
        mv "$tmp/audit/$f" "$tmp/audit/shipping" 2>/dev/null || continue
        shipped_lines=$((shipped_lines + $(wc -l <"$tmp/audit/shipping")))
        shipped_files=$((shipped_files + 1))
        rm "$tmp/audit/shipping"
      done
      echo "t=${now}s shipped; $(df -h --output=avail "$tmp/audit" | tail -1 | tr -d ' ') free" >&2
      full_since=-1
      avail=$(df -B1 --output=avail "$tmp/audit" | tail -1 | tr -d ' ')
      lost=$(metric ignite_netpol_audit_records_lost_total)
    fi
    last_lost=$lost
    if [ "$now" -ge "$next_sample" ]; then
      next_sample=$((next_sample + 10))
      echo "$now,$(rss_kb "$server"),$avail,$(metric ignite_netpol_audit_records_written_total),$lost,$(metric ignite_netpol_audit_records_dropped_total)" >>"$tmp/samples.csv"
    fi
  done
  wait "$keepalive" $handshakes || true
  # Let the writer catch up (it writes at least every second), then read the totals.
  local reviews written lost dropped
  for _ in $(seq 50); do
    reviews=$(metric ignite_netpol_reviews_total)
    written=$(metric ignite_netpol_audit_records_written_total)
    lost=$(metric ignite_netpol_audit_records_lost_total)
    dropped=$(metric ignite_netpol_audit_records_dropped_total)
    [ $((written + lost + dropped)) -eq "$reviews" ] && break
    sleep 0.2
  done
  local reloads_ok reloads_failed rss_end
  reloads_ok=$(curl -s "localhost:$ADMIN/metrics" | awk '/tls_certificate_reloads_total.*success/ {print $2}')
  reloads_failed=$(curl -s "localhost:$ADMIN/metrics" | awk '/tls_certificate_reloads_total.*failure/ {s += $2} END {printf "%d", s}')
  kill -TERM "$server"
  local code=0
  wait "$server" || code=$?
  local on_disk
  on_disk=$(cat "$tmp"/audit/audit.log* | wc -l)
  local ka_req hs_req client_total
  ka_req=$(wrk_field "$tmp/keepalive.out" requests)
  hs_req=0
  [ -z "$handshakes" ] || hs_req=$(wrk_field "$tmp/handshakes.out" requests)
  client_total=$((ka_req + hs_req + probes))

  echo
  echo "## soak: $MINUTES minutes"
  echo "reviews answered (server): $reviews; completed by the clients: $client_total (keep-alive $ka_req, one connection per request $hs_req, probes $probes)"
  echo "rate: $((reviews / seconds)) reviews/s; certificates issued: $((rotations + 1)); reloads: ${reloads_ok:-0} ok, $reloads_failed failed; slowest pick-up: ${pickup_max}s"
  echo "audit: written $written (on disk $on_disk + shipped $shipped_lines in $shipped_files files), lost $lost (disk full $fills times), dropped $dropped"
  echo "memory (RSS, every 10 s): $(awk -F, 'NR > 1 {printf "%s%d", (NR > 2 ? " " : ""), $2 / 1024}' "$tmp/samples.csv") MB"
  for f in $clients; do
    check "$f: no failed review (non-2xx $(wrk_field "$tmp/$f.out" non2xx), socket errors connect/read/write/timeout $(wrk_field "$tmp/$f.out" connect)/$(wrk_field "$tmp/$f.out" read)/$(wrk_field "$tmp/$f.out" write)/$(wrk_field "$tmp/$f.out" timeout))" \
      test $(($(wrk_field "$tmp/$f.out" non2xx) + $(wrk_field "$tmp/$f.out" connect) + $(wrk_field "$tmp/$f.out" read) + $(wrk_field "$tmp/$f.out" write) + $(wrk_field "$tmp/$f.out" timeout))) -eq 0
  done
  check "verified probes: $probe_failures of $probes failed" test "$probe_failures" -eq 0
  check "every certificate was served (slowest pick-up ${pickup_max}s)" test -z "$waiting_for"
  # wrk stops with up to one request in flight per connection: the server answered those too.
  check "every review the clients sent was answered (server $reviews, clients $client_total)" \
    test $((reviews - client_total)) -ge 0 -a $((reviews - client_total)) -le $((CONNS + HANDSHAKE_CONNS))
  check "every review has a record: written + lost + dropped = answered" test $((written + lost + dropped)) -eq "$reviews"
  check "the records counted written are the lines on disk and shipped" test $((on_disk + shipped_lines)) -eq "$written"
  check "no record dropped from the queue" test "$dropped" -eq 0
  check "the disk filled up (else the fault was not tried)" test "$fills" -gt 0
  check "records were lost only while the disk was full (lost with room: $lost_with_room)" test "$lost_with_room" -eq 0
  check "SIGTERM at the end: exit $code" test "$code" -eq 0
  rss_end=$(awk -F, 'END {print $2}' "$tmp/samples.csv")
  local rss_1min
  rss_1min=$(awk -F, 'NR > 1 && $1 >= 60 {print $2; exit}' "$tmp/samples.csv")
  check "memory flat: $((rss_1min / 1024)) MB at 1 min, $((rss_end / 1024)) MB at the end (within 10 %)" \
    test $((rss_end * 10)) -le $((rss_1min * 11))
}

sigterm_round() { # protocol
  local fails_before=$fails
  rm -f "$tmp"/audit.log*
  # At tens of thousands of reviews a second the log rotates: keep every file to count them.
  start_server "$tmp/audit.log" --audit-keep 1000
  local out="$tmp/load.out"
  if [ "$1" = h1 ]; then
    REVIEW=bench/review-3k.json wrk -t1 -c"$CONNS" -d20s -s bench/post.lua "https://127.0.0.1:$PORT/validate" >"$out" 2>&1 &
  else
    rm -f "$tmp/requests.log"
    h2load -c"$CONNS" -m1 -D 20 -d bench/review-3k.json -H 'Content-Type: application/json' \
      --log-file="$tmp/requests.log" "https://127.0.0.1:$PORT/validate" >"$out" 2>&1 &
  fi
  local load=$!
  sleep 10
  local before code=0
  before=$(date +%s%N)
  kill -TERM "$server"
  wait "$server" || code=$?
  local took=$((($(date +%s%N) - before) / 1000000))
  wait "$load" || true
  local records answered failed
  records=$(cat "$tmp"/audit.log* | wc -l)
  if [ "$1" = h1 ]; then
    answered=$(wrk_field "$out" requests)
    failed=$(($(wrk_field "$out" non2xx) + $(wrk_field "$out" read) + $(wrk_field "$out" write) + $(wrk_field "$out" timeout)))
    local refused
    refused=$(wrk_field "$out" connect)
    check "HTTP/1.1: $answered answered, $failed failed (read/write/timeout/non-2xx); $refused connects refused after the listener closed; $records audit records; exit $code after ${took} ms" \
      test "$failed" -eq 0 -a "$records" -eq "$answered" -a "$code" -eq 0
  else
    # h2load's per-request log: start (µs since the epoch, 0 when the request never left the
    # client), status (-1 when it failed), time. A request h2load had queued when the GOAWAY
    # arrived is refused by its own HTTP/2 library before it is sent (nghttp2 closes it with
    # REFUSED_STREAM); h2load counts it failed, but the server never saw it, and a real client
    # retries it on a new connection (Go's HTTP/2 transport, which the API server uses, retries
    # REFUSED_STREAM and GOAWAY errors). Failed requests that were sent are the failures.
    answered=$(awk '/^status codes:/ {print $3}' "$out")
    local unsent timeouts
    failed=$(awk '$2 == -1 && $1 != 0' "$tmp/requests.log" | wc -l)
    unsent=$(awk '$2 == -1 && $1 == 0' "$tmp/requests.log" | wc -l)
    timeouts=$(awk '/^requests:/ {print $14}' "$out")
    check "HTTP/2: $answered answered, $failed sent and failed, $timeouts timed out ($unsent never sent: queued by h2load when the GOAWAY came); $records audit records; exit $code after ${took} ms" \
      test "$failed" -eq 0 -a "$timeouts" -eq 0 -a "$records" -eq "$answered" -a "$code" -eq 0
  fi
  # A failed round shows what the client saw.
  [ "$fails" -eq "$fails_before" ] || sed 's/^/    | /' "$out" >&2
}

case "$mode" in
soak) soak ;;
sigterm)
  for _ in $(seq "$ROUNDS"); do
    sigterm_round h1
    sigterm_round h2
  done
  ;;
esac
exit "$fails"
