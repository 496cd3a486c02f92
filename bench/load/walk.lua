-- wrk script: walks a list of request paths (one per line) instead of repeating one URL.
--   wrk -tT ... -s walk.lua http://127.0.0.1:PORT -- LIST T [LIMIT] [OFFSET]
-- Each of the T wrk threads walks its own contiguous share of LIST from OFFSET into it, so a
-- cold run requests every path at most once (a thread that runs off its share wraps around and
-- the RESULT line says so). LIMIT > 0 stops sending after LIMIT/T responses per thread (wrk
-- itself still runs for its -d; run.sh chains short runs with OFFSET to reach a request count).
-- done() prints one machine-readable RESULT line.
-- With WALK_POST_BODY set (a file), every request is instead a POST of that file's bytes to the
-- list's first path, with Content-Type WALK_POST_TYPE and Authorization WALK_POST_AUTH (uploads).
local threads = {}
local post_body = os.getenv("WALK_POST_BODY")

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  local total = tonumber(args[2] or "1")
  local limit = tonumber(args[3] or "0")
  local offset = tonumber(args[4] or "0")
  share = math.max(1, math.floor(#paths / total))
  cursor = (id * share + offset) % #paths  -- 0-based
  walked = offset
  wrapped = 0
  responses = 0
  per_thread = limit > 0 and math.ceil(limit / total) or 0
  if post_body then
    local f = assert(io.open(post_body, "rb"))
    -- Built once: formatting a 50 MB request per call would make wrk the bottleneck.
    post = wrk.format("POST", paths[1], {["Content-Type"] = os.getenv("WALK_POST_TYPE"),
                                         ["Authorization"] = os.getenv("WALK_POST_AUTH")},
                      f:read("*a"))
    f:close()
  end
end

function request()
  if post then return post end
  local path = paths[cursor + 1]
  cursor = (cursor + 1) % #paths
  walked = walked + 1
  if walked > share then wrapped = 1 end
  return wrk.format("GET", path)
end

function response(status, headers, body)
  responses = responses + 1
  if per_thread > 0 and responses >= per_thread then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local wraps = 0
  for _, t in ipairs(threads) do wraps = wraps + (t:get("wrapped") or 0) end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "connect_err=%d read_err=%d write_err=%d timeout=%d non2xx=%d wrapped=%d\n",
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, e.connect, e.read, e.write,
    e.timeout, e.status, wraps))
end
