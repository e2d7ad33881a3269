-- wrk script: POST one review (REVIEW, default the ~3 KB NetworkPolicy CREATE) over and over.
dofile("bench/stats.lua")
local f = assert(io.open(os.getenv("REVIEW") or "bench/review-3k.json", "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
