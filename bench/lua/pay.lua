-- Token + cards/auth: every token answer is followed by one POST /payments/cards/auth with it.
-- wrk's Lua has no per-connection hook, so each thread keeps a queue of fresh tokens: request()
-- pays with a queued token if there is one, else asks for a new token. The token answer does not
-- echo the invoice, so the invoice rides in the scope ("... payment bench<invoiceID>"), which the
-- mock echoes. Invoice IDs are "77" + 6 digits, the 6 unique across the run (offset + seq*threads
-- + tid < 1e6), because the mock refuses a second success for the same last six digits.
-- Args (after --): invoice offset, thread count, postLink URL.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local TERMINAL = "67e34d63-102f-4bd1-898e-370781d0074d"
local FORM = "grant_type=client_credentials&client_id=test&client_secret=yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG"
  .. "&terminal=" .. TERMINAL .. "&amount=100&currency=KZT"
  .. "&scope=webapi%20usermanagement%20email_send%20verification%20statement%20statistics%20payment%20bench"
local FORM_HEADERS = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local pending = {}

function init(args)
  bench_init(args)
  post_link = args[3] or "http://127.0.0.1:9/cb"
end

local function pay_body(invoice)
  return '{"amount": 100, "currency": "KZT", "name": "TEST TEST", "terminalId": "' .. TERMINAL .. '", '
    .. '"invoiceId": "' .. invoice .. '", "description": "bench", "accountId": "testuser1", '
    .. '"email": "buyer@example.com", "phone": "77472261170", '
    .. '"backLink": "https://testmerchant/order/1123", "failureBackLink": "https://testmerchant/order/1123/fail", '
    .. '"postLink": "' .. post_link .. '", "failurePostLink": "' .. post_link .. '", '
    .. '"language": "rus", "paymentType": "cardId", "cardId": {"id": "e7e2587f-de26-4f41-ae1f-80c1fea31728"}}'
end

function request()
  local p = table.remove(pending)
  if p then
    return wrk.format("POST", "/payments/cards/auth",
      { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. p[1] }, pay_body(p[2]))
  end
  local k = next_number()
  if k >= 1000000 then overflow = overflow + 1 end
  local invoice = string.format("77%06d", k % 1000000)
  return wrk.format("POST", "/oauth2/token", FORM_HEADERS, FORM .. invoice .. "&invoiceID=" .. invoice)
end

function response(status, headers, body)
  if status == 200 then
    local token = string.match(body, '"access_token"%s*:%s*"([^"]+)"')
    if token then
      local invoice = string.match(body, "payment bench(%d+)")
      pending[#pending + 1] = { token, invoice }
      token_ok = token_ok + 1
      return
    end
    if string.find(body, '"invoiceID"', 1, true) then
      auth_ok = auth_ok + 1
      return
    end
  end
  record_error(status, body)
end
