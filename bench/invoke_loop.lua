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
-- With --tls the emulator serves https, with a throwaway CA made here by
-- the openssl command, and the client trusts that CA alone (ca_file).
--
-- usage: lua5.4 bench/invoke_loop.lua N [--report] [--tls]
local bedrock = require "bedrock"
local emulator = require "spec.support.emulator"

local n = assert(tonumber(arg[1]), "usage: invoke_loop.lua N [--report] [--tls]")
local report, tls = false, false
for i = 2, #arg do
  if arg[i] == "--report" then report = true elseif arg[i] == "--tls" then tls = true end
end

-- a CA and a certificate for 127.0.0.1 in a new directory; returns its path
local function make_pki()
  local dir = os.tmpname()
  os.remove(dir)
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  local cmd = ("mkdir %s && cd %s && openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-CA"
    .. " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
    .. " && printf 'subjectAltName = IP:127.0.0.1\\n' > server.ext"
    .. " && openssl req %s -keyout server.key -out server.csr -subj /CN=127.0.0.1"
    .. " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2"
    .. " -extfile server.ext) >/dev/null 2>&1"):format(dir, dir, ec, ec)
  local ok = os.execute("(" .. cmd)
  assert(ok == true or ok == 0, "openssl could not make the bench's certificates")
  return dir
end

local pki = tls and make_pki()
local emu = emulator.start(pki and { tls_cert = pki .. "/server.pem", tls_key = pki .. "/server.key",
  tls_ca = pki .. "/ca.pem" } or nil)
local client = bedrock.client{ endpoint_url = emu.url, region_name = "us-east-1",
  access_key_id = emulator.credentials.access_key_id,
  secret_access_key = emulator.credentials.secret_access_key,
  ca_file = pki and pki .. "/ca.pem" or nil }
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
  print(string.format("lua-bedrock invoke loop%s: %.1f us client CPU per invoke, peak RSS %.1f MiB (%s)",
    tls and " over https" or "", cpu / n * 1e6, peak / 1024,
    package.loaded["bedrock.curl"] and "libcurl loaded" or "libcurl not loaded"))
end
client:close()
emu:stop()
if pki then os.execute("rm -rf " .. pki) end
