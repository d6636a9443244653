-- Token endpoint: POST /oauth2/token, urlencoded payment-token request for the default merchant,
-- a unique invoiceID per request.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local FORM = "grant_type=client_credentials"
  .. "&scope=webapi%20usermanagement%20email_send%20verification%20statement%20statistics%20payment"
  .. "&client_id=test&client_secret=yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG"
  .. "&terminal=67e34d63-102f-4bd1-898e-370781d0074d&amount=100&currency=KZT&invoiceID="
local HEADERS = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function init(args) bench_init(args) end

function request()
  local invoice = string.format("%d", 100000000 + next_number())
  return wrk.format("POST", "/oauth2/token", HEADERS, FORM .. invoice)
end

function response(status, headers, body)
  if status == 200 and string.find(body, '"access_token"', 1, true) then
    token_ok = token_ok + 1
  else
    record_error(status, body)
  end
end
