--- BedrockClient and AsyncBedrockClient: the same operations over the same
-- engine code, differing only in how they wait. A sync client owns an
-- engine and pumps it until its request is ready; an async client waits by
-- yielding its task to the scheduler, which pumps the shared engine. Inside
-- nginx both do their HTTP over cosockets and wait by yielding to nginx.
-- bedrock.transport makes that choice (the client only sees a driver).
--
-- Made by `bedrock.client` and `bedrock.async_client`. Every call returns
-- `body, meta` or `nil, err` (`bedrock.errors.Error`); streams and pagers are
-- for-loop iterators that raise the error object instead, with a `next()` that
-- returns `nil, err`. An async client's calls yield inside `bedrock.run`.
-- @module bedrock.api.client
local core = require "bedrock.core"
local compat = require "bedrock.compat"
local cjson = require "cjson"
local config = require "bedrock.config"
local credcache = require "bedrock.auth.cache"
local errors = require "bedrock.errors"
local retry = require "bedrock.policy.retry"
local transport = require "bedrock.transport"
local engine_transport = require "bedrock.transport.engine"
local scheduler = require "bedrock.transport.scheduler"
local shapes = require "bedrock.api.shapes"
local usage = require "bedrock.policy.usage"
local reply = require "bedrock.api.reply"

local client = {}

client.USER_AGENT = "lua-bedrock/" .. core._VERSION .. " " .. _VERSION:gsub(" ", "/")

-- JSON replies through the core's decoder (bedrock.api.reply): integers
-- stay Lua integers; it raises on bad JSON, as cjson.decode does, for pcall
local decode_json = reply.json
local find = string.find
local encode_json = cjson.encode

-- The driver (how requests are made and waited on: bedrock.core's engine, or nginx's
-- cosockets) comes from the one seam, bedrock.transport.

--- The pool limits of cfg as engine:limits takes them (bedrock.transport.engine).
local pool_limits = engine_transport.pool_limits
client.pool_limits = pool_limits

-- -------------------------------------------------------------- parameters

