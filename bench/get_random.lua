-- wrk: GET /users/{id} with ids uniform over 1..N (N from the first script argument).
local n = 100000
init = function(args) n = tonumber(args[1] or n) end
request = function()
  return wrk.format("GET", "/users/" .. math.random(1, n))
end
