--- bedrock.mcp: a Model Context Protocol client (JSON-RPC 2.0, protocol
-- revision 2025-11-25, older revisions the server may answer with).
--
--   local server = assert(mcp.connect{ command = "node", args = { "server.js" } })  -- stdio
--   local server = assert(mcp.connect{ url = "http://127.0.0.1:3001/mcp" })          -- Streamable HTTP
--   server:tools()                 -- every tool, pages followed
--   server:call("echo", { message = "hi" })  -- the result: { content = {...}, isError = ... }
--   server:resources(); server:read(uri); server:prompts(); server:prompt(name, args)
--   server:close()
--
-- Every call returns its result, or nil and an error object: code "McpError"
-- for a JSON-RPC error from the server (rpc_code is its number, data its
-- data), "McpClosed" once the server has gone (its exit status and the end
-- of its stderr in the message), "TimeoutError" for a request that had no
-- answer in time (the server is told with notifications/cancelled), and
-- "McpProtocolError" for what is not MCP. A tool that fails is not an error
-- here: its result has isError = true. The server's ping is answered; other
-- requests from the server get "method not found" (this client offers no
-- sampling, roots or elicitation). In an async client's task every wait
-- yields, so other tasks run meanwhile, several calls may share a server.
-- @module bedrock.mcp
local compat = require "bedrock.compat"
local cjson = require "cjson"
local core = require "bedrock.core"
local errors = require "bedrock.errors"

local mcp = {}

mcp.PROTOCOL_VERSION = "2025-11-25"
mcp.SUPPORTED_VERSIONS = { "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05" }
mcp.TIMEOUT = 60          -- seconds a request waits for its answer, unless told
mcp.MAX_PAGES = 1000      -- a list that pages on past this is an error

-- JSON-RPC error codes
mcp.PARSE_ERROR, mcp.INVALID_REQUEST, mcp.METHOD_NOT_FOUND = -32700, -32600, -32601
mcp.INVALID_PARAMS, mcp.INTERNAL_ERROR = -32602, -32603

--- A connected server (from `connect`).
-- @type Server
local Server = { __name = "bedrock.mcp.server" }
Server.__index = Server

local function int(v) return type(v) == "number" and compat.tointeger(v) or nil end

local function protocol_error(server, msg)
  return errors.new{ code = "McpProtocolError", message = server.name .. ": " .. msg }
end
mcp._protocol_error = protocol_error

-- An error object for a JSON-RPC error member.
function mcp._rpc_error(server, e, method)
  local code = type(e) == "table" and int(e.code) or nil
  local msg = type(e) == "table" and type(e.message) == "string" and e.message or "an error without a message"
  return errors.new{ code = "McpError", rpc_code = code, data = type(e) == "table" and e.data or nil,
    method = method, message = string.format("%s: %s failed (%s): %s", server.name, tostring(method),
      tostring(code), msg) }
end

local function encode(msg)
  return (cjson.encode(msg))
end

-- ------------------------------------------------------------- dispatch

