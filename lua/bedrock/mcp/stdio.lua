--- The MCP stdio transport: the server is a child process (core.spawn_shell
-- with a stdin socket), messages are lines of JSON both ways. Waiting polls
-- the child: a sync caller blocks in poll for up to 20 ms at a time; a task
-- of bedrock.run polls without blocking and sleeps 5 ms between, so the
-- other tasks go on. Whichever waiting caller polls hands every message it
-- reads to the server object, so several requests can be in flight at once.
local cjson = require "cjson"
local core = require "bedrock.core"
local errors = require "bedrock.errors"
local scheduler = require "bedrock.transport.scheduler"

local stdio = {}

local Stdio = { __name = "bedrock.mcp.stdio" }
Stdio.__index = Stdio

function stdio.open(command)
  local p, perr = core.spawn_shell(command, { stdin = true })
  if not p then
    return nil, errors.new{ code = "McpClosed", message = "cannot start the server: " .. tostring(perr) }
  end
  return setmetatable({ proc = p, out = {}, command = command }, Stdio)
end

-- The error every call gets once the server has gone.
local function gone(self, server)
  if server.closed_err then return server.closed_err end
  local _, how, code = self.proc:poll(0)
  local _, stderr = self.proc:output()
  stderr = stderr:gsub("%s+$", ""):gsub("%s*\n%s*", " | ")   -- one line
  if #stderr > 500 then stderr = "..." .. stderr:sub(-500) end
  local status = how and (how == "signal" and "killed by signal " or "exit status ") .. tostring(code)
    or "its output closed"
  server.closed_err = errors.new{ code = "McpClosed", exit = how, exit_code = code,
    message = server.name .. ": the server has gone (" .. status .. ")"
      .. (stderr ~= "" and ("; stderr: " .. stderr) or "") }
  return server.closed_err
end

-- Move queued output into the child's stdin, as much as it takes now.
local function flush(self, server)
  local out = self.out
  while out[1] do
    local n, err = self.proc:write(out[1])
    if not n then
      self.out = {}
      return nil, gone(self, server), err
    end
    if n == 0 then return true end
    if n < #out[1] then
      out[1] = out[1]:sub(n + 1)
      return true
    end
    table.remove(out, 1)
  end
  return true
end

function Stdio:send(server, text)
  if server.closed_err then return nil, server.closed_err end
  self.out[#self.out + 1] = text .. "\n"
  return flush(self, server)
end

-- Read what the child has written and dispatch it. Returns the process
-- state ("running" or "exited").
local function pump(self, server, wait_ms)
  local state = self.proc:poll(wait_ms)
  local line = self.proc:read_line()
  while line do
    if line:find("%S") then
      local ok, msg = pcall(cjson.decode, line)
      if ok then
        server:_dispatch(msg)
      else
        server.noise = (server.noise or 0) + 1   -- not JSON: a stray print on stdout
      end
    end
    line = self.proc:read_line()
  end
  local _, _, cut = self.proc:output()
  if cut then
    self.proc:kill()
    server.closed_err = errors.new{ code = "McpProtocolError",
      message = server.name .. ": the server wrote a line of more than 16 MiB" }
    return "exited"
  end
  return state
end

function Stdio:request(server, text, id, timeout)
  local ok, err = self:send(server, text)
  if not ok then return nil, err end
  local async = scheduler.in_task()
  local deadline = core.now() + timeout
  while true do
    local reply = server.responses[id]
    if reply then return reply end
    if server.closed_err then return nil, server.closed_err end
    if self.out[1] then
      ok, err = flush(self, server)
      if not ok then return nil, err end
    end
    local state = pump(self, server, async and 0 or 20)
    reply = server.responses[id]
    if reply then return reply end
    if state == "exited" then return nil, gone(self, server) end
    if core.now() >= deadline then
      return nil, errors.new{ code = "TimeoutError", phase = "read",
        message = string.format("%s: no answer to request %d within %g s", server.name, id, timeout) }
    end
    if async then scheduler.sleep(0.005) end
  end
end

--- Close stdin, give the server a moment to go, then kill and reap it (a
-- finaliser kills at once).
function Stdio:close(_, from_gc)
  local p = self.proc
  if not p then return end
  self.proc = nil
  if not from_gc then
    p:close_stdin()
    local t0 = core.now()
    while p:poll(10) == "running" and core.now() - t0 < 0.2 do end
  end
  p:close()
end

return stdio
