-- Pre-builds one GET per token (each wrk thread takes every Nth line of BENCH_TOKENS) and rotates
-- through them from BENCH_OFFSET on; counts wrap-arounds so a run can prove whether a token was
-- ever sent twice.
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  thread:set("thread_count", tonumber(os.getenv("BENCH_THREADS")))
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("BENCH_PATH") or "/"
  prebuilt = {}
  local line_no = 0
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if line ~= "" then
      if line_no % thread_count == thread_index then
        prebuilt[#prebuilt + 1] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. line })
      end
      line_no = line_no + 1
    end
  end
  if #prebuilt == 0 then
    prebuilt[1] = wrk.format("GET", path)
  end
  token_count = #prebuilt
  cursor = 1 + (tonumber(os.getenv("BENCH_OFFSET") or "0") % token_count)
  wraps = 0
  -- load.py starts its CPU window here, not while the requests above were being built.
  io.write("BENCH_READY\n")
  io.flush()
end

function request()
  local req = prebuilt[cursor]
  cursor = cursor + 1
  if cursor > #prebuilt then
    cursor = 1
    wraps = wraps + 1
  end
  return req
end

function done(summary, latency, requests)
  local total_wraps = 0
  local tokens = 0
  for _, t in ipairs(threads) do
    total_wraps = total_wraps + t:get("wraps")
    tokens = tokens + t:get("token_count")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d},"wraps":%d,"tokens":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    total_wraps, tokens))
end