-- Handle one message from the server: a response goes to its waiting
-- request; a request is answered; a notification is passed on.
function Server:_dispatch(msg)
  if type(msg) ~= "table" then return end
  if msg[1] ~= nil then                      -- a batch (2025-03-26 allowed them)
    for _, m in ipairs(msg) do self:_dispatch(m) end
    return
  end
  local id = msg.id
  if id == cjson.null then id = nil end
  if type(id) == "number" then id = int(id) or id end
  if msg.method == nil then
    if id ~= nil and self.pending[id] then
      self.pending[id] = nil
      self.responses[id] = msg
    end
    return
  end
  if id ~= nil then
    local reply
    if msg.method == "ping" then
      reply = { jsonrpc = "2.0", id = msg.id, result = {} }
    else
      reply = { jsonrpc = "2.0", id = msg.id, error = { code = mcp.METHOD_NOT_FOUND,
        message = "method not offered by this client: " .. tostring(msg.method) } }
    end
    self.answered[#self.answered + 1] = msg.method
    self.transport:send(self, encode(reply))
    return
  end
  if msg.method == "notifications/tools/list_changed" then self.tool_list = nil end
  if self.on_notification then pcall(self.on_notification, msg.method, msg.params) end
end

-- --------------------------------------------------------------- calls

--- Send a request and wait for its answer: the result, or nil, err.
-- `opts.timeout`: seconds (default `mcp.TIMEOUT`); a request that times out is cancelled.
-- @tparam string method a JSON-RPC method (`"tools/list"`)
-- @tparam[opt] table params
-- @tparam[opt] table opts
function Server:request(method, params, opts)
  if self.closed_err then return nil, self.closed_err end
  local timeout = opts and opts.timeout or self.timeout
  if type(timeout) ~= "number" or timeout <= 0 then
    return nil, errors.invalid("an mcp request's timeout must be a positive number of seconds")
  end
  local id = self.next_id
  self.next_id = id + 1
  local msg = { jsonrpc = "2.0", id = id, method = method }
  if params ~= nil then msg.params = params end
  self.pending[id] = true
  local reply, err = self.transport:request(self, encode(msg), id, timeout)
  self.pending[id] = nil
  self.responses[id] = nil
  if not reply then
    if err and err.code == "TimeoutError" then
      err.method = method
      if not self.closed_err then self:notify("notifications/cancelled", { requestId = id, reason = "timed out" }) end
    end
    return nil, err
  end
  if reply.error ~= nil and reply.error ~= cjson.null then
    return nil, mcp._rpc_error(self, reply.error, method)
  end
  if type(reply.result) ~= "table" then
    return nil, protocol_error(self, "the answer to " .. method .. " has no result object")
  end
  return reply.result
end

--- Send a notification (no answer comes).
-- @tparam string method
-- @tparam[opt] table params
function Server:notify(method, params)
  if self.closed_err then return nil, self.closed_err end
  local msg = { jsonrpc = "2.0", method = method }
  if params ~= nil then msg.params = params end
  return self.transport:send(self, encode(msg))
end

-- A list method followed through its pages.
local function list_all(self, method, key, opts)
  local out, cursor = {}, nil
  for _ = 1, mcp.MAX_PAGES do
    local result, err = self:request(method, cursor and { cursor = cursor } or nil, opts)
    if not result then return nil, err end
    local items = result[key]
    if items ~= nil and type(items) ~= "table" then
      return nil, protocol_error(self, method .. " answered " .. key .. " that is not a list")
    end
    for _, item in ipairs(items or {}) do out[#out + 1] = item end
    cursor = result.nextCursor
    if type(cursor) ~= "string" or cursor == "" then return out end
  end
  return nil, protocol_error(self, method .. " went on past " .. mcp.MAX_PAGES .. " pages")
end

--- Every tool: { name, description, inputSchema, ... } (kept until the
-- server says the list changed; `opts.refresh` asks again). Pages are followed.
-- @tparam[opt] table opts `refresh`, `timeout`
function Server:tools(opts)
  if self.tool_list and not (opts and opts.refresh) then return self.tool_list end
  local list, err = list_all(self, "tools/list", "tools", opts)
  if not list then return nil, err end
  self.tool_list = list
  return list
end

--- Call a tool: its result { content = { {type = "text", text}, ... },
-- isError, structuredContent }, or nil, err. A tool that fails is a result with `isError`.
-- @tparam string name
-- @tparam[opt] table arguments
-- @tparam[opt] table opts `timeout`
function Server:call(name, arguments, opts)
  if type(name) ~= "string" then return nil, errors.invalid("mcp call needs a tool name (a string)") end
  local args = arguments
  if args == nil or (type(args) == "table" and next(args) == nil) then
    args = {}
  end
  return self:request("tools/call", { name = name, arguments = args }, opts)
end

--- Every resource: `{ uri, name, mimeType, ... }`, pages followed.
-- @tparam[opt] table opts `timeout`
function Server:resources(opts) return list_all(self, "resources/list", "resources", opts) end
--- Every resource template: `{ uriTemplate, name, ... }`, pages followed.
-- @tparam[opt] table opts `timeout`
function Server:resource_templates(opts)
  return list_all(self, "resources/templates/list", "resourceTemplates", opts)
end

--- Read a resource: { contents = { { uri, mimeType, text | blob }, ... } }.
-- @tparam string uri
-- @tparam[opt] table opts `timeout`
function Server:read(uri, opts)
  if type(uri) ~= "string" then return nil, errors.invalid("mcp read needs a resource uri (a string)") end
  return self:request("resources/read", { uri = uri }, opts)
end

--- Every prompt: `{ name, description, arguments }`, pages followed.
-- @tparam[opt] table opts `timeout`
function Server:prompts(opts) return list_all(self, "prompts/list", "prompts", opts) end

--- Get a prompt: { description, messages = { { role, content }, ... } }.
-- @tparam string name
-- @tparam[opt] table arguments
-- @tparam[opt] table opts `timeout`
function Server:prompt(name, arguments, opts)
  if type(name) ~= "string" then return nil, errors.invalid("mcp prompt needs a prompt name (a string)") end
  local params = { name = name }
  if arguments ~= nil and next(arguments) ~= nil then params.arguments = arguments end
  return self:request("prompts/get", params, opts)
end

--- Ping the server: true, or nil, err.
-- @tparam[opt] table opts `timeout`
function Server:ping(opts)
  local r, err = self:request("ping", nil, opts)
  if not r then return nil, err end
  return true
end

--- End the session: the stdio server is killed and reaped, an HTTP session
-- deleted. Idempotent; later calls fail with McpClosed.
function Server:close()
  if not self.closed_err then
    self.closed_err = errors.new{ code = "McpClosed", message = self.name .. ": the connection was closed" }
  end
  if self.transport then self.transport:close(self) end
end
Server.__close = Server.close

-- collected: a stdio server is killed and reaped (no request is sent from a finaliser)
function Server:__gc()
  if self.transport then self.transport:close(self, true) end
end

function Server:__tostring()
  return string.format("bedrock.mcp.server(%s, %s)", self.name, self.closed_err and "closed" or "open")
end

--- @section end

-- ------------------------------------------------------------- connect

local connect_keys = { command = true, args = true, url = true, headers = true, name = true,
  timeout = true, client_info = true, capabilities = true, on_notification = true, protocol_version = true }

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- mcp.connect{ command [, args] | url [, headers], name, timeout,
-- client_info, capabilities, on_notification } -> server | nil, err.
-- command: a shell command line (args, a list, are quoted and appended);
-- url: a Streamable HTTP endpoint. The initialize handshake is done here.
-- @tparam table opts
-- @return a `Server`, or nil, err
function mcp.connect(opts)
  if type(opts) ~= "table" then return nil, errors.invalid("mcp.connect needs a table of options") end
  for k in pairs(opts) do
    if not connect_keys[k] then return nil, errors.invalid("unknown mcp.connect option '" .. tostring(k) .. "'") end
  end
  local timeout = opts.timeout or mcp.TIMEOUT
  if type(timeout) ~= "number" or timeout <= 0 then
    return nil, errors.invalid("mcp.connect option 'timeout' must be a positive number of seconds")
  end
  local self = setmetatable({ next_id = 1, pending = {}, responses = {}, answered = {}, timeout = timeout,
    on_notification = opts.on_notification }, Server)
  local terr
  if type(opts.command) == "string" and opts.command ~= "" then
    local line = opts.command
    if opts.args ~= nil then
      if type(opts.args) ~= "table" then return nil, errors.invalid("mcp.connect option 'args' must be a list") end
      for _, a in ipairs(opts.args) do line = line .. " " .. shell_quote(a) end
    end
    -- by default the program's name: "node", "npx", "my-server"
    self.name = opts.name or (opts.command:match("^%s*['\"]?([^%s'\"]+)") or "mcp"):match("([^/]*)$")
    self.transport, terr = require("bedrock.mcp.stdio").open(line)
  elseif type(opts.url) == "string" and opts.url:match("^https?://") then
    self.name = opts.name or opts.url
    self.transport, terr = require("bedrock.mcp.http").open(opts.url, opts.headers)
  else
    return nil, errors.invalid("mcp.connect needs a command (a non-empty string) or an http(s) url")
  end
  if type(self.name) ~= "string" then return nil, errors.invalid("mcp.connect option 'name' must be a string") end
  if not self.transport then
    terr.message = self.name .. ": " .. terr.message
    return nil, terr
  end
  local wanted = opts.protocol_version or mcp.PROTOCOL_VERSION
  local result, err = self:request("initialize", {
    protocolVersion = wanted,
    capabilities = opts.capabilities or {},
    clientInfo = opts.client_info or { name = "lua-bedrock", version = core._VERSION },
  })
  if not result then
    self:close()
    return nil, err
  end
  local version = result.protocolVersion
  local known = false
  for _, v in ipairs(mcp.SUPPORTED_VERSIONS) do known = known or v == version end
  if not known then
    self:close()
    return nil, protocol_error(self, "the server speaks protocol version " .. tostring(version)
      .. "; this client speaks " .. table.concat(mcp.SUPPORTED_VERSIONS, ", "))
  end
  self.protocol_version = version
  self.capabilities = type(result.capabilities) == "table" and result.capabilities or {}
  self.info = type(result.serverInfo) == "table" and result.serverInfo or {}
  self.instructions = type(result.instructions) == "string" and result.instructions or nil
  local ok, nerr = self:notify("notifications/initialized")
  if not ok then
    self:close()
    return nil, nerr
  end
  return self
end

mcp.Server = Server

return mcp
