-- The admin API at scale, one of three ways (MODE), with an admin token (TOKEN):
--   lookup: GET /admin/users?q=seed-NNNNNNN, a random seeded user each time (USERS of them);
--   list:   GET /admin/users?limit=50, each connection walking the pages by next_cursor;
--   scim:   GET /scim/v2/Users?filter=userName eq "seed-NNNNNNN", as an identity provider's
--           SCIM client looks a user up.
--   MODE=lookup TOKEN=... USERS=1000000 wrk --latency -s admin.lua URL
local mode = os.getenv("MODE") or "lookup"
local users = tonumber(os.getenv("USERS") or "1000000")
local headers = { ["Authorization"] = "Bearer " .. os.getenv("TOKEN") }
local cursor = nil

local function seeded()
  return string.format("seed-%07d", math.random(1, users))
end

request = function()
  if mode == "list" then
    local path = "/admin/users?limit=50"
    if cursor then
      path = path .. "&cursor=" .. cursor
    end
    return wrk.format("GET", path, headers)
  elseif mode == "scim" then
    local filter = 'userName eq "' .. seeded() .. '"'
    return wrk.format("GET", "/scim/v2/Users?filter=" .. filter:gsub(" ", "%%20"):gsub('"', "%%22"), headers)
  end
  return wrk.format("GET", "/admin/users?q=" .. seeded(), headers)
end

response = function(status, _, body)
  if mode == "list" then
    cursor = body:match('"next_cursor"%s*:%s*"([^"]+)"')
  end
  if status ~= 200 then
    io.stderr:write("status " .. status .. ": " .. body .. "\n")
  end
end
