-- wrk: GET /users/{id} with ids 1..N drawn from Zipf(s) (id = popularity rank).
-- Arguments: N (default 1000000), s (default 0.9), the random seed (default 42), and a file of
-- ids, one a line (rank i is the id on line i; N is then the file's length). The CDF table is
-- built once per wrk thread.
local n, s, seed = 1000000, 0.9, 42
local cdf, ids = {}, nil
init = function(args)
  n = tonumber(args[1] or n)
  s = tonumber(args[2] or s)
  seed = tonumber(args[3] or seed)
  if args[4] then
    ids = {}
    for line in io.lines(args[4]) do ids[#ids + 1] = line end
    n = #ids
  end
  local sum = 0
  for i = 1, n do
    sum = sum + i ^ (-s)
    cdf[i] = sum
  end
  for i = 1, n do cdf[i] = cdf[i] / sum end
  math.randomseed(seed)
end
request = function()
  local u = math.random()
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return wrk.format("GET", "/users/" .. (ids and ids[lo] or lo))
end