--- Percent-encode a path label: every byte outside the unreserved set, so
-- ':' and '/' in model ids, ARNs and inference profiles are %3A and %2F.
local function encode_label(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end
client.encode_label = encode_label

local check_length = shapes.check_length

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
  -- three plain searches: a fraction of the pattern matcher's cost on a
  -- class like [%z\r\n], which it tries at every position
  if find(v, "\r", 1, true) or find(v, "\n", 1, true) or find(v, "\0", 1, true) then
    return nil, errors.invalid("'" .. key .. "' contains a CR, LF or NUL")
  end
  return true
end

-- Per input shape (its members index), found once: the header and uri
-- rows in the model's order (rows), the uri rows alone (uri), and the wire
-- names of the headers that default to JSON (defaults).
local wire_rows = {}
local function header_rows(ix)
  local w = wire_rows[ix]
  if not w then
    w = { rows = {}, uri = {}, defaults = {} }
    for _, row in ipairs(ix.rows) do
      if row[4] == "header" or row[4] == "uri" then w.rows[#w.rows + 1] = row end
      if row[4] == "uri" then w.uri[#w.uri + 1] = row end
      if row[4] == "header" and (row[2] == "content_type" or row[2] == "accept") then
        w.defaults[#w.defaults + 1] = row[5]
      end
    end
    wire_rows[ix] = w
  end
  return w
end

-- "/model/<model id, encoded>/invoke[-with-response-stream]" by model id:
-- a bounded cache (ids are few in any real program).
local model_paths, model_paths_n = { [false] = {}, [true] = {} }, 0
local function model_path(model_id, streaming)
  local cache = model_paths[streaming]
  local path = cache[model_id]
  if not path then
    path = "/model/" .. encode_label(model_id) .. (streaming and "/invoke-with-response-stream" or "/invoke")
    if model_paths_n < 512 then
      model_paths_n = model_paths_n + 1
      cache[model_id] = path
    end
  end
  return path
end

local validate_mod  -- bedrock.policy.validate, required on first use

--- Check invoke parameters and build the request: { path, headers, body }.
-- Every header member of the operation's input shape (content_type, accept,
-- trace, guardrail_identifier, guardrail_version, performance_config_latency,
-- service_tier, request_metadata) is taken from the service model, by its
-- snake_case or its wire name; `raw` and `validate` are the client's own.
-- cfg: the client's config (its `validate` key), when there is a client.
local function build_invoke(params, streaming, cfg)
  if type(params) ~= "table" then
    return nil, errors.invalid("parameters must be a table, got " .. type(params))
  end
  streaming = streaming and true or false
  local op = streaming and "InvokeModelWithResponseStream" or "InvokeModel"
  local ix = shapes.members(shapes.model.operations[op].input)
  local by = ix.by
  -- Parameters already under their Lua names (the usual case) are read in
  -- place; a wire name, an unknown key or request_metadata to encode takes
  -- the copying pass, which also finds a parameter given twice.
  local copy = type(params.request_metadata) == "table"
  local given_header = false  -- a header parameter is present
  if not copy then
    for k in pairs(params) do
      if k ~= "raw" and k ~= "validate" then
        local row = by[k]
        if not row or row[2] ~= k then copy = true; break end
        if row[4] == "header" then given_header = true end
      end
    end
  end
  if copy then
    local p = {}
    for k, v in pairs(params) do
      local row = by[k]
      if k == "raw" or k == "validate" then
        p[k] = v
      elseif not row then
        return nil, errors.invalid("unknown parameter '" .. tostring(k) .. "'")
      elseif p[row[2]] ~= nil then
        return nil, errors.invalid("parameter '" .. row[2] .. "' is given twice (as " .. row[1] .. " and " .. row[2] .. ")")
      else
        p[row[2]] = v
      end
    end
    params = p
    if type(params.request_metadata) == "table" then
      local ok, js = pcall(encode_json, params.request_metadata)
      if not ok then return nil, errors.invalid("'request_metadata' cannot be encoded as JSON: " .. tostring(js)) end
      params.request_metadata = js
    end
  end
  local headers
  local w = header_rows(ix)
  if not copy and not given_header then
    -- no header parameter (the usual call): the uri labels are checked and
    -- the headers are the JSON defaults, set in the order the loop below
    -- sets them
    local uri = w.uri
    for i = 1, #uri do
      local ok, err = check_string(params, uri[i][2], true)
      if ok then ok, err = check_length(uri[i][3], params[uri[i][2]], uri[i][2]) end
      if not ok then return nil, err end
    end
    headers = { _1 = nil, _2 = nil }  -- room for the two defaults
    local defaults = w.defaults
    for i = 1, #defaults do headers[defaults[i]] = "application/json" end
  else
    headers = {}
    local rows = w.rows
    for i = 1, #rows do
      local row = rows[i]
      local key, uri = row[2], row[4] == "uri"
      local v = params[key]
      if v == nil and not uri then
        -- an absent header: the two the service needs default to JSON
        if key == "content_type" or key == "accept" then headers[row[5]] = "application/json" end
      else
        local ok, err = check_string(params, key, uri)
        if ok then ok, err = check_length(row[3], v, key) end
        if not ok then return nil, err end
        if not uri then headers[row[5]] = v end
      end
    end
  end
  if params.validate ~= nil and type(params.validate) ~= "boolean" then
    return nil, errors.invalid("'validate' must be a boolean, got " .. type(params.validate))
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
  -- model-specific checks of the body (lua/bedrock/validate.lua)
  if params.validate ~= false and not (cfg and cfg.validate == false) then
    validate_mod = validate_mod or require("bedrock.policy.validate")
    local ok, verr = validate_mod.check(params.model_id, params.body)
    if not ok then return nil, verr end
  end
  return {
    path = model_path(params.model_id, streaming),
    -- the stream's own Accept is the event stream; the model's travels apart
    -- (X-Amzn-Bedrock-Accept, by the service model)
    headers = headers,
    body = body,
    stream = streaming,
    raw = params.raw and true or false,
    model_id = params.model_id,
    operation = op,
  }
end

-- ------------------------------------------------------------------ client

--- A client (sync or async: the same methods). Its metamethods: `tostring` shows the
-- region, endpoint and credential source (never a secret); `<close>` and the garbage
-- collector call `close`.
-- @type Client
local Client = {}
Client.__index = Client

local function make(user_config, driver, kind)
  local cfg = config.build(user_config)
  local self = compat.setmetatable({ config = cfg, driver = driver, kind = kind,
    ledger = usage.new(cfg.budget, cfg.on_usage) }, Client)
  -- credentials are fetched per request through this cache (refresh ahead
  -- of expiry, single-flight across async tasks)
  self.credcache = credcache.new(function()
    return { config = cfg, profile_name = cfg.profile_name, driver = self.driver,
      env_disabled = cfg.profile_explicit }
  end)
  -- one retry policy per client: its quota and rate limiter are shared by
  -- all the client's calls and streams
  self.retry = retry.new(cfg)
  return self
end

--- The sync client of bedrock.client.
-- @local
function client.new(user_config)
  local self = make(user_config, nil, "BedrockClient")
  self.driver = transport.sync_driver(self.config)
  return self
end

--- The async client of bedrock.async_client.
-- @local
function client.new_async(user_config)
  local self = make(user_config, transport.async_driver(), "AsyncBedrockClient")
  -- the shared engine's pool follows the open async clients; the last one
  -- closed releases its connections
  self.pool_token = {}
  scheduler.attach(self.pool_token, pool_limits(self.config))
  return self
end

function Client:__tostring()
  return string.format("%s(region=%s, endpoint=%s, credentials=%s)", self.kind,
    self.config.region_name, require("bedrock.config.endpoint").redact(self.config.endpoint_url),
    self.config.auth == "bearer" and self.config.bearer_source
      or (self.credcache.creds and self.credcache.creds.source) or "unresolved")
end

--- Close the client: a sync client's connections go (an async client's shared pool stays).
-- Idempotent; later calls fail with `InvalidParameter`.
function Client:close()
  if not self.closed then
    self.closed = true
    self.driver.close()
    if self.pool_token then scheduler.detach(self.pool_token) end
  end
end
Client.__close = Client.close
Client.__gc = Client.close

--- The SigV4 credentials in force: resolved on first use, then cached and
-- refreshed ahead of expiry (bedrock.auth.cache).
-- @treturn table `{ access_key_id, secret_access_key, session_token, expiration, source }`, or nil, err
function Client:credentials()
  return self.credcache:get()
end

--- Name of the provider that supplied the credentials ("explicit",
-- "environment", "assume-role", ..., or "bearer-token-config" /
-- "bearer-token-env" when a Bedrock API key is in use).
-- @treturn string or nil, err
function Client:credentials_source()
  if self.config.auth == "bearer" then return self.config.bearer_source end
  local creds, err = self:credentials()
  if not creds then return nil, err end
  return creds.source
end

local function ms(seconds) return math.max(1, math.floor(seconds * 1000 + 0.5)) end

-- Credentials already found free of CR, LF and NUL, with the values that
-- were checked (a table changed since is checked again).
local clean_creds = setmetatable({}, { __mode = "k" })

local function creds_clean(creds)
  local c = clean_creds[creds]
  return c ~= nil and c[1] == creds.access_key_id and c[2] == creds.secret_access_key
    and c[3] == creds.session_token
end

-- The argument tables of core.sigv4_sign and engine:request, filled anew by
-- each Client:_start and emptied of the request after the call (neither C
-- function keeps them, and nothing between filling and calling yields).
local sign_args, request_args = {}, {}

local ua_line, ua_for  -- "User-Agent: " .. client.USER_AGENT, kept while it holds

--- The error of a call whose total_timeout passed before an attempt could start.
local function total_timeout_error(cfg)
  local err = errors.new{ code = "TimeoutError",
    message = "the call took longer than total_timeout (" .. cfg.total_timeout .. " s)" }
  err.phase = "total"
  return err
end

--- The call's deadline (core.now() seconds) when total_timeout is set.
-- @local
function Client:_deadline(started)
  local t = self.config.total_timeout
  return t and started + t or nil
end

--- Sign and start one attempt of req, to end by `deadline` (core.now()
-- seconds, or nil). Returns the transfer or nil, err.
-- @local
function Client:_start(req, deadline)
  if self.closed then return nil, errors.invalid("the client is closed") end
  local engine = self.driver.engine()
  local cfg = self.config
  local method = req.method or "POST"
  local url
  if req.query then
    url = cfg.endpoint_url .. req.path .. "?" .. req.query
  else
    -- endpoint .. path, kept per client for the paths it calls (bounded)
    local urls = self.urls
    if not urls or urls[1] ~= cfg.endpoint_url then
      urls = { cfg.endpoint_url, n = 0 }
      self.urls = urls
    end
    url = urls[req.path]
    if not url then
      url = cfg.endpoint_url .. req.path
      if urls.n < 64 then urls.n = urls.n + 1; urls[req.path] = url end
    end
  end
  local signed, seed, seed_creds   -- a duplex session's chain starts from them
  if cfg.auth == "bearer" and not req.duplex then
    -- a Bedrock API key: the token is the whole authorization, no SigV4
    -- (config refuses CR, LF and NUL in it)
    signed = { Authorization = "Bearer " .. cfg.bearer_token }
  else
    local creds, err = self:credentials()
    if not creds then
      if req.duplex and cfg.auth == "bearer" then
        err.message = "InvokeModelWithBidirectionalStream needs SigV4 credentials (Bedrock API keys"
          .. " cannot be used with it): " .. tostring(err.message)
      end
      return nil, err
    end
    if not creds_clean(creds) then
      for _, k in ipairs{ "access_key_id", "secret_access_key", "session_token" } do
        -- credentials from the environment or a file reach the wire (the key id
        -- and token as header values): refuse control bytes, naming no value
        if type(creds[k]) == "string" and creds[k]:find("[%z\r\n]") then
          return nil, errors.new{ code = "CredentialsError",
            message = "the " .. k .. " from " .. tostring(creds.source) .. " contains a CR, LF or NUL" }
        end
      end
      clean_creds[creds] = { creds.access_key_id, creds.secret_access_key, creds.session_token }
    end
    local a, ok = sign_args
    a.method, a.url, a.headers, a.body = method, url, req.headers, req.body
    a.region, a.service, a.credentials = cfg.region_name, "bedrock", creds
    -- event-stream input: the body is signed event by event (bedrock.api.duplex)
    a.payload_hash = req.duplex and "STREAMING-AWS4-HMAC-SHA256-EVENTS" or nil
    ok, signed, seed = pcall(core.sigv4_sign, a)
    a.url, a.headers, a.body, a.credentials = nil, nil, nil, nil
    if not ok then return nil, errors.invalid("cannot sign the request: " .. tostring(signed)) end
    if req.duplex then seed_creds = creds end
  end
  -- sized for the usual lines (two or three, the signature's two or three,
  -- the User-Agent), so filling it does not regrow it
  local lines, n = { nil, nil, nil, nil, nil, nil, nil, nil }, 0
  for k, v in pairs(req.headers) do n = n + 1; lines[n] = k .. ": " .. v end
  for k, v in pairs(signed) do n = n + 1; lines[n] = k .. ": " .. v end
  if ua_for ~= client.USER_AGENT then ua_line, ua_for = "User-Agent: " .. client.USER_AGENT, client.USER_AGENT end
  lines[n + 1] = ua_line
  local total_ms = 0
  if deadline then
    local left = deadline - core.now()
    if left <= 0 then return nil, total_timeout_error(cfg) end
    total_ms = ms(left)
  end
  local o = request_args
  o.method, o.url, o.headers, o.body = method, url, lines, req.body
  -- chunks: the inner bytes for raw = true, else their JSON decoded in C
  o.stream, o.unwrap_chunks, o.duplex = req.stream, req.stream and not req.events
    and (req.raw or "json"), req.duplex
  o.connect_timeout_ms, o.idle_timeout_ms = ms(cfg.connect_timeout), ms(cfg.read_timeout)
  o.total_timeout_ms = total_ms
  o.ca_file, o.ca_path = cfg.ca_file, cfg.ca_path
  o.max_body_bytes = cfg.max_response_bytes
  local x, xerr = engine:request(o)
  o.url, o.headers, o.body = nil, nil, nil
  if not x then return nil, errors.invalid(xerr) end
  if seed_creds then return x, nil, seed, seed_creds end
  return x
end

--- Turn a failed transfer into an error object.
-- @local
function client.transfer_error(x)
  local code, detail, sub = x:error()
  local err = errors.new{ code = code or "ConnectionError", message = detail or "the transfer failed" }
  if code == "TimeoutError" then err.phase = sub end
  if code == "EventStreamError" then err.reason = sub end
  if code == "ResponseTooLarge" then
    -- the reply's headers came: say which reply
    err.status = x:status()
    err.request_id = x:headers()["x-amzn-requestid"]
  end
  err.retryable = errors.classify(err)
  return err
end

--- Response headers of x, and the error of a non-2xx reply (or nil).
-- @local
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
      cache_read_input_tokens = tonumber(h["x-amzn-bedrock-cache-read-input-token-count"]),
      cache_write_input_tokens = tonumber(h["x-amzn-bedrock-cache-write-input-token-count"]),
    },
    latency_ms = (core.now() - started) * 1000,
    attempts = attempts,
  }
