--- The response stream of invoke_model_with_response_stream: a generic-for
-- iterator (raising on failure, since a for loop cannot carry nil, err), a
-- next() that returns nil, err instead, and a closing value that aborts the
-- transfer at once when a loop breaks.
--
-- A stream never ends silently short: the end of the loop means the service
-- ended the stream cleanly; anything else raises. It is retried only while
-- no event has reached the caller: a failure to connect, a retryable HTTP
-- error, a reset before the first event, or an exception message before it
-- (throttlingException, serviceUnavailableException,
-- internalServerException, modelNotReadyException), under the client's
-- retry policy (bedrock.policy.retry) like a call. For the policy the attempt
-- succeeded once the first event reaches the caller (or the stream ends
-- cleanly without one).
-- @module bedrock.api.stream
local compat = require "bedrock.compat"
local core = require "bedrock.core"
local errors = require "bedrock.errors"

local stream = {}

--- A response stream (`Client:invoke_model_with_response_stream`, `Client:converse_stream`).
-- In a for loop it yields each event and raises the error object on failure; `break`,
-- `close()` and `<close>` abort the transfer at once.
-- @type Stream
local Stream = { __name = "bedrock.stream" }
Stream.__index = Stream

local reply = require "bedrock.api.reply"
local b64decode = core.b64decode
local json_decode = core.json_decode

-- true, value | false, message, as pcall(cjson.decode, s) gives, but from
-- the core's decoder: JSON integers stay Lua integers
local function decode_json(s)
  local v, msg, at = json_decode(s)
  if v == nil then return false, msg .. " at byte " .. at end
  return true, v
end

-- bedrock.api.client requires this module: look it up when first needed
local function client_module() return package.loaded["bedrock.api.client"] or require("bedrock.api.client") end

--- A stream, opened at once unless err. class and fields are for kinds of
-- stream (bedrock.api.duplex): their metatable and state set before the open.
-- @local
function stream.new(client, req, err, class, fields)
  local self = fields or {}
  self.client, self.req, self.attempts, self.delivered = client, req, 0, 0
  self.started, self.err = core.now(), err
  compat.setmetatable(self, class or Stream)   -- __gc on 5.1 and LuaJIT too
  self.deadline = client:_deadline(self.started)
  self.rstate = client.retry:begin()
  if not err then self:_open() end
  return self
end

function Stream:_open()
  self.attempts = self.attempts + 1
  self.meta = nil   -- each attempt has its own response
  self.client.retry:before_attempt(self.client.driver.sleep)
  local x, err = self.client:_start(self.req, self.deadline)
  if not x then
    err.attempts = self.attempts
    self:_fail(err)
    return
  end
  self.x = x
end

function Stream:_fail(err)
  self:_release()
  err.attempts = err.attempts or self.attempts
  self.err = err
end

function Stream:_release()
  if self.x then
    self.x:close()
    self.x = nil
  end
end

--- The attempt under way succeeded, for the retry policy (once).
-- @local
function Stream:_settle()
  if not self.settled then
    self.settled = true
    self.client.retry:after_attempt(nil)
    self.client.retry:succeeded(self.rstate)
  end
end

--- Either retry (nothing reached the caller yet) or fail with err.
-- @local
function Stream:_retry_or_fail(err)
  self:_release()
  err.attempts = self.attempts
  if not self.settled then
    self.client.retry:after_attempt(err)
    if self.delivered == 0 and not self.closed
        and self.client:_backoff(self.rstate, err, self.attempts, self.deadline) then
      if not self.closed then self:_open() end
      return
    end
  end
  self:_fail(err)
end

local function exception_error(etype, payload, x)
  local ok, doc = decode_json(payload)
  local message = ok and type(doc) == "table" and (doc.message or doc.Message) or payload
  local code = etype and (etype:sub(1, 1):upper() .. etype:sub(2)) or "UnknownException"
  local err = errors.new{
    code = code, exception_type = etype, message = tostring(message),
    request_id = x:headers()["x-amzn-requestid"],
    details = ok and type(doc) == "table" and doc or nil,
  }
  err.retryable = errors.classify(err)
  return err
