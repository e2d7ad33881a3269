-- wrk script: POST the reviews of REVIEWS (one JSON document per line, `bench/mix.rs`) in
-- rotation; each thread starts at its own offset. Requests are formatted once, at start.
dofile("bench/stats.lua")
local requests = {}

function setup(thread)
  thread:set("offset", math.random(1, 1000))
end

function init(args)
  local f = assert(io.open(os.getenv("REVIEWS") or "target/mix/reviews.jsonl", "r"))
  local headers = { ["Content-Type"] = "application/json" }
  for line in f:lines() do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("POST", nil, headers, line)
    end
  end
  f:close()
  assert(#requests > 0, "no reviews")
  next_index = (offset or 0) % #requests
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
