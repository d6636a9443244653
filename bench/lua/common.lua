-- Shared by the bench scripts (loaded with dofile): thread ids, per-thread counters, and a
-- one-line JSON summary ("BENCH_JSON {...}") that bench/run.py parses. Latencies are wrk's own.
-- Script arguments (after `--`): invoice offset, thread count.

local threads = {}
local next_tid = 0
local COUNTERS = { "token_ok", "auth_ok", "other_ok", "non2xx", "overflow" }

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

function bench_init(args)
  offset = tonumber(args[1] or "0")
  nthreads = tonumber(args[2] or "1")
  seq = 0
  for _, name in ipairs(COUNTERS) do _G[name] = 0 end
  first_error = ""
end

-- A number unique across the whole wrk run: offset + seq * nthreads + tid.
function next_number()
  local k = offset + seq * nthreads + tid
  seq = seq + 1
  return k
end

function record_error(status, body)
  non2xx = non2xx + 1
  if first_error == "" then
    first_error = tostring(status) .. " " .. string.sub(body or "", 1, 300)
  end
end

local function json_string(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

function done(summary, latency, requests)
  local totals = {}
  for _, name in ipairs(COUNTERS) do totals[name] = 0 end
  local err = ""
  for _, t in ipairs(threads) do
    for _, name in ipairs(COUNTERS) do totals[name] = totals[name] + (t:get(name) or 0) end
    local e = t:get("first_error")
    if err == "" and e and e ~= "" then err = e end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "wrk_status_errors": %d, ' ..
    '"token_ok": %d, "auth_ok": %d, "other_ok": %d, "non2xx": %d, "overflow": %d, "first_error": %s}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout, e.status,
    totals.token_ok, totals.auth_ok, totals.other_ok, totals.non2xx, totals.overflow, json_string(err)))
end
