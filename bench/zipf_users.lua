-- wrk: GET /users/{id} with ids 1..N drawn from Zipf(s) (id = popularity rank).
-- Arguments: N (default 1000000), s (default 0.9). The CDF table is built once per wrk thread.
local n, s = 1000000, 0.9
local cdf = {}
init = function(args)
  n = tonumber(args[1] or n)
  s = tonumber(args[2] or s)
  local sum = 0
  for i = 1, n do
    sum = sum + i ^ (-s)
    cdf[i] = sum
  end
  for i = 1, n do cdf[i] = cdf[i] / sum end
  math.randomseed(42)
end
request = function()
  local u = math.random()
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return wrk.format("GET", "/users/" .. lo)
end
