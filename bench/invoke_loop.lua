-- A keep-alive invoke_model loop against the local emulator, for instruction
-- counts: `make bench-instructions` runs it under callgrind twice (N = 100
-- and 600) and divides the difference by 500, which leaves out start-up and
-- module loading. Seconds vary with the machine; instructions do not.
--
-- With --report it also prints the client CPU per invoke (os.clock: this
-- process only) and the process's peak RSS, as boto3's and the JS SDK's
-- benchmarks report theirs (one client, a fresh process): bench_lua.lua
-- runs it so.
--
-- usage: lua5.4 bench/invoke_loop.lua N [--report]
local bedrock = require "bedrock"
local emulator = require "spec.support.emulator"

local n = assert(tonumber(arg[1]), "usage: invoke_loop.lua N [--report]")
local report = arg[2] == "--report"
local emu = emulator.start()
local client = bedrock.client{ endpoint_url = emu.url, region_name = "us-east-1",
  access_key_id = emulator.credentials.access_key_id,
  secret_access_key = emulator.credentials.secret_access_key }
local MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
local BODY = { anthropic_version = "bedrock-2023-05-31", max_tokens = 100,
  messages = { { role = "user", content = "Hello, Claude!" } } }
emu:scenario(MODEL, {})
-- warm: the connection, the URL and header caches, the idle easy handle
for _ = 1, 20 do assert(client:invoke_model{ model_id = MODEL, body = BODY }) end
local c0 = os.clock()
for _ = 1, n do assert(client:invoke_model{ model_id = MODEL, body = BODY }) end
local cpu = os.clock() - c0
if report then
  local peak
  for line in io.lines("/proc/self/status") do peak = peak or tonumber(line:match("^VmHWM:%s+(%d+)")) end
  print(string.format("lua-bedrock invoke loop: %.1f us client CPU per invoke, peak RSS %.1f MiB (%s)",
    cpu / n * 1e6, peak / 1024, package.loaded["bedrock.curl"] and "libcurl loaded" or "libcurl not loaded"))
end
client:close()
emu:stop()
