-- Ceiling: GET / on bench/bare_app.py (constant JSON). Counts statuses like the other scripts.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

function init(args) bench_init(args) end

function request()
  return wrk.format("GET", "/")
end

function response(status, headers, body)
  if status >= 200 and status < 300 then other_ok = other_ok + 1 else record_error(status, body) end
end
