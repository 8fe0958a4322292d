-- A form POST with client Basic authentication, the same request every time:
--   BODY="token=..." BASIC="$(printf %s "$id:$secret" | base64 -w0)" wrk -s form.lua URL
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BASIC")
