-- Shared by post.lua and rotate.lua: one machine-readable line when a wrk run ends.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "STATS rps=%.0f p50=%.3f p99=%.3f p99.9=%.3f max=%.3f reqs=%d non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000,
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
