-- wrk script: POST the ~3 KB NetworkPolicy CREATE review to /validate.
local f = assert(io.open(os.getenv("REVIEW") or "bench/review-3k.json", "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
