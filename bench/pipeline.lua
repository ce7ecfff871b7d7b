-- wrk: send `depth` pipelined GET requests per round trip.
local depth = 16
init = function(args)
  local path = args[1] or "/users/12"
  local r = {}
  for i = 1, depth do r[i] = wrk.format("GET", path) end
  req = table.concat(r)
end
request = function() return req end
