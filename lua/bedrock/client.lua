--- BedrockClient and AsyncBedrockClient: the same operations over the same
-- engine code, differing only in how they wait. A sync client owns an
-- engine and pumps it until its request is ready; an async client waits by
-- yielding its task to the scheduler, which pumps the shared engine.
local core = require "bedrock.core"
local cjson = require "cjson"
local config = require "bedrock.config"
local credentials = require "bedrock.credentials"
local errors = require "bedrock.errors"
local retry = require "bedrock.retry"
local scheduler = require "bedrock.scheduler"

local client = {}

client.USER_AGENT = "lua-bedrock/" .. core._VERSION .. " " .. _VERSION:gsub(" ", "/")

local decode_json = cjson.decode
local encode_json = cjson.encode

-- ------------------------------------------------------------------ drivers

local function sync_driver()
  local engine = core.engine()
  return {
    engine = function() return engine end,
    -- one pump: returns once anything moved (or a second passed)
    wait = function() engine:pump(1000) end,
    sleep = core.sleep,
    close = function() engine:close() end,
  }
end

local async_driver = {
  engine = function()
    scheduler.current_task("an async client call")
    return scheduler.engine()
  end,
  wait = scheduler.wait_transfer,
  sleep = scheduler.sleep,
  close = function() end,  -- the shared engine outlives any one client
}

-- -------------------------------------------------------------- parameters

