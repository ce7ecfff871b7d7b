-- wrk: PUT /users/{id} (unconditional replace) with ids uniform over 1..N.
local n = 100000
local body = '{"firstName":"John","lastName":"Smith","address":{"streetAddress":"21 2nd Street","city":"New York","state":"NY","postalCode":10021},"phoneNumbers":["212 555-1234","646 555-4567"]}'
-- Writes need a session: ZTM_TOKEN (an admin's, from POST /sessions) goes in every request.
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. (os.getenv("ZTM_TOKEN") or "")}
init = function(args) n = tonumber(args[1] or n) end
request = function()
  return wrk.format("PUT", "/users/" .. math.random(1, n), headers, body)
end
