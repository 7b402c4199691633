-- lua5.4 tools/check_docs.lua [DOCS_DIR]: the LDoc reference (`make docs`, default build/docs)
-- leaves no public name undocumented. The public names are read from the live objects, not
-- from a list: every function on bedrock, on a client and an async client, a response stream,
-- a duplex session, a pager, a conversation and its stream, a usage ledger, a task, a decoder,
-- and in bedrock.errors; every config key, budget key and error code the sources produce; every
-- member of each operation's input in that method's entry. Names starting with "_" are private
-- and must not be documented. Last line: "docs: N passed, N failed".
local dir = arg[1] or "build/docs"
-- the checkout's modules (run from the repository root), whatever LUA_PATH says
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath

local passed, failed = 0, 0
local function check(ok, what)
  if ok then passed = passed + 1 else failed = failed + 1; print("MISSING " .. what) end
end

local function read(path)
  local f = assert(io.open(path, "rb"), path)
  local s = f:read("*a")
  f:close()
  return s
end

-- page name -> { text = html, anchors = { [name] = entry html } }
local pages = {}
local function page(name)
  local p = pages[name]
  if p then return p end
  local text = read(dir .. "/modules/" .. name .. ".html")
  p = { text = text, anchors = {} }
  local starts = {}
  for pos, anchor in text:gmatch('()<a name = "([^"]+)"></a>') do starts[#starts + 1] = { pos, anchor } end
  for i, s in ipairs(starts) do
    p.anchors[s[2]] = text:sub(s[1], starts[i + 1] and starts[i + 1][1] - 1 or #text)
  end
  pages[name] = p
  return p
end

local function documented(page_name, anchor)
  check(page(page_name).anchors[anchor] ~= nil, page_name .. ": " .. anchor)
end

local function public(k) return type(k) == "string" and not k:find("^_") end

-- the functions reachable through a metatable's __index chain, own ones first
local function methods(obj)
  local out, seen = {}, {}
  local mt = getmetatable(obj)
  local index = mt and mt.__index
  local level = 0
  while type(index) == "table" do
    level = level + 1
    for k, v in pairs(index) do
      if type(v) == "function" and public(k) and not seen[k] then seen[k] = true; out[k] = level end
    end
    local up = getmetatable(index)
    index = up and up.__index
  end
  return out
end

local bedrock = require "bedrock"
local conversation = bedrock.conversation   -- loaded on first use
local errors = require "bedrock.errors"
local config = require "bedrock.config"
local usage = require "bedrock.policy.usage"
local model = require "bedrock.api.model"

-- bedrock
for k, v in pairs(bedrock) do
  if type(v) == "function" or k == "errors" or k == "_VERSION" then
    documented("bedrock", k)
  elseif type(v) == "table" and k ~= "conversation" then
    for sub, f in pairs(v) do
      if type(f) == "function" and public(sub) then documented("bedrock", k .. "." .. sub) end
    end
  end
end
documented("bedrock", "conversation")
documented("bedrock", "conversation.from_json")

-- clients, streams, sessions, pagers (made without any I/O: the calls fail on their parameters)
local cfg = { region_name = "us-east-1", endpoint_url = "http://127.0.0.1:9",
  access_key_id = "AKIDEXAMPLE", secret_access_key = "not-a-secret" }
local sync, async = bedrock.client(cfg), bedrock.async_client(cfg)
for _, c in ipairs{ sync, async } do
  for k in pairs(methods(c)) do documented("bedrock.api.client", "Client:" .. k) end
  for k, v in pairs(c) do
    check(type(v) ~= "function", "a function field on a client: " .. tostring(k))
  end
end
for k in pairs(methods(sync:invoke_model_with_response_stream(nil))) do
  documented("bedrock.api.stream", "Stream:" .. k)
end
for k, level in pairs(methods(sync:invoke_model_with_bidirectional_stream(nil))) do
  -- a session's reads are the stream's, documented there
  documented(level == 1 and "bedrock.api.duplex" or "bedrock.api.stream", (level == 1 and "Duplex:" or "Stream:") .. k)
end
for k in pairs(methods(sync:list_async_invokes("not a table"))) do
  documented("bedrock.api.operations", "Pager:" .. k)
end

-- every member of each operation's input is named in its method's entry
local function snake(s) return (s:gsub("(%l)(%u)", "%1_%2"):lower()) end
for op_name, op in pairs(model.operations) do
  local entry = page("bedrock.api.client").anchors["Client:" .. op.name]
  check(entry ~= nil, "bedrock.api.client: Client:" .. op.name)
  for _, m in ipairs(model.shapes[op.input].members or {}) do
    local lua_name = m[2] or snake(m[1])
    check(entry and entry:find(lua_name, 1, true), "Client:" .. op.name .. " parameter " .. lua_name
      .. " (" .. op_name .. ")")
  end
end
local bidi = page("bedrock.api.client").anchors["Client:invoke_model_with_bidirectional_stream"]
check(bidi and bidi:find("model_id", 1, true), "Client:invoke_model_with_bidirectional_stream parameter model_id")

-- conversation, its stream, the usage ledger, tasks, decoders
for k, v in pairs(conversation) do
  if public(k) and (type(v) == "function" or type(v) ~= "table") then documented("bedrock.conversation", k) end
end
local conv = conversation{ model_id = "anthropic.claude-3-sonnet-20240229-v1:0" }
for k in pairs(methods(conv)) do documented("bedrock.conversation", "Conversation:" .. k) end
for k in pairs(methods(conv:stream(sync))) do documented("bedrock.conversation", "ConvStream:" .. k) end
for k, v in pairs(usage) do
  if type(v) == "function" or k == "TOKEN_FIELDS" then documented("bedrock.policy.usage", k) end
end
for k in pairs(methods(sync.ledger)) do documented("bedrock.policy.usage", "Ledger:" .. k) end
bedrock.run(function()
  local task = bedrock.spawn(function() end)
  for k in pairs(methods(task)) do documented("bedrock", "Task:" .. k) end
  task:wait()
end)
-- bedrock.mcp: its functions and the server's methods
for k, v in pairs(bedrock.mcp) do
  if type(v) == "function" and public(k) then documented("bedrock.mcp", k) end
end
for k, v in pairs(bedrock.mcp.Server) do
  if type(v) == "function" and public(k) and not k:find("^__") then documented("bedrock.mcp", "Server:" .. k) end
end
local decoder = bedrock.eventstream.decoder()
for k, v in pairs(getmetatable(decoder)) do
  if type(v) == "function" and public(k) then documented("bedrock", "Decoder:" .. k) end
end
decoder:close()

-- bedrock.errors: its functions and tables, the error object, every code the sources produce
for k, v in pairs(errors) do
  if public(k) then documented("bedrock.errors", k) end
end
local codes_entry = page("bedrock.errors").anchors.codes or ""
local codes = {}
local function scan(path, pattern)
  for code in read(path):gmatch(pattern) do codes[code] = true end
end
local p = assert(io.popen("find lua -name '*.lua'"))
for path in p:lines() do
  scan(path, 'code = "(%u%a+)"')
  scan(path, 'code or "(%u%a+)"')
  scan(path, 'code = [^\n]- and "(%u%a+)" or "%u%a+"')
  scan(path, 'code = [^\n]- and "%u%a+" or "(%u%a+)"')
end
p:close()
scan("src/engine.c", 'return "(%u%a+)";')
codes.OK, codes.Error = nil, nil   -- not codes: xfer_errname's "no error", tostring's fallback
for code in pairs(codes) do
  check(codes_entry:find(code, 1, true), "bedrock.errors: code " .. code)
end
for _, field in ipairs{ "code", "message", "status", "request_id", "retryable", "attempts" } do
  check((page("bedrock.errors").anchors.Error or ""):find(field, 1, true), "bedrock.errors: Error." .. field)
end

-- config keys, budget keys, price keys
local keys_entry = page("bedrock.config").anchors.keys or ""
for key in pairs(config.fields) do
  check(keys_entry:find('"parameter">' .. key .. "<", 1, true), "bedrock.config: key " .. key)
end
local budget_entry = page("bedrock.policy.usage").anchors.budget or ""
for key in pairs(usage.budget_keys) do
  check(budget_entry:find('"parameter">' .. key .. "<", 1, true), "bedrock.policy.usage: budget key " .. key)
end
for key in pairs(usage.price_keys) do
  check(budget_entry:find(key, 1, true), "bedrock.policy.usage: price key " .. key)
end

-- nothing private in the reference
for name, pg in pairs(pages) do
  for anchor in pairs(pg.anchors) do
    local last = anchor:match("[:.]([^:.]+)$") or anchor
    check(not last:find("^_") or anchor == "_VERSION" or last:find("^__"),
      "private name documented: " .. name .. ": " .. anchor)
  end
end

sync:close()
async:close()
print(("docs: %d passed, %d failed"):format(passed, failed))
os.exit(failed == 0 and 0 or 1)
