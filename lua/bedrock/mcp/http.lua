--- The MCP Streamable HTTP transport over the project's libcurl engine:
-- each message is POSTed to the endpoint (Accept: application/json,
-- text/event-stream); the answer is a JSON body, or an SSE stream whose
-- events carry the response and whatever the server sends before it (a
-- ping, a notification), read once the server ends the stream. The
-- Mcp-Session-Id the server gives at initialize goes on every later
-- request, with MCP-Protocol-Version; close deletes the session. In a task
-- of bedrock.run the exchange yields like any async call.
local cjson = require "cjson"
local errors = require "bedrock.errors"
local http = require "bedrock.transport.http"

local transport = {}

local Http = { __name = "bedrock.mcp.http" }
Http.__index = Http

function transport.open(url, headers)
  if headers ~= nil and type(headers) ~= "table" then
    return nil, errors.invalid("mcp.connect option 'headers' must be a table of name = value")
  end
  return setmetatable({ url = url, headers = headers or {} }, Http)
end

--- The data of each event of an SSE body (lines "data: ..." joined by
-- newlines, an event ended by a blank line).
function transport.sse_events(body)
  local events, data = {}, nil
  for line in (body .. "\n\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    if line == "" then
      if data then events[#events + 1] = table.concat(data, "\n") end
      data = nil
    elseif line:sub(1, 5) == "data:" then
      data = data or {}
      data[#data + 1] = line:sub(6):gsub("^ ", "")
    end
  end
  return events
end

local function mcp_protocol(server, msg)
  return require("bedrock.mcp")._protocol_error(server, msg)
end

local function post(self, server, text, timeout)
  local h = { ["Content-Type"] = "application/json", Accept = "application/json, text/event-stream" }
  for k, v in pairs(self.headers) do h[k] = v end
  if self.session_id then h["Mcp-Session-Id"] = self.session_id end
  if server.protocol_version then h["MCP-Protocol-Version"] = server.protocol_version end
  local resp, err = http.fetch(nil, { method = "POST", url = self.url, headers = h, body = text,
    timeout = timeout or server.timeout, what = server.name })
  if not resp then return nil, err end
  local sid = resp.headers["mcp-session-id"]
  if sid and sid ~= "" and not self.session_id then self.session_id = sid end
  if resp.status == 404 and self.session_id then
    server.closed_err = errors.new{ code = "McpClosed", status = 404,
      message = server.name .. ": the server ended the session (HTTP 404)" }
    return nil, server.closed_err
  end
  local ctype = (resp.headers["content-type"] or ""):lower()
  self.last_content_type = ctype
  local docs = {}
  if ctype:find("text/event-stream", 1, true) then
    docs = transport.sse_events(resp.body or "")
  elseif resp.body and resp.body:find("%S") then
    docs = { resp.body }
  end
  for _, d in ipairs(docs) do
    local ok, msg = pcall(cjson.decode, d)
    if ok and type(msg) == "table" then server:_dispatch(msg) end
  end
  return resp
end

local function http_error(server, resp)
  return errors.new{ code = "McpError", status = resp.status,
    message = string.format("%s: HTTP %d: %s", server.name, resp.status,
      ((resp.body or ""):sub(1, 200):gsub("%s+", " "))) }
end

function Http:send(server, text)
  local resp, err = post(self, server, text)
  if not resp then return nil, err end
  if resp.status >= 400 then return nil, http_error(server, resp) end
  return true
end

function Http:request(server, text, id, timeout)
  local resp, err = post(self, server, text, timeout)
  if not resp then
    if err.code == "TimeoutError" then
      err.message = string.format("%s: no answer to request %d within %g s", server.name, id, timeout)
    end
    return nil, err
  end
  local reply = server.responses[id]
  if reply then return reply end
  if resp.status >= 400 then return nil, http_error(server, resp) end
  return nil, mcp_protocol(server, "HTTP " .. tostring(resp.status) .. " carried no answer to request " .. id)
end

--- Delete the session (not from a finaliser: that sends nothing).
function Http:close(server, from_gc)
  local sid = self.session_id
  self.session_id = nil
  if sid and not from_gc then
    local h = { ["Mcp-Session-Id"] = sid }
    if server.protocol_version then h["MCP-Protocol-Version"] = server.protocol_version end
    pcall(http.fetch, nil, { method = "DELETE", url = self.url, headers = h, timeout = 5, what = server.name })
  end
end

return transport
