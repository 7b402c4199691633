-- make bench, part two: the Lua-facing figures, against the local emulator.
-- (a) sign from Lua, (c) events/s through a for loop, (d) keep-alive invokes
-- and client CPU per invoke, (e) RSS with 100 (and 1,000) open streams, (f) a
-- bidirectional session (lock-step and pipelined); then
-- boto3 on the same emulator for the ratio.
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
  local aclient = bedrock.async_client(cfg)
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
  local before, peak = open_streams(100)
  print(string.format("(e) RSS: %.1f MiB at start (%.1f MiB of it shared-library pages: libcurl's dependencies"
    .. " and OpenSSL; %.1f MiB anonymous), %.1f MiB with 100 open streams (+%.1f KiB per stream)",
    base / 1024, base_file / 1024, base_anon / 1024, peak / 1024, (peak - before) / 100))
  results.rss100 = peak
  -- what no Lua code of ours can lower: a fresh interpreter, then the same
  -- after loading bedrock.core (libcurl, OpenSSL and their shared libraries)
  -- and creating an engine (curl_global_init, a multi handle)
  local floor = io.popen((arg and arg[-1] or "lua5.4") .. [[ -e '
    local function rss() for l in io.lines("/proc/self/status") do
      local v = l:match("^VmRSS:%s+(%d+)") if v then return v end end end
    local a = rss(); local core = require "bedrock.core"; local e = core.engine()
    io.write(a, " ", rss())' 2>/dev/null]])
  local bare, loaded = floor:read("*a"):match("(%d+) (%d+)")
  floor:close()
  if bare then
    print(string.format("    floor: %.1f MiB for a bare lua5.4, %.1f MiB once bedrock.core is loaded and an engine made"
      .. " (libcurl and OpenSSL, before any Lua module of ours)", bare / 1024, loaded / 1024))
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

-- boto3 on the same emulator
do
  local script = debug.getinfo(1, "S").source:sub(2):gsub("[^/]*$", "") .. "bench_boto3.py"
  local p = io.popen(string.format("python3 %s %s %s %s 2>&1", script, emu.url,
    cfg.access_key_id, cfg.secret_access_key))
  local out = p:read("*a")
  p:close()
  io.write(out)
  local rps = tonumber(out:match("boto3 invoke_model: ([%d%.]+) requests/s"))
  local cpu = tonumber(out:match("([%d%.]+) us client CPU per invoke"))
  local ev = tonumber(out:match("boto3 stream: ([%d%.]+) events/s"))
  local rss = tonumber(out:match("boto3 RSS: ([%d%.]+) MiB"))
  if rps and cpu and ev then
    print(string.format("ratio lua-bedrock / boto3: invoke %.1fx requests/s, %.1fx less CPU per invoke, %.1fx events/s%s",
      results.rps / rps, cpu / (results.cpu_per_invoke * 1e6), results.events / ev,
      rss and string.format(", RSS %.1f vs %.1f MiB", results.rss100 / 1024, rss) or ""))
  end
end
emu:stop()
