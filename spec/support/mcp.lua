-- MCP servers for the specs: server-everything (installed by `make deps` in
-- spec/support/npm) over stdio and over Streamable HTTP, and the small fake
-- server of mcp_fake.lua.
local core = require "bedrock.core"

local support = {}

local function script_dir()
  local src = debug.getinfo(1, "S").source
  return src:sub(2):match("^(.*)/[^/]*$") or "."
end
local dir = script_dir()
local dist = dir .. "/npm/node_modules/@modelcontextprotocol/server-everything/dist"

support.everything = { command = "node", args = { dist .. "/index.js", "stdio" }, name = "everything" }

function support.installed()
  local f = io.open(dist .. "/index.js", "rb")
  if f then f:close() end
  return f ~= nil
end

--- The fake server's connect options (extra: its arguments).
function support.fake(extra)
  local args = { dir .. "/mcp_fake.lua" }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  return { command = "lua5.4", args = args, name = "fake" }
end

--- server-everything's Streamable HTTP server on 127.0.0.1: its url, and the
-- process (close it to stop the server). json: replies as application/json.
function support.start_http(json)
  local p = assert(core.spawn_shell((json and "MCP_JSON_RESPONSE=1 " or "") .. "exec node '" .. dir .. "/mcp_http.mjs' '" .. dist
    .. "/transports/streamableHttp.js'", { stdin = true }))
  local t0, port = core.now(), nil
  while not port do
    assert(core.now() - t0 < 20, "server-everything's HTTP server did not start")
    local state = p:poll(50)
    local line = p:read_line()
    while line do
      port = port or line:match("^PORT (%d+)$")
      line = p:read_line()
    end
    assert(port or state == "running", "server-everything's HTTP server exited: " .. select(2, p:output()))
  end
  return "http://127.0.0.1:" .. port .. "/mcp", p
end

return support
