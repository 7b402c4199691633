-- make bench, part two: the Lua-facing figures, against the local emulator.
-- (a) sign from Lua, (b) is bench/bench_decode.lua (its own process: its
-- 50 MB would show in the RSS figures), (c) events/s through a for loop, (d) keep-alive invokes
-- and client CPU per invoke, (e) RSS with 100 (and 1,000) open streams, (f) a
-- bidirectional session (lock-step and pipelined); (b) event-stream decode
-- from Lua; (g) one invoke loop in a fresh process (CPU per invoke, peak
-- RSS); then boto3 and the JS SDK on the same emulator for the ratio.
local bedrock = require "bedrock"
local core = require "bedrock.core"
local emulator = require "spec.support.emulator"

local function rss_kib(field)
  field = field or "VmRSS"
  for line in io.lines("/proc/self/status") do
    local v = line:match("^" .. field .. ":%s+(%d+)")
    if v then return tonumber(v) end
  end
end

local emu = emulator.start()
local cfg = { endpoint_url = emu.url, region_name = "us-east-1",
  access_key_id = emulator.credentials.access_key_id,
  secret_access_key = emulator.credentials.secret_access_key }
local MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
local BODY = { anthropic_version = "bedrock-2023-05-31", max_tokens = 100,
  messages = { { role = "user", content = "Hello, Claude!" } } }
local results = {}

-- (a) sign a 1 KB POST from Lua (table in, headers out, payload hash included)
do
  local body = string.rep("x", 1024)
  local t = { method = "POST", url = emu.url .. "/model/anthropic.claude-3-sonnet-20240229-v1%3A0/invoke",
    headers = { ["Content-Type"] = "application/json", Accept = "application/json" }, body = body,
    region = "us-east-1", service = "bedrock", credentials = { access_key_id = cfg.access_key_id,
      secret_access_key = cfg.secret_access_key } }
  local n, t0 = 200000, core.now()
  for _ = 1, n do core.sigv4_sign(t) end
  local us = (core.now() - t0) / n * 1e6
  print(string.format("(a) sigv4 sign of a 1 KB POST from Lua: %.2f us/op", us))
end

local client = bedrock.client(cfg)

-- (c) events per second into a Lua for loop
do
  local N = 500000
  emu:scenario(MODEL, { deltas = N, text = "tok" })
  client:invoke_model{ model_id = MODEL, body = BODY }  -- warm the connection
  -- warm the emulator's cache of the encoded stream
  for _ in client:invoke_model_with_response_stream{ model_id = MODEL, body = BODY } do end
  local best = 0
  for _ = 1, 3 do
    local n, t0, c0 = 0, core.now(), os.clock()
    for _ in client:invoke_model_with_response_stream{ model_id = MODEL, body = BODY } do n = n + 1 end
    local dt = core.now() - t0
    local rate = n / dt
    if rate > best then best = rate; results.cpu_per_event = (os.clock() - c0) / n end
  end
  results.events = best
  print(string.format("(c) decoded events into a Lua for loop: %.0f events/s (%.2f us client CPU/event)",
    best, results.cpu_per_event * 1e6))
end

-- (d) keep-alive invoke_model
do
  emu:scenario(MODEL, {})
  for _ = 1, 200 do client:invoke_model{ model_id = MODEL, body = BODY } end
  local n, t0, c0 = 3000, core.now(), os.clock()
  for _ = 1, n do
    local body = client:invoke_model{ model_id = MODEL, body = BODY }
    assert(body, "invoke failed")
  end
  local dt, cpu = core.now() - t0, os.clock() - c0
  results.rps = n / dt
  results.cpu_per_invoke = cpu / n
  print(string.format("(d) invoke_model on keep-alive loopback: %.0f requests/s, %.1f us client CPU per invoke",
    n / dt, cpu / n * 1e6))
end

client:close()