--- Percent-encode a path label: every byte outside the unreserved set, so
-- ':' and '/' in model ids, ARNs and inference profiles are %3A and %2F.
local function encode_label(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end
client.encode_label = encode_label

local function check_string(params, key, required)
  local v = params[key]
  if v == nil then
    if required then return nil, errors.invalid("'" .. key .. "' is required") end
    return true
  end
  if type(v) ~= "string" then
    return nil, errors.invalid("'" .. key .. "' must be a string, got " .. type(v))
  end
  if required and v == "" then return nil, errors.invalid("'" .. key .. "' must not be empty") end
  if v:find("[%z\r\n]") then
    return nil, errors.invalid("'" .. key .. "' contains a CR, LF or NUL")
  end
  return true
end

local invoke_keys = { model_id = true, body = true, content_type = true, accept = true, raw = true }

--- Check invoke parameters and build the request: { path, headers, body }.
local function build_invoke(params, streaming)
  if type(params) ~= "table" then
    return nil, errors.invalid("parameters must be a table, got " .. type(params))
  end
  for k in pairs(params) do
    if not invoke_keys[k] then return nil, errors.invalid("unknown parameter '" .. tostring(k) .. "'") end
  end
  for _, k in ipairs{ "model_id", "content_type", "accept" } do
    local ok, err = check_string(params, k, k == "model_id")
    if not ok then return nil, err end
  end
  local body = params.body
  if type(body) == "table" then
    local ok, encoded = pcall(encode_json, body)
    if not ok then
      return nil, errors.invalid("'body' cannot be encoded as JSON: " .. tostring(encoded))
    end
    body = encoded
  elseif body == nil then
    body = ""
  elseif type(body) ~= "string" then
    return nil, errors.invalid("'body' must be a table or a string, got " .. type(body))
  end
  local accept = params.accept or "application/json"
  return {
    path = "/model/" .. encode_label(params.model_id)
      .. (streaming and "/invoke-with-response-stream" or "/invoke"),
    headers = {
      ["Content-Type"] = params.content_type or "application/json",
      -- the stream's own Accept is the event stream; the model's travels apart
      [streaming and "X-Amzn-Bedrock-Accept" or "Accept"] = accept,
    },
    body = body,
    stream = streaming,
    raw = params.raw and true or false,
  }
end

-- ------------------------------------------------------------------ client

local Client = {}
Client.__index = Client

local function make(user_config, driver, kind)
  local cfg = config.build(user_config)
  local self = setmetatable({ config = cfg, driver = driver, kind = kind }, Client)
  -- one retry policy per client: its quota and rate limiter are shared by
  -- all the client's calls and streams
  self.retry = retry.new(cfg)
  return self
end

function client.new(user_config)
  local self = make(user_config, nil, "BedrockClient")
  self.driver = sync_driver()
  return self
end

function client.new_async(user_config)
  return make(user_config, async_driver, "AsyncBedrockClient")
end

function Client:__tostring()
  return string.format("%s(region=%s, endpoint=%s, credentials=%s)", self.kind,
    self.config.region_name, self.config.endpoint_url,
    self.creds and self.creds.source or "unresolved")
end

function Client:close()
  if not self.closed then
    self.closed = true
    self.driver.close()
  end
end
Client.__close = Client.close
Client.__gc = Client.close

--- The credentials in force (resolved once, then cached).
function Client:credentials()
  if not self.creds then
    local creds, err = credentials.resolve{ config = self.config, profile_name = self.config.profile_name }
    if not creds then return nil, err end
    self.creds = creds
  end
  return self.creds
end

--- Name of the provider that supplied the credentials.
function Client:credentials_source()
  local creds, err = self:credentials()
  if not creds then return nil, err end
  return creds.source
end

local function ms(seconds) return math.max(1, math.floor(seconds * 1000 + 0.5)) end

--- The error of a call whose total_timeout passed before an attempt could start.
local function total_timeout_error(cfg)
  local err = errors.new{ code = "TimeoutError",
    message = "the call took longer than total_timeout (" .. cfg.total_timeout .. " s)" }
  err.phase = "total"
  return err
end

--- The call's deadline (core.now() seconds) when total_timeout is set.
function Client:deadline(started)
  local t = self.config.total_timeout
  return t and started + t or nil
end

--- Sign and start one attempt of req, to end by `deadline` (core.now()
-- seconds, or nil). Returns the transfer or nil, err.
function Client:start(req, deadline)
  if self.closed then return nil, errors.invalid("the client is closed") end
  local engine = self.driver.engine()
  local creds, err = self:credentials()
  if not creds then return nil, err end
  local cfg = self.config
  local url = cfg.endpoint_url .. req.path
  local signed = core.sigv4_sign{
    method = "POST", url = url, headers = req.headers, body = req.body,
    region = cfg.region_name, service = "bedrock", credentials = creds,
  }
  local lines, n = {}, 0
  for k, v in pairs(req.headers) do n = n + 1; lines[n] = k .. ": " .. v end
  for k, v in pairs(signed) do n = n + 1; lines[n] = k .. ": " .. v end
  lines[n + 1] = "User-Agent: " .. client.USER_AGENT
  local total_ms = 0
  if deadline then
    local left = deadline - core.now()
    if left <= 0 then return nil, total_timeout_error(cfg) end
    total_ms = ms(left)
  end
  local x, xerr = engine:request{
    method = "POST", url = url, headers = lines, body = req.body,
    stream = req.stream, unwrap_chunks = req.stream,
    connect_timeout_ms = ms(cfg.connect_timeout), idle_timeout_ms = ms(cfg.read_timeout),
    total_timeout_ms = total_ms,
  }
  if not x then return nil, errors.invalid(xerr) end
  return x
end

--- Turn a failed transfer into an error object.
function client.transfer_error(x)
  local code, detail, sub = x:error()
  local err = errors.new{ code = code or "ConnectionError", message = detail or "the transfer failed" }
  if code == "TimeoutError" then err.phase = sub end
  if code == "EventStreamError" then err.reason = sub end
  err.retryable = errors.classify(err)
  return err
end

--- Response headers of x, and the error of a non-2xx reply (or nil).
function client.response_error(x)
  local status = x:status()
  if status >= 200 and status <= 299 then return nil end
  return errors.from_response(status, x:headers(), x:body(), decode_json)
end

local function response_meta(x, attempts, started)
  local h = x:headers()
  return {
    status = (x:status()),
    request_id = h["x-amzn-requestid"],
    headers = h,
    usage = {
      input_tokens = tonumber(h["x-amzn-bedrock-input-token-count"]),
      output_tokens = tonumber(h["x-amzn-bedrock-output-token-count"]),
    },
    latency_ms = (core.now() - started) * 1000,
    attempts = attempts,
  }
end

--- After attempt number `attempts` failed with err: sleep and return true
-- to try again, or return false. The policy decides (retryable error,
-- attempts left, quota); a retry that could not start before the call's
-- deadline is not made.
function Client:backoff(state, err, attempts, deadline)
  local policy = self.retry
  local delay = policy:retry_delay(state, err, attempts)
  if not delay then return false end
  if deadline and core.now() + delay >= deadline then
    policy:cancel_retry(state)
    return false
  end
  self.driver.sleep(delay)
  return true
end

--- Run req to completion with retries: body, meta | nil, err.
function Client:call(req)
  local started = core.now()
  local deadline = self:deadline(started)
  local policy = self.retry
  local state = policy:begin()
  local attempts = 0
  while true do
    attempts = attempts + 1
    policy:before_attempt(self.driver.sleep)
    local x, err = self:start(req, deadline)
    if not x then
      -- nothing was sent (no credentials, a bad parameter, the deadline)
      err.attempts = attempts
      return nil, err
    end
    while x:state() == "running" do self.driver.wait(x) end
    if x:state() == "failed" then
      err = client.transfer_error(x)
    else
      err = client.response_error(x)
      if not err then
        policy:after_attempt(nil)
        policy:succeeded(state)
        local meta = response_meta(x, attempts, started)
        local body = x:body()
        x:close()
        local ctype = meta.headers["content-type"] or ""
        if ctype:find("json", 1, true) then
          local ok, doc = pcall(decode_json, body)
          if ok then body = doc end
        end
        return body, meta
      end
    end
    x:close()
    policy:after_attempt(err)
    err.attempts = attempts
    if not self:backoff(state, err, attempts, deadline) then return nil, err end
  end
end

function Client:invoke_model(params)
  local req, err = build_invoke(params, false)
  if not req then return nil, err end
  return self:call(req)
end

function Client:invoke_model_with_response_stream(params)
  local stream = require "bedrock.stream"
  local req, err = build_invoke(params, true)
  local s = stream.new(self, req, err)
  return s, nil, nil, s
end

client.Client = Client
client.build_invoke = build_invoke
client.response_meta = response_meta
client.decode_json = decode_json

return client
