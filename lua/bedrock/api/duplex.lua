--- The session of invoke_model_with_bidirectional_stream: input events go
-- out while output events come in, on one HTTP/2 stream.
--
--   local s = client:invoke_model_with_bidirectional_stream{ model_id = ... }
--   s:send{ event = { sessionStart = { ... } } }   -- a table (sent as JSON) or a JSON string
--   s:close_input()                                 -- no more input; the model finishes
--   for ev in s do ... end                          -- output events, as a response stream's
--
-- Reading is the response stream's (bedrock.api.stream): a session is one with
-- an input side. Each input event travels as the service's chunk event
-- inside an envelope signed into a chain that starts at the request's own
-- signature (SigV4 only: Bedrock API keys do not work here).
--
-- Retries: until the service has accepted the session (its response
-- headers), a failure the retry policy allows opens a new session and sends
-- again, re-signed, every input event sent so far; from then on failures
-- are the caller's, like a stream's after its first event.
-- @module bedrock.api.duplex
local core = require "bedrock.core"
local errors = require "bedrock.errors"
local stream = require "bedrock.api.stream"

local Stream = stream.Stream
local encode_json = require("cjson").encode

local duplex = {}

--- A bidirectional session: a `bedrock.api.stream.Stream` with an input side. Its reads
-- (`next`, the for loop, `get_meta`) are the stream's; `break`, `close()` and `<close>`
-- reset the HTTP/2 stream.
-- @type Duplex
local Duplex = setmetatable({ __name = "bedrock.duplex" }, { __index = Stream })
Duplex.__index = Duplex
Duplex.__call = Stream.__call

-- bedrock.api.client requires this module: look it up when first needed
local function client_module() return package.loaded["bedrock.api.client"] or require("bedrock.api.client") end

function duplex.new(client, req, err)
  -- replay: the input sent so far, while a retry may still resend it
  return stream.new(client, req, err, Duplex, { replay = {} })
end

--- One attempt: a new HTTP/2 stream and a new signing chain; the input of
-- a failed attempt goes out again.
-- @local
function Duplex:_open()
  self.attempts = self.attempts + 1
  self.meta = nil
  self.client.retry:before_attempt(self.client.driver.sleep)
  local x, err, seed, creds = self.client:_start(self.req, self.deadline)
  if not x then
    err.attempts = self.attempts
    self:_fail(err)
    return
  end
  self.x = x
  self.signer = core.event_signer{ seed = seed, region = self.client.config.region_name,
    service = "bedrock", secret_access_key = creds.secret_access_key }
  for _, bytes in ipairs(self.replay) do x:send(self.signer:chunk(bytes)) end
  if self.input_closed then
    x:send(self.signer:finish())
    x:send_end()
  end
end

function Duplex:_release()
  Stream._release(self)
  if self.signer then
    self.signer:close()   -- wipes its copy of the secret
    self.signer = nil
  end
end

--- Once the service has accepted the session nothing is resent: a failure
-- is the caller's.
-- @local
function Duplex:_retry_or_fail(err)
  if self.meta or not self.replay then
    self:_release()
    if not self.settled then self.client.retry:after_attempt(err) end
    err.attempts = self.attempts
    self:_fail(err)
    return
  end
  Stream._retry_or_fail(self, err)
end

--- The accepted session's input is no longer kept for a retry.
local function accepted(x)
  local status, complete = x:status()
  return complete and status >= 200 and status <= 299
end

--- The attempt ended while input was going out: why (as next() would see
-- it).
local function ended_error(x)
  if x:state() == "failed" then return client_module().transfer_error(x) end
  return client_module().response_error(x)
    or errors.new{ code = "EventStreamError", request_id = x:headers()["x-amzn-requestid"],
      message = "the service ended the session; it takes no more input" }
end

--- Input met an ended attempt. An accepted session's output stays for the
-- reader (its events, then how it ended), and the input gets nil, err; a
-- session not yet accepted is retried when the policy allows (the input is
-- resent), else failed. Returns send's results.
-- @local
function Duplex:_input_refused(x)
  local err = ended_error(x)
  if accepted(x) then return nil, err end
  self:_retry_or_fail(err)
  if self.err then return nil, self.err end
  return true
end

local SEND_HIGH_WATER = 64 * 1024

--- Send one input event: a table (encoded as JSON) or a string (sent as is,
-- the model's JSON). Returns true, or nil, err. Waits (yields, in the
-- async client) only while 64 KiB of input are still queued.
-- @tparam table|string event
-- @return true, or nil, err
function Duplex:send(event)
  local bytes = event
  if type(event) == "table" then
    local ok, encoded = pcall(encode_json, event)
    if not ok then return nil, errors.invalid("the event cannot be encoded as JSON: " .. tostring(encoded)) end
    bytes = encoded
  elseif type(event) ~= "string" then
    return nil, errors.invalid("an input event must be a table or a string, got " .. type(event))
  end
  if self.err then return nil, self.err end
  if self.closed then return nil, errors.invalid("the session is closed") end
  if self.input_closed then return nil, errors.invalid("the input is closed (close_input was called)") end
  local x = self.x
  if self.replay then
    if accepted(x) then self.replay = nil else self.replay[#self.replay + 1] = bytes end
  end
  local pending = x:send(self.signer:chunk(bytes))
  if not pending then return self:_input_refused(x) end   -- a retry resends this event too
  local driver = self.client.driver
  if pending >= SEND_HIGH_WATER then
    -- wait for room: libcurl takes the queue as HTTP/2 flow control allows
    while self.x == x and not self.err and x:state() == "running"
        and x:send_pending() >= SEND_HIGH_WATER / 2 do
      driver.wait(x)
    end
  elseif driver.poke then
    driver.poke()               -- start the bytes on their way now
  end
  if self.err then return nil, self.err end
  return true
end

--- End the input (the service's end-of-input envelope). The session's
-- output still comes, to its end. Idempotent.
-- @return true, or nil, err
function Duplex:close_input()
  if self.err then return nil, self.err end
  if self.closed then return nil, errors.invalid("the session is closed") end
  if self.input_closed then return true end
  self.input_closed = true
  local x = self.x
  if not x:send(self.signer:finish()) or not x:send_end() then return self:_input_refused(x) end
  if self.client.driver.poke then self.client.driver.poke() end
  return true
end

--- Reset the session's HTTP/2 stream now (idempotent); the loop's closing value calls it.
function Duplex:close()
  self.closed = true
  self:_release()
end
Duplex.__close = Duplex.close
Duplex.__gc = Duplex.close

function Duplex:__tostring()
  return "bedrock.duplex(" .. (self.req and self.req.path or "?") .. ", "
    .. (self.closed and "closed" or self.input_closed and "input closed" or "open") .. ")"
end

return duplex
