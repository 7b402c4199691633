-- A small MCP server over stdio for the specs, for what server-everything
-- does not do on demand: tools/list in pages of two, a ping to the client
-- before answering ("pinger"), a JSON-RPC error ("fail"), an exit in the
-- middle of a call ("die"), a slow answer ("slow"), stray non-JSON output,
-- and version negotiation (it speaks only 2025-06-18, or what --version says).
--   lua5.4 spec/support/mcp_fake.lua [--version V] [--prefix P]
-- Every message it reads goes to stderr as "got <method>", so a spec can
-- see what the client sent. It ends at stdin's end.
local cjson = require "cjson"

local version, prefix = "2025-06-18", ""
for i = 1, #arg do
  if arg[i] == "--version" then version = arg[i + 1] end
  if arg[i] == "--prefix" then prefix = arg[i + 1] end
end

local function send(msg)
  io.stdout:write(cjson.encode(msg), "\n")
  io.stdout:flush()
end

local function text(s) return { content = { { type = "text", text = s } } } end

local tools = {
  { name = "echo", description = "Echoes its message", inputSchema = { type = "object",
    properties = { message = { type = "string" } }, required = { "message" } } },
  { name = "pinger", description = "Pings the client, then answers", inputSchema = { type = "object" } },
  { name = "fail", description = "Answers with a JSON-RPC error", inputSchema = { type = "object" } },
  { name = "die", description = "Exits in the middle of the call", inputSchema = { type = "object" } },
  { name = "slow", description = "Answers after a while", inputSchema = { type = "object",
    properties = { seconds = { type = "number" } } } },
}

local next_ping = 1000
local waiting_call    -- a tools/call of pinger waiting for the client's pong

io.stdout:write("this server prints a banner on stdout first\n")
io.stdout:flush()

for line in io.lines() do
  local ok, msg = pcall(cjson.decode, line)
  if not ok then
    send{ jsonrpc = "2.0", id = cjson.null, error = { code = -32700, message = "Parse error" } }
  else
    io.stderr:write("got ", tostring(msg.method or ("response " .. tostring(msg.id))), "\n")
    local m, id, p = msg.method, msg.id, msg.params or {}
    if m == "initialize" then
      send{ jsonrpc = "2.0", id = id, result = { protocolVersion = version,
        capabilities = { tools = { listChanged = true } }, serverInfo = { name = "fake", version = "1" },
        instructions = "a fake server for the specs" } }
    elseif m == "tools/list" then
      local from = tonumber(p.cursor or "1")
      local page = {}
      for i = from, math.min(from + 1, #tools) do
        local t = {}
        for k, v in pairs(tools[i]) do t[k] = v end
        t.name = prefix .. t.name
        page[#page + 1] = t
      end
      local res = { tools = page }
      if from + 2 <= #tools then res.nextCursor = tostring(from + 2) end
      send{ jsonrpc = "2.0", id = id, result = res }
    elseif m == "tools/call" then
      local name = tostring(p.name):sub(#prefix + 1)
      local a = p.arguments or {}
      if name == "echo" then
        send{ jsonrpc = "2.0", id = id, result = text("fake echo: " .. tostring(a.message)) }
      elseif name == "pinger" then
        waiting_call = id
        send{ jsonrpc = "2.0", id = next_ping, method = "ping" }
      elseif name == "fail" then
        send{ jsonrpc = "2.0", id = id, error = { code = -32602, message = "fail always fails",
          data = { why = "asked to" } } }
      elseif name == "die" then
        io.stderr:write("dying on purpose\n")
        os.exit(3)
      elseif name == "slow" then
        os.execute("sleep " .. tonumber(a.seconds or 1))
        send{ jsonrpc = "2.0", id = id, result = text("slow done") }
      else
        send{ jsonrpc = "2.0", id = id, result = { isError = true,
          content = { { type = "text", text = "no tool " .. tostring(p.name) } } } }
      end
    elseif m == "ping" then
      send{ jsonrpc = "2.0", id = id, result = {} }
    elseif m == nil and id == next_ping and waiting_call then
      local pong_ok = type(msg.result) == "table"
      send{ jsonrpc = "2.0", id = waiting_call, result = text(pong_ok and "the client answered my ping" or "no pong") }
      waiting_call = nil
      next_ping = next_ping + 1
    elseif id ~= nil then
      send{ jsonrpc = "2.0", id = id, error = { code = -32601, message = "Method not found: " .. tostring(m) } }
    end
  end
end
