-- One request shape per wrk run, configured by environment variables (set by bench/intake.py):
--   BENCH_METHOD, BENCH_PATH        request line
--   BENCH_TOKEN                      bearer token (optional)
--   BENCH_BODY_FILE                  JSON body (optional)
--   BENCH_UNIQUE=1                   replace "__UNIQUE__" in the body per request (idempotency ids)
--   BENCH_DELAY_MS                   pause of each connection between its requests (rate limiting)
--   BENCH_RESULT_FILE                where done() writes the JSON summary (statuses, latency in us)

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/health"
local token = os.getenv("BENCH_TOKEN")
local body_file = os.getenv("BENCH_BODY_FILE")
local unique = os.getenv("BENCH_UNIQUE") == "1"
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local result_file = os.getenv("BENCH_RESULT_FILE")

local body = nil
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  body = f:read("*a")
  f:close()
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

function init(args)
  statuses = {}
  counter = 0
  headers = {}
  if body then headers["Content-Type"] = "application/json" end
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  prebuilt = nil
  if not unique then prebuilt = wrk.format(method, path, headers, body) end
end

function request()
  if prebuilt then return prebuilt end
  counter = counter + 1
  local id = string.format("bench-%d-%d-%d-%d", thread_no, counter, os.time(), math.random(1, 1000000000))
  return wrk.format(method, path, headers, (body:gsub("__UNIQUE__", id)))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  local e = summary.errors
  local out = string.format(
    '{"duration_us": %d, "requests": %d, "bytes": %d, "statuses": {%s}, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, "p90": %d, "p95": %d, "p99": %d}}\n',
    summary.duration, summary.requests, summary.bytes, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99)
  )
  if result_file and result_file ~= "" then
    local f = assert(io.open(result_file, "w"))
    f:write(out)
    f:close()
  else
    io.write(out)
  end
end
