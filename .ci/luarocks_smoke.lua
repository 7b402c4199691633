-- Run by .ci/run after `luarocks --lua-version V make` into a scratch tree,
-- from the repository root with LUA_PATH/LUA_CPATH naming that tree first:
-- bedrock and its three C modules load from the tree and work against the
-- emulator (a call, a stream, an async call, the sans-I/O signer), and
-- bedrock.curl (libcurl, loaded by the core when a request needs it) loads too.
local tree = assert(arg and arg[1], "usage: luarocks_smoke.lua TREE")

local function found(name, path)
  local rel = name:gsub("%.", "/")
  for template in path:gmatch("[^;]+") do
    local file = template:gsub("%?", rel)
    local f = io.open(file, "rb")
    if f then f:close() return file end
  end
end
for _, m in ipairs{ { "bedrock.core", package.cpath }, { "bedrock.codec", package.cpath },
                    { "bedrock.curl", package.cpath },
                    { "bedrock", package.path }, { "bedrock.sigv4", package.path } } do
  local file = found(m[1], m[2])
  assert(file and file:sub(1, #tree) == tree, m[1] .. " is not loaded from " .. tree .. ": " .. tostring(file))
end

local bedrock = require "bedrock"
local emulator = require "spec.support.emulator"
local MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
local BODY = { anthropic_version = "bedrock-2023-05-31", max_tokens = 50,
  messages = { { role = "user", content = "Hello" } } }

local emu = emulator.start()
local ok, err = pcall(function()
  local client = bedrock.client(emu:config())
  local body, meta = client:invoke_model{ model_id = MODEL, body = BODY }
  assert(body, tostring(meta))
  assert(meta.status == 200 and meta.usage.output_tokens > 0)
  local n = 0
  for _ in client:invoke_model_with_response_stream{ model_id = MODEL, body = BODY } do n = n + 1 end
  assert(n > 0, "no events")
  client:close()
  local r = bedrock.run(function()
    local c = bedrock.async_client(emu:config())
    local b = assert(c:invoke_model{ model_id = MODEL, body = BODY })
    return b.content ~= nil
  end)
  assert(r == true, "the async call")
  local h = bedrock.sigv4.sign{ url = "https://h.example/", region = "us-east-1", time = 0,
    credentials = { access_key_id = "AKID", secret_access_key = "s" } }
  assert(h.Authorization:find("^AWS4%-HMAC%-SHA256 "))
  local curl = require "bedrock.curl"
  assert(type(curl.backend) == "userdata" and curl.abi and curl.version:find("libcurl"), "bedrock.curl")
end)
emu:stop()
if not ok then
  print(tostring(err))
  print("luarocks: 0 passed, 1 failed")
  os.exit(1)
end
print("luarocks tree run by " .. (rawget(_G, "jit") and jit.version or _VERSION))
print("luarocks: 1 passed, 0 failed")
