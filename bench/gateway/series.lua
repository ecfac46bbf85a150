-- wrk script for failure runs: counts completed responses per wall-clock second (per thread, merged
-- in done()) so throughput before and after the fault can be compared; prints failures and max latency.
local threads = {}
series = ""
local cur = -1
local n = 0

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  local s = os.time()
  if s ~= cur then
    if cur >= 0 then series = series .. cur .. ":" .. n .. "," end
    cur = s
    n = 0
  end
  n = n + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("series") or ""
    for sec, c in string.gmatch(s, "(%d+):(%d+)") do
      sec = tonumber(sec)
      total[sec] = (total[sec] or 0) + tonumber(c)
    end
  end
  local e = summary.errors
  io.write(string.format("FAILED %d\n", e.status + e.connect + e.read + e.write + e.timeout))
  io.write(string.format("REQUESTS %d\n", summary.requests))
  io.write(string.format("MAX_MS %.1f\n", latency.max / 1000))
  for sec, c in pairs(total) do io.write(string.format("SEC %d %d\n", sec, c)) end
end