end

--- After attempt number `attempts` failed with err: sleep and return true
-- to try again, or return false. The policy decides (retryable error,
-- attempts left, quota); a retry that could not start before the call's
-- deadline is not made.
-- @local
function Client:_backoff(state, err, attempts, deadline)
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
-- @local
function Client:_call(req)
  local started = core.now()
  local deadline = self:_deadline(started)
  local policy = self.retry
  local state  -- the retry state (policy:begin()), made once a retry is weighed
  local attempts = 0
  while true do
    attempts = attempts + 1
    policy:before_attempt(self.driver.sleep)
    local x, err = self:_start(req, deadline)
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
        if not req.raw and body ~= "" and ctype:find("json", 1, true) then
          -- a reply that claims JSON and does not decode is an error, not a string
          local doc, perr = reply.decode(body, meta.status, meta.request_id)
          if perr then
            perr.attempts = attempts
            return nil, perr
          end
          body = doc
        end
        return body, meta
      end
    end
    x:close()
    policy:after_attempt(err)
    err.attempts = attempts
    state = state or policy:begin()
    if not self:_backoff(state, err, attempts, deadline) then return nil, err end
  end
end

--- InvokeModel: run a model on a body.
-- @tparam table params `model_id` (an id, ARN or inference profile), `body` (a table,
-- JSON-encoded, or a string sent as is), `content_type`, `accept` (default `application/json`),
-- `trace`, `guardrail_identifier`, `guardrail_version`, `performance_config_latency`,
-- `service_tier`, `request_metadata`, `validate` (false: skip the body check for this call)
-- @return the reply (decoded JSON when the response is JSON, else the raw string)
-- @treturn table meta: `status`, `request_id`, `headers`, `usage` (`input_tokens`,
-- `output_tokens`, `cache_read_input_tokens`, `cache_write_input_tokens`), `latency_ms`, `attempts`
-- @usage local body, meta = client:invoke_model{ model_id = "anthropic.claude-3-sonnet-20240229-v1:0",
--   body = { anthropic_version = "bedrock-2023-05-31", max_tokens = 100,
--            messages = { { role = "user", content = "Hello" } } } }
function Client:invoke_model(params)
  local req, err = build_invoke(params, false, self.config)
  if not req then return nil, err end
  local admitted, berr = self.ledger:admit(req.model_id)
  if not admitted then return nil, berr end
  local body, meta = self:_call(req)
  if body ~= nil then
    local ledger = self.ledger
    if ledger.on_usage then
      self:_record_usage(req, meta.usage, meta)
    else
      ledger:add(req.model_id, meta.usage)  -- the same counts, no entry for a hook
    end
  end
  return body, meta