end

--- What one queued message means for the caller: returns true, value, err
-- when next() should return (value, err), or false to keep looking.
local function on_message(self, x, kind, etype, payload, unwrapped)
  if kind == "event" then
    if etype == "chunk" and not self.req.events then
      local inner = payload
      if not unwrapped then
        local ok, doc = decode_json(payload)
        local b64 = ok and type(doc) == "table" and doc.bytes
        inner = type(b64) == "string" and b64decode(b64) or nil
        if not inner then
          self:_fail(errors.new{ code = "EventStreamError",
            message = "a chunk event without base64 'bytes'", attempts = self.attempts })
          return true, nil, self.err
        end
      end
      self.delivered = self.delivered + 1
      self:_settle()
      local ok, ev
      if unwrapped == "json" then
        -- the transfer decoded the chunk's base64 and JSON in C
        ok, ev = true, payload
      elseif self.req.raw then
        -- undecoded for the caller; the last chunk is still read for the ledger
        if not inner:find("amazon-bedrock-invocationMetrics", 1, true) then return true, inner end
        ok, ev = decode_json(inner)
      else
        local perr
        ev, perr = reply.decode(inner, self.meta.status, self.meta.request_id, "a chunk event")
        if perr then
          perr.attempts = self.attempts
          self:_fail(perr)
          return true, nil, self.err
        end
        ok = true
      end
      if ok and type(ev) == "table" then
        local metrics = ev["amazon-bedrock-invocationMetrics"]
        if type(metrics) == "table" then
          self.meta.usage = require("bedrock.policy.usage").from_metrics(metrics)
          self.meta.metrics = metrics
          self.client:_record_usage(self.req, self.meta.usage, self.meta)
        end
      end
      if self.req.raw then return true, inner end
      return true, ev
    elseif self.req.events then
      local ev, err = self:_converse_event(etype, payload)
      if err then return true, nil, err end
      if ev then return true, ev end
    end
    return false  -- other event types are not part of this operation's stream: skip
  elseif kind == "exception" then
    self:_retry_or_fail(exception_error(etype, payload, x))
    return false
  end
  self:_fail(errors.new{ code = etype or "EventStreamError",
    message = payload or ("a stream message of type " .. kind),
    request_id = self.meta.request_id })
  return true, nil, self.err
end

--- The next event: a decoded table (or the inner bytes with raw = true),
-- nil at the clean end, or nil, err.
-- @return the event, or nil at the clean end, or nil, err
function Stream:next()
  -- The hot path: a message already queued on an open stream whose 2xx
  -- headers are in (meta is set only then; a failed or closed stream has
  -- no transfer left).
  local x = self.x
  if x and self.meta then
    local kind, etype, payload, unwrapped = x:next_event()
    -- hotter still: a chunk the transfer decoded to a table in C, on a
    -- settled attempt, with no invocation metrics for the ledger in it
    if unwrapped == "json" and self.settled and etype == "chunk" and type(payload) == "table"
        and payload["amazon-bedrock-invocationMetrics"] == nil then
      self.delivered = self.delivered + 1
      return payload
    end
    if kind then
      local done, value, err = on_message(self, x, kind, etype, payload, unwrapped)
      if done then return value, err end
    end
  end
  local driver = self.client.driver
  while true do
    if self.err then return nil, self.err end
    if self.closed then return nil end
    x = self.x
    if not x then return nil, self.err end
    local status, complete = x:status()
    if not complete then
      if x:state() == "running" then
        driver.wait(x)
      else
        self:_retry_or_fail(client_module().transfer_error(x))
      end
    elseif status < 200 or status > 299 then
      -- an error document: wait for all of it
      if x:state() == "running" then
        driver.wait(x)
      else
        self:_retry_or_fail(client_module().response_error(x))
      end
    else
      if not self.meta then
        self.meta = client_module().response_meta(x, self.attempts, self.started)
        local ctype = self.meta.headers["content-type"]
        if ctype and not ctype:lower():find("^%s*application/vnd%.amazon%.eventstream") then
          -- a proxy's page, or a JSON document with a 200: not an event stream
          self:_fail(errors.new{ code = "EventStreamError", reason = "EVS_CONTENT_TYPE",
            message = "the response is " .. ctype:sub(1, 100)
              .. ", not an event stream (application/vnd.amazon.eventstream)",
            status = status, request_id = self.meta.request_id, attempts = self.attempts })
          return nil, self.err
        end
      end
      local kind, etype, payload, unwrapped = x:next_event()
      if kind ~= nil then
        local done, value, err = on_message(self, x, kind, etype, payload, unwrapped)
        if done then return value, err end
      else
        local state = x:state()
        if state == "running" then
          driver.wait(x)
        elseif state == "done" then
          self.meta.latency_ms = (core.now() - self.started) * 1000
          if self.req.events and not self.saw_metadata then
            -- ConverseStream always ends with messageStop, then metadata:
            -- a clean HTTP end before them is a stream cut short
            self:_fail(errors.new{ code = "EventStreamError", request_id = self.meta.request_id,
              message = "the stream ended before its metadata event (" .. self.delivered .. " events)" })
            return nil, self.err
          end
          self:_settle()
          self:_release()
          self.closed = true
          return nil
        else
          self:_retry_or_fail(client_module().transfer_error(x))
        end
      end
    end
  end
