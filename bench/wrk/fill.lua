-- Fills a replica's verified-token cache with distinct tokens: each connection alternates a
-- client-credentials grant (a new token) with an introspection of the token it got back.
--   BASIC="$(printf %s "$id:$secret" | base64 -w0)" wrk -s fill.lua URL
local basic = "Basic " .. os.getenv("BASIC")
local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = basic,
}
local minted = {}

request = function()
  local token = table.remove(minted)
  if token then
    return wrk.format("POST", "/oauth/introspect", headers, "token=" .. token)
  end
  return wrk.format("POST", "/oauth/token", headers, "grant_type=client_credentials")
end

response = function(status, _, body)
  local token = body:match('"access_token"%s*:%s*"([^"]+)"')
  if token then
    table.insert(minted, token)
  end
end