end

--- InvokeModelWithResponseStream: the reply as events, in a for loop.
-- @tparam table params as `invoke_model`'s: `model_id`, `body`, `content_type`, `accept`, `trace`,
-- `guardrail_identifier`, `guardrail_version`, `performance_config_latency`, `service_tier`,
-- `request_metadata`, `validate`; and `raw` (true: yield each chunk's bytes undecoded)
-- @treturn bedrock.api.stream.Stream the stream, then `nil, nil, stream` (the for loop's closing value)
-- @usage for event in client:invoke_model_with_response_stream{ model_id = id, body = body } do
--   if event.type == "content_block_delta" then io.write(event.delta.text) end
-- end
function Client:invoke_model_with_response_stream(params)
  local stream = require "bedrock.api.stream"
  local req, err = build_invoke(params, true, self.config)
  if req then
    local admitted, berr = self.ledger:admit(req.model_id)
    if not admitted then err = berr end
  end
  local s = stream.new(self, req, err)
  return s, nil, nil, s
end

--- A bidirectional session (bedrock.api.duplex): { model_id [, raw] }. Like a
-- response stream it is returned at once, failures included (they surface
-- from send, close_input and the reads). Needs SigV4 credentials (not an API key).
-- @tparam table params `model_id`, `raw` (true: read each output event's bytes undecoded)
-- @treturn bedrock.api.duplex.Duplex the session, then `nil, nil, session`
function Client:invoke_model_with_bidirectional_stream(params)
  local duplex = require "bedrock.api.duplex"
  local req, err
  if type(params) ~= "table" then
    err = errors.invalid("parameters must be a table, got " .. type(params))
  else
    for k in pairs(params) do
      if k ~= "model_id" and k ~= "modelId" and k ~= "raw" then
        err = errors.invalid("unknown parameter '" .. tostring(k) .. "'")
      end
    end
    local model_id = params.model_id or params.modelId
    if not err then
      local ok
      ok, err = check_string({ model_id = model_id }, "model_id", true)
      if ok then ok, err = check_length("InvokeModelIdentifier", model_id, "model_id") end
      if ok then err = nil end
    end
    if not err then
      req = {
        path = "/model/" .. encode_label(model_id) .. "/invoke-with-bidirectional-stream",
        headers = { ["Content-Type"] = "application/vnd.amazon.eventstream",
          ["X-Amz-Content-Sha256"] = "STREAMING-AWS4-HMAC-SHA256-EVENTS" },
        stream = true, duplex = true, raw = params.raw and true or false,
        model_id = model_id, operation = "InvokeModelWithBidirectionalStream",
      }
      local admitted, berr = self.ledger:admit(model_id)
      if not admitted then err = berr end
    end
  end
  local s = duplex.new(self, req, err)
  return s, nil, nil, s
end

--- Add a call's usage to the ledger (and run the on_usage hook).
-- @local
function Client:_record_usage(req, u, meta)
  return self.ledger:record(req.model_id, u, { operation = req.operation,
    request_id = meta and meta.request_id, latency_ms = meta and meta.latency_ms })
end

--- A copy of the usage ledger: `{ total = t, models = { [model_id] = t } }`, each `t` with
-- `input_tokens`, `output_tokens`, `cache_read_input_tokens`, `cache_write_input_tokens`,
-- `total_tokens`, `requests` and `cost`.
-- @treturn table
function Client:usage() return self.ledger:snapshot() end

--- Clear the ledger (the budget starts again from nothing).
function Client:reset_usage() self.ledger:reset() end

--- Converse: a conversation turn in the model-neutral Converse form.
-- @function Client:converse
-- @tparam table params `model_id`, `messages`, `system`, `inference_config`, `tool_config`,
-- `guardrail_config`, `additional_model_request_fields`, `prompt_variables`,
-- `additional_model_response_field_paths`, `request_metadata`, `performance_config`,
-- `service_tier`, `output_config` (the service model's members, by snake_case or wire name)
-- @return the reply (`output.message`, `stop_reason`, `usage` ...), meta (`meta.usage` from the reply)

--- ConverseStream: a Converse turn as events (`messageStart`, `contentBlockDelta`, ..., `metadata`).
-- @function Client:converse_stream
-- @tparam table params as `converse`'s: `model_id`, `messages`, `system`, `inference_config`,
-- `tool_config`, `guardrail_config`, `additional_model_request_fields`, `prompt_variables`,
-- `additional_model_response_field_paths`, `request_metadata`, `performance_config`,
-- `service_tier`, `output_config`
-- @treturn bedrock.api.stream.Stream the stream, then `nil, nil, stream`

--- CountTokens: the tokens a request would use, nothing run.
-- @function Client:count_tokens
-- @tparam table params `model_id`, `input` (`{ invoke_model = { body = ... } }` or `{ converse = {...} }`)
-- @return `{ inputTokens = n }`, meta

--- ApplyGuardrail: check content against a guardrail.
-- @function Client:apply_guardrail
-- @tparam table params `guardrail_identifier`, `guardrail_version`, `source` (`INPUT`/`OUTPUT`), `content`,
-- `output_scope`
-- @return the assessment (`action`, `outputs`, `assessments`, ...), meta

--- InvokeGuardrailChecks: run a guardrail's checks on content.
-- @function Client:invoke_guardrail_checks
-- @tparam table params `messages`, `checks`
-- @return the result, meta

--- StartAsyncInvoke: start an asynchronous invocation writing to S3.
-- @function Client:start_async_invoke
-- @tparam table params `model_id`, `model_input`, `output_data_config`, `client_request_token`, `tags`
-- @return `{ invocationArn = ... }`, meta

--- GetAsyncInvoke: an asynchronous invocation's state.
-- @function Client:get_async_invoke
-- @tparam table params `invocation_arn`
-- @return `{ status = "InProgress"|"Completed"|"Failed", ... }`, meta

--- ListAsyncInvokes: the asynchronous invocations, page after page, as one for loop.
-- @function Client:list_async_invokes
-- @tparam[opt] table params `status_equals`, `submit_time_after`, `submit_time_before`, `sort_by`,
-- `sort_order`, `max_results`, `next_token` (where to start), and the pager's own `max_items`
-- (stop after that many) and `page_size` (sent as maxResults, 1 to 1000)
-- @treturn bedrock.api.operations.Pager the pager, then `nil, nil, pager`

--- Any non-streaming operation by its service-model name (`"Converse"`, `"CountTokens"`, ...).
-- @function Client:call_operation
-- @tparam string op_name
-- @tparam table params
-- @return body, meta or nil, err

require("bedrock.api.operations").install(Client, client)

client.Client = Client
client.build_invoke = build_invoke
client.response_meta = response_meta
client.decode_json = decode_json

return client
