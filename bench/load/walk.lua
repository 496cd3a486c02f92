-- wrk script: walks a list of request paths (one per line) instead of repeating one URL.
--   wrk -tT ... -s walk.lua http://127.0.0.1:PORT -- LIST T [LIMIT] [OFFSET]
-- Each of the T wrk threads walks its own contiguous share of LIST from OFFSET into it, so a
-- cold run requests every path at most once (a thread that runs off its share wraps around and
-- the RESULT line says so). LIMIT > 0 stops sending after LIMIT/T responses per thread (wrk
-- itself still runs for its -d; run.sh chains short runs with OFFSET to reach a request count).
-- A line may carry a tab and an Accept header after its path ("PATH<TAB>ACCEPT"): that request
-- sends it (the browser Accept mix); a line without a tab sends no Accept.
-- done() prints one machine-readable RESULT line. With WALK_COUNT=1 it also counts, over the
-- 200 answers: body bytes, answers per Content-Type and answers carrying X-Format-Upgrade (off
-- by default: the Lua work per response would cost wrk CPU on the hit runs).
-- With WALK_POST_BODY set (a file), every request is instead a POST of that file's bytes to the
-- list's first path, with Content-Type WALK_POST_TYPE and Authorization WALK_POST_AUTH (uploads).
-- With WALK_DELAY_MS set, each connection waits that long after an answer before it sends the
-- next request: a paced load instead of a saturating one (wrk leaves the wait out of latency).
local threads = {}
local post_body = os.getenv("WALK_POST_BODY")
local counting = os.getenv("WALK_COUNT") == "1"
local delay_ms = tonumber(os.getenv("WALK_DELAY_MS") or "")
if delay_ms then
  function delay() return delay_ms end  -- wrk paces only when the script defines delay()
end

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  accepts = {}
  for line in io.lines(args[1]) do
    if #line > 0 then
      local path, accept = line:match("^([^\t]*)\t(.*)$")
      paths[#paths + 1] = path or line
      accepts[#paths] = accept
    end
  end
  local total = tonumber(args[2] or "1")
  local limit = tonumber(args[3] or "0")
  local offset = tonumber(args[4] or "0")
  share = math.max(1, math.floor(#paths / total))
  cursor = (id * share + offset) % #paths  -- 0-based
  walked = offset
  wrapped = 0
  responses = 0
  ok, body_bytes, upgrades, types = 0, 0, 0, {}
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
  local i = cursor + 1
  cursor = (cursor + 1) % #paths
  walked = walked + 1
  if walked > share then wrapped = 1 end
  local accept = accepts[i]
  if accept then return wrk.format("GET", paths[i], {Accept = accept}) end
  return wrk.format("GET", paths[i])
end

function response(status, headers, body)
  responses = responses + 1
  if counting and status == 200 then
    ok = ok + 1
    body_bytes = body_bytes + #body
    -- Header names keep each server's case (evhttp's as given, node's lower case). Counting
    -- runs only on cold runs (hundreds of answers per second): a loop over a dozen is cheap.
    local ct = "none"
    for name, value in pairs(headers) do
      name = name:lower()
      if name == "content-type" then
        ct = value:match("^[%w/+.-]+") or "other"  -- no parameters: the RESULT line is eval'd
      elseif name == "x-format-upgrade" then
        upgrades = upgrades + 1
      end
    end
    types[ct] = (types[ct] or 0) + 1
  end
  if per_thread > 0 and responses >= per_thread then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local wraps, n_ok, n_bytes, n_upgrades, all_types = 0, 0, 0, 0, {}
  for _, t in ipairs(threads) do
    wraps = wraps + (t:get("wrapped") or 0)
    n_ok = n_ok + (t:get("ok") or 0)
    n_bytes = n_bytes + (t:get("body_bytes") or 0)
    n_upgrades = n_upgrades + (t:get("upgrades") or 0)
    for ct, n in pairs(t:get("types") or {}) do all_types[ct] = (all_types[ct] or 0) + n end
  end
  local type_list = {}
  for ct, n in pairs(all_types) do type_list[#type_list + 1] = ct .. ":" .. n end
  table.sort(type_list)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "connect_err=%d read_err=%d write_err=%d timeout=%d non2xx=%d wrapped=%d " ..
    "ok=%d body_bytes=%d upgrades=%d types=%s\n",
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, e.connect, e.read, e.write,
    e.timeout, e.status, wraps, n_ok, n_bytes, n_upgrades, table.concat(type_list, ",")))
end