-- (e) RSS with open streams (async, one thread), each having read one event
local function open_streams(count)
  collectgarbage(); collectgarbage()
  emu:scenario(MODEL, { deltas = 2000 })
  -- every stream holds its connection while open: the pool must hold them
  -- all (the default max_pool_connections, 64, would queue the 65th for
  -- ever, as the README's Limits say)
  local scfg = {}
  for k, v in pairs(cfg) do scfg[k] = v end
  scfg.max_pool_connections = count
  local aclient = bedrock.async_client(scfg)
  local before = rss_kib()
  local peak
  bedrock.run(function()
    local streams = {}
    for i = 1, count do
      streams[i] = aclient:invoke_model_with_response_stream{ model_id = MODEL, body = BODY }
    end
    for i = 1, count do assert(streams[i]:next()) end
    bedrock.sleep(0.3)   -- let every transfer fill its queue and pause
    for i = 1, count do assert(streams[i]:next()) end
    peak = rss_kib()
    for i = 1, count do streams[i]:close() end
  end)
  return before, peak
end
do
  local base, base_file, base_anon = rss_kib(), rss_kib("RssFile"), rss_kib("RssAnon")
  -- PSS: each shared page divided among the processes that map it (what
  -- this process adds to the machine, rather than what it can see)
  local pss
  local f = io.open("/proc/self/smaps_rollup")
  if f then pss = tonumber(f:read("a"):match("\nPss:%s+(%d+)")); f:close() end
  local before, peak = open_streams(100)
  print(string.format("(e) RSS: %.1f MiB at start (%.1f MiB of it shared-library pages: Lua, OpenSSL,"
    .. " libdeflate, lua-cjson; %.1f MiB anonymous%s), %.1f MiB with 100 open streams (+%.1f KiB per stream)",
    base / 1024, base_file / 1024, base_anon / 1024,
    pss and string.format("; PSS %.1f MiB", pss / 1024) or "", peak / 1024, (peak - before) / 100))
  results.rss100 = peak
  -- what no Lua code of ours can lower: a fresh interpreter, then the same
  -- after loading bedrock.core (our HTTP/1.1 client, OpenSSL) and making an
  -- engine, then after loading bedrock.curl (libcurl and its libraries,
  -- mapped only for a duplex session or a proxy)
  local floor = io.popen((arg and arg[-1] or "lua5.4") .. [[ -e '
    local function rss() for l in io.lines("/proc/self/status") do
      local v = l:match("^VmRSS:%s+(%d+)") if v then return v end end end
    local a = rss(); local core = require "bedrock.core"; local e = core.engine()
    local b = rss(); require "bedrock.curl"
    io.write(a, " ", b, " ", rss())' 2>/dev/null]])
  local bare, loaded, curl = floor:read("a"):match("(%d+) (%d+) (%d+)")
  floor:close()
  if bare then
    print(string.format("    floor: %.1f MiB for a bare interpreter, %.1f MiB once bedrock.core is loaded and an engine"
      .. " made (OpenSSL, before any Lua module of ours), %.1f MiB with bedrock.curl (libcurl) as well",
      bare / 1024, loaded / 1024, curl / 1024))
  end
  before, peak = open_streams(1000)
  print(string.format("    with 1,000 open streams: %.1f MiB (+%.1f KiB per stream)", peak / 1024, (peak - before) / 1000))
end

-- (f) a bidirectional session (HTTP/2): input events signed into the chain,
-- echoed back; lock-step round trips, then a pipelined burst
do
  local SONIC = "amazon.nova-sonic-v1:0"
  local client = bedrock.client(cfg)
  local s = client:invoke_model_with_bidirectional_stream{ model_id = SONIC }
  local ev = { event = { textInput = { content = "hello there" } } }
  for _ = 1, 50 do assert(s:send(ev)); assert(s:next()) end
  local n, t0, c0 = 2000, core.now(), os.clock()
  for _ = 1, n do assert(s:send(ev)); assert(s:next()) end
  local dt, cpu = core.now() - t0, os.clock() - c0
  assert(s:close_input())
  for _ in s do end
  -- pipelined: an async reader task beside the sender, on one thread
  local aclient = bedrock.async_client(cfg)
  local m, t1, c1 = 20000, core.now(), os.clock()
  local got = bedrock.run(function()
    local as = aclient:invoke_model_with_bidirectional_stream{ model_id = SONIC }
    local reader = bedrock.spawn(function()
      local k = 0
      for _ in as do k = k + 1 end
      return k
    end)
    for _ = 1, m do assert(as:send(ev)) end
    assert(as:close_input())
    return reader:wait()
  end)
  local dt2, cpu2 = core.now() - t1, os.clock() - c1
  aclient:close()
  assert(got == m + 1, "lost events: " .. tostring(got))
  print(string.format("(f) bidirectional session: %.1f us per lock-step round trip (%.1f us client CPU);"
    .. " %.0f events/s each way pipelined (%.2f us client CPU per event sent and read)",
    dt / n * 1e6, cpu / n * 1e6, m / dt2, cpu2 / m * 1e6))
  client:close()
end

-- event-stream decode from Lua (dec:feed in the 16 KiB pieces libcurl hands
-- over), on the frames of bench_decode.c, for the peers' decode figure
if not results.decode_mbps then
  local payload = string.rep('{"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSJ9"}', 2):sub(1, 99)
  local headers = { [":event-type"] = "chunk", [":content-type"] = "application/json",
    [":message-type"] = "event" }
  local frames = {}
  for i = 0, 255 do frames[#frames + 1] = bedrock.eventstream.encode(headers, payload .. string.char(i)) end
  local block = table.concat(frames)
  local buf = block:rep(math.floor(50e6 / #block))
  local pieces = {}
  for pos = 1, #buf, 16384 do pieces[#pieces + 1] = buf:sub(pos, pos + 16383) end
  local best = math.huge
  for _ = 1, 3 do
    local dec, n, t0 = bedrock.eventstream.decoder(), 0, core.now()
    for i = 1, #pieces do n = n + #dec:feed(pieces[i]) end
    local dt = core.now() - t0
    assert(n == math.floor(#buf / #frames[1]), "decode lost messages")
    if dt < best then best = dt end
  end
  results.decode_mbps = #buf / 1e6 / best
  print(string.format("(b) event-stream decode from Lua (dec:feed, 16 KiB pieces, %d-byte frames): %.0f MB/s",
    #frames[1], results.decode_mbps))
end

-- (g) one keep-alive invoke loop in a fresh process (bench/invoke_loop.lua):
-- its CPU per invoke, and its peak RSS, measured as the peers measure theirs
do
  local dir = debug.getinfo(1, "S").source:sub(2):gsub("[^/]*$", "")
  local p = io.popen((arg and arg[-1] or "lua5.4") .. " " .. dir .. "invoke_loop.lua 3000 --report 2>&1")
  local out = p:read("a")
  p:close()
  io.write("(g) ", out)
  results.loop_rss = tonumber(out:match("peak RSS ([%d%.]+) MiB"))
end

-- the peers on the same emulator: boto3, and the AWS SDK for JavaScript v3
-- (bench/js, installed by `make bench`); then lua-bedrock's ratio to the
-- best peer of each figure
do
  local dir = debug.getinfo(1, "S").source:sub(2):gsub("[^/]*$", "")
  local function run(cmd, name)
    local p = io.popen(string.format("%s %s %s %s 2>&1", cmd, emu.url, cfg.access_key_id, cfg.secret_access_key))
    local out = p:read("a")
    p:close()
    io.write(out)
    return {
      name = name,
      rps = tonumber(out:match(name .. " invoke_model: ([%d%.]+) requests/s")),
      cpu = tonumber(out:match(name .. " invoke_model: [%d%.]+ requests/s, ([%d%.]+) us client CPU per invoke")),
      events = tonumber(out:match(name .. " stream: ([%d%.]+) events/s")),
      decode = tonumber(out:match(name .. " decode: ([%d%.]+) MB/s")),
      rss = tonumber(out:match(name .. " RSS: ([%d%.]+) MiB")),
    }
  end
  local peers = { run("python3 " .. dir .. "bench_boto3.py", "boto3") }
  local js = dir .. "js/"
  if io.open(js .. "node_modules/@aws-sdk/client-bedrock-runtime/package.json") then
    peers[#peers + 1] = run("node --no-warnings " .. js .. "bench_js.mjs", "js%-sdk")
    peers[#peers].name = "js-sdk"
  else
    print("js-sdk: not installed (make bench runs npm ci in bench/js)")
  end
  -- best: the highest rate, the least CPU or RSS
  local function best(key, low)
    local b
    for _, p in ipairs(peers) do
      if p[key] and (not b or (low and p[key] < b[key]) or (not low and p[key] > b[key])) then b = p end
    end
    return b
  end
  local parts = {}
  local function add(fmt, key, ours, low)
    local b = best(key, low)
    if b and ours then
      parts[#parts + 1] = string.format(fmt, low and b[key] / ours or ours / b[key], b.name)
    end
  end
  add("invoke %.1fx requests/s (%s)", "rps", results.rps)
  add("%.1fx less CPU per invoke (%s)", "cpu", results.cpu_per_invoke and results.cpu_per_invoke * 1e6, true)
  add("%.1fx events/s (%s)", "events", results.events)
  add("%.1fx decode MB/s (%s)", "decode", results.decode_mbps)
  local rb = best("rss", true)
  if rb and results.loop_rss then
    parts[#parts + 1] = string.format("%.1fx less peak RSS (%.1f MiB vs %.1f MiB, %s, one client)",
      rb.rss / results.loop_rss, results.loop_rss, rb.rss, rb.name)
  end
  if rb and results.rss100 then
    parts[#parts + 1] = string.format("RSS %.1f MiB with 100 open streams vs %.1f MiB (%s, one client)",
      results.rss100 / 1024, rb.rss, rb.name)
  end
  print("ratio lua-bedrock / best peer: " .. table.concat(parts, ", "))
end
emu:stop()