end

--- An event of an event-stream union other than invoke's chunks
-- (converse_stream): its decoded payload with type = the event name, as the
-- service model names it (messageStart, contentBlockDelta, metadata...).
-- Returns the event, nothing for an event type the model does not know
-- (skipped, as the SDKs do), or nil, err.
-- @local
function Stream:_converse_event(etype, payload)
  local known = false
  for _, row in ipairs(self.req.events.members) do
    if row[1] == etype then known = true break end
  end
  if not known then return nil end
  local ev, perr = reply.decode(payload, self.meta.status, self.meta.request_id,
    "a " .. tostring(etype) .. " event")
  if perr then
    perr.attempts = self.attempts
    self:_fail(perr)
    return nil, self.err
  end
  if type(ev) ~= "table" then
    self:_fail(errors.new{ code = "EventStreamError", request_id = self.meta.request_id,
      message = "a " .. tostring(etype) .. " event whose payload is not a JSON object" })
    return nil, self.err
  end
  ev.p = nil             -- Bedrock's random-length padding
  ev.type = etype
  self.delivered = self.delivered + 1
  self:_settle()
  if etype == "metadata" then
    self.saw_metadata = true
    local u = require("bedrock.policy.usage").from_converse(ev.usage)
    if u then
      self.meta.usage = u
      self.meta.metrics = ev.metrics
      self.client:_record_usage(self.req, u, self.meta)
    end
  end
  return ev
end

--- The generic-for step: raises the error object instead of returning it.
function Stream:__call()
  -- Stream:next's hot path again, a call less per event of a for loop
  local x = self.x
  if x and self.settled and self.meta then
    local kind, etype, payload, unwrapped = x:next_event()
    if unwrapped == "json" and etype == "chunk" and type(payload) == "table"
        and payload["amazon-bedrock-invocationMetrics"] == nil then
      self.delivered = self.delivered + 1
      return payload
    end
    if kind then
      local done, value, err = on_message(self, x, kind, etype, payload, unwrapped)
      if done then
        if value == nil and err then error(err, 0) end
        return value
      end
    end
  end
  local ev, err = self:next()
  if ev == nil and err then error(err, 0) end
  return ev
end

--- Abort the transfer now (idempotent). The loop's closing value calls it.
function Stream:close()
  self.closed = true
  self:_release()
end
Stream.__close = Stream.close
Stream.__gc = Stream.close

function Stream:__tostring()
  return "bedrock.stream(" .. (self.req and self.req.path or "?") .. ", " .. (self.closed and "closed" or "open") .. ")"
end

--- status, request_id, headers, usage (once the final metrics arrived),
-- attempts: nil until the stream's response headers arrived.
-- @treturn ?table meta
function Stream:get_meta() return self.meta end

stream.Stream = Stream   -- for bedrock.api.duplex, a stream with an input side

return stream
