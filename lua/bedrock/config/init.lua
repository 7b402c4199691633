--- Client configuration: validate the user's table, fill in the defaults the
-- way the AWS SDKs do, and never show a secret in tostring. The keys are those of
-- `bedrock.client(config)` and `bedrock.async_client(config)`.
-- @module bedrock.config
local compat = require "bedrock.compat"
local errors = require "bedrock.errors"
local endpoint = require "bedrock.config.endpoint"
local profile = require "bedrock.config.profile"

local config = {}

local function is_string(v) return type(v) == "string" end
local function is_nonneg_int(v) return compat.isinteger(v) and v >= 0 end
local function is_boolean(v) return type(v) == "boolean" end
local function is_positive_int(v) return compat.isinteger(v) and v >= 1 end
local RETRY_MODES = { standard = true, adaptive = true, legacy = true }
local function is_retry_mode(v) return RETRY_MODES[v] == true end
local function is_positive_number(v) return type(v) == "number" and v > 0 and v == v and v ~= math.huge end
local function is_retry_mode(v) return v == "standard" or v == "adaptive" or v == "legacy" end

--- The configuration keys (all optional). A wrong type or an unknown key raises an
-- `InvalidParameter` error naming the key, as does a CR, LF or NUL in any string.
-- @table keys
-- @field region_name region to call and sign for; default `AWS_REGION`, `AWS_DEFAULT_REGION`,
-- the profile's `region`, then `us-west-2`
-- @field profile_name profile of the shared files; default `AWS_PROFILE`, then `default`
-- @field access_key_id explicit credentials (with `secret_access_key`); they win over every provider
-- @field secret_access_key see `access_key_id`; never shown by `tostring`
-- @field session_token with explicit keys only; never shown by `tostring`
-- @field bearer_token a Bedrock API key (default `AWS_BEARER_TOKEN_BEDROCK`): `Authorization: Bearer`, no SigV4
-- @field max_retries retries after the first attempt (default 3)
-- @field max_attempts attempts, the first included (`AWS_MAX_ATTEMPTS`, the profile): `max_retries = max_attempts - 1`
-- @field retry_mode `"standard"` (default), `"adaptive"` or `"legacy"` (`AWS_RETRY_MODE`, the profile)
-- @field use_fips_endpoint a boolean (`AWS_USE_FIPS_ENDPOINT`, the profile)
-- @field use_dualstack_endpoint a boolean (`AWS_USE_DUALSTACK_ENDPOINT`, the profile)
-- @field endpoint_url the endpoint (`http://127.0.0.1:4566` for the emulator); default from region and variants
-- @field timeout seconds (default 30): `connect_timeout` and `read_timeout` unless they are given
-- @field connect_timeout seconds to get a connection up (TCP and TLS)
-- @field read_timeout seconds of silence allowed once connected
-- @field total_timeout seconds for the whole call or stream, retries and their waits included
-- @field validate check invoke bodies against the model family's schema before sending (default true)
-- @field budget token and cost limits (`bedrock.policy.usage.budget`)
-- @field on_usage `function(u)` called after each recorded call (`bedrock.policy.usage.record`)
-- @field ca_file PEM file of CA certificates to trust instead of OpenSSL's default store
-- @field ca_path directory of hashed CA certificates, trusted as well
-- @field max_pool_connections connections open at once (default 64); calls past it queue, they do not fail
-- @field idle_connection_timeout seconds a kept-alive connection may stay idle before it is closed (default 60)
-- @field max_response_bytes the largest reply body taken (default 64 MiB): `ResponseTooLarge` past it

-- field = { check, description }
local fields = {
  region_name       = { is_string, "a string" },
  profile_name      = { is_string, "a string" },
  access_key_id     = { is_string, "a string" },
  secret_access_key = { is_string, "a string" },
  session_token     = { is_string, "a string" },
  max_retries       = { is_nonneg_int, "a non-negative integer" },
  timeout           = { is_positive_number, "a positive number of seconds" },
  endpoint_url      = { is_string, "a string (http:// or https:// URL)" },
  validate          = { function(v) return type(v) == "boolean" end, "a boolean" },
  -- usage budget and hook (bedrock.policy.usage; budget's own keys are checked there)
  budget            = { function(v) return type(v) == "table" end, "a table" },
  on_usage          = { function(v) return type(v) == "function" end, "a function" },
  bearer_token      = { is_string, "a string (a Bedrock API key)" },
  max_attempts      = { is_positive_int, "a positive integer (attempts, the first included)" },
  retry_mode        = { is_retry_mode, '"standard", "adaptive" or "legacy"' },
  use_fips_endpoint = { is_boolean, "a boolean" },
  use_dualstack_endpoint = { is_boolean, "a boolean" },
  ca_file           = { is_string, "a string (path of a PEM file of CA certificates)" },
  ca_path           = { is_string, "a string (path of a directory of hashed CA certificates)" },
  -- timeouts (seconds); retry_mode is above, with the retry settings
  connect_timeout   = { is_positive_number, "a positive number of seconds" },
  read_timeout      = { is_positive_number, "a positive number of seconds" },
  total_timeout     = { is_positive_number, "a positive number of seconds" },
  -- limits (README "Limits")
  max_response_bytes = { is_positive_int, "a positive integer (bytes)" },
  max_pool_connections = { is_positive_int, "a positive integer (connections)" },
  idle_connection_timeout = { is_positive_number, "a positive number of seconds" },
}

--- Connections a client's engine keeps open at once, idle or busy; calls
-- and streams past it wait for one to free up. botocore's default is 10, for
-- requests that hold a connection for milliseconds; a Bedrock stream holds
-- one for the whole generation (seconds to minutes), so ten streams would
-- stall everything else. 64 lets many streams run side by side and stays
-- far below the usual limit of 1024 descriptors (ulimit -n).
config.MAX_POOL_CONNECTIONS = 64
--- Seconds a connection may sit idle and still be reused (the AWS SDK for
-- Java's connectionMaxIdleTime is 60 s).
config.IDLE_CONNECTION_TIMEOUT = 60

--- The largest reply body kept: Bedrock's replies are JSON of a few KiB to a
-- few MiB; the largest are image models' base64 images (a handful of
-- 2048-pixel PNGs, tens of MiB). Decoding holds the body about three times
-- over (the transfer's buffer, the Lua string, the decoded table).
config.MAX_RESPONSE_BYTES = 64 * 1024 * 1024
config.fields = fields

local SECRET = { secret_access_key = true, session_token = true, bearer_token = true }

local Config = { __name = "bedrock.config" }
Config.__index = Config
function Config:__tostring()
  local keys = {}
  for k in pairs(fields) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = rawget(self, k)
    if v ~= nil then
      parts[#parts + 1] = k .. "=" .. (SECRET[k] and "<redacted>"
        or k == "endpoint_url" and endpoint.redact(v) or tostring(v))
    end
  end
  return "config{" .. table.concat(parts, ", ") .. "}"
end

local function fail(msg) error(errors.invalid(msg), 3) end

local function has_control(s) return s:find("[%z\r\n]") ~= nil end
local function env_nonempty(name)
  local v = os.getenv(name)
  return v ~= "" and v or nil
end

--- Validate and complete a user config. Raises an InvalidParameter error
-- object naming the key on a wrong type or an unknown key.
-- @tparam[opt] table user the `keys`
-- @treturn table the config, defaults filled in
-- @raise the InvalidParameter error object
function config.build(user)
  if user == nil then user = {} end
  if type(user) ~= "table" then fail("config must be a table, got " .. type(user)) end
  local c = setmetatable({}, Config)
  for k, v in pairs(user) do
    local spec = fields[k]
    if not spec then
      fail("unknown config key '" .. tostring(k) .. "'")
    end
    if not spec[1](v) then
      fail("config key '" .. k .. "' must be " .. spec[2] .. ", got "
        .. (SECRET[k] and type(v) or (type(v) .. " " .. tostring(v))))
    end
    if type(v) == "string" and has_control(v) then
      fail("config key '" .. k .. "' contains a CR, LF or NUL")
    end
    c[k] = v
  end
  if (c.access_key_id == nil) ~= (c.secret_access_key == nil) then
    fail("config keys 'access_key_id' and 'secret_access_key' go together")
  end
  if c.session_token and not c.access_key_id then
    fail("config key 'session_token' needs 'access_key_id' and 'secret_access_key'")
  end
  if c.endpoint_url then
    local url, why = endpoint.check(c.endpoint_url, "config key 'endpoint_url'")
    if not url then fail(why) end
    c.endpoint_url = url
  end
  if c.budget then
    local b, msg = require("bedrock.policy.usage").check_budget(c.budget)
    if not b then fail(msg) end
    c.budget = b
  end
  -- TLS trust: checked now, so a typo is a config error, not a failed call
  for key, want_dir in pairs{ ca_file = false, ca_path = true } do
    local path = c[key]
    if path ~= nil then
      local f, err = io.open(path, "rb")
      if not f then fail("config key '" .. key .. "': cannot open " .. tostring(err)) end
      local _, _, errno = f:read(0)
      f:close()
      local is_dir = errno == 21       -- EISDIR
      if is_dir ~= want_dir then
        fail("config key '" .. key .. "': " .. path .. (want_dir and " is not a directory" or " is a directory"))
      end
    end
  end
  c.timeout = c.timeout or 30
  c.max_response_bytes = c.max_response_bytes or config.MAX_RESPONSE_BYTES
  c.max_pool_connections = c.max_pool_connections or config.MAX_POOL_CONNECTIONS
  c.idle_connection_timeout = c.idle_connection_timeout or config.IDLE_CONNECTION_TIMEOUT
  if c.validate == nil then c.validate = true end   -- model-specific body checks (validate.lua)
  c.profile_explicit = c.profile_name ~= nil
  c.connect_timeout = c.connect_timeout or c.timeout
  c.read_timeout = c.read_timeout or c.timeout
  c.profile_name = profile.name(c.profile_name)
  -- a file that exists but cannot be read is reported by the credential
  -- chain; settings read here treat it as empty
  local files = profile.files() or { profiles = {}, config = {}, credentials = {} }

  -- region: config, AWS_REGION, AWS_DEFAULT_REGION, the profile, us-west-2
  local region = c.region_name or env_nonempty("AWS_REGION") or env_nonempty("AWS_DEFAULT_REGION")
    or profile.get(files, c.profile_name, "region") or "us-west-2"
  if not region:match("^[%w][%w%-]*$") then
    fail("region '" .. region .. "' is not a valid region name")
  end
  c.region_name = region

  -- endpoint: config, then the configured ones, then the rule (FIPS, dual-stack)
  if not c.endpoint_url then
    local configured, from = endpoint.configured(files, c.profile_name, "Bedrock Runtime")
    if configured then
      local url, why = endpoint.check(configured, "the configured endpoint URL from " .. from)
      if not url then fail(why) end
      c.endpoint_url = url
    else
      local fips, dualstack = endpoint.variants(files, c.profile_name)
      if c.use_fips_endpoint ~= nil then fips = c.use_fips_endpoint end
      if c.use_dualstack_endpoint ~= nil then dualstack = c.use_dualstack_endpoint end
      c.endpoint_url = endpoint.from_rules("bedrock-runtime", region, fips, dualstack)
    end
  end

  -- retries: max_retries counts retries, max_attempts (AWS_MAX_ATTEMPTS)
  -- counts attempts with the first: max_retries = max_attempts - 1.
  -- Precedence: max_retries in the config, max_attempts in the config,
  -- AWS_MAX_ATTEMPTS, the profile's max_attempts, then 3 retries.
  if not c.max_retries then
    local attempts, from = c.max_attempts, "config key 'max_attempts'"
    if not attempts then
      local v = env_nonempty("AWS_MAX_ATTEMPTS")
      from = "AWS_MAX_ATTEMPTS"
      if not v then
        v = profile.get(files, c.profile_name, "max_attempts")
        from = "the profile's max_attempts"
      end
      if v then
        attempts = compat.tointeger(tonumber(v))
        if not attempts or attempts < 1 then
          fail(from .. " must be a positive integer, got '" .. v .. "'")
        end
      end
    end
    c.max_retries = attempts and attempts - 1 or 3
  end
  if not c.retry_mode then
    local v, from = env_nonempty("AWS_RETRY_MODE"), "AWS_RETRY_MODE"
    if not v then v, from = profile.get(files, c.profile_name, "retry_mode"), "the profile's retry_mode" end
    if v and not RETRY_MODES[v] then
      fail(from .. ' must be "standard", "adaptive" or "legacy", got \'' .. v .. "'")
    end
    c.retry_mode = v or "standard"
  end

  -- Bedrock API keys: bearer_token in the config, else
  -- AWS_BEARER_TOKEN_BEDROCK (botocore prefers it to SigV4 whenever it is
  -- set, explicit keys or not); the token is kept out of tostring.
  local token = c.bearer_token or env_nonempty("AWS_BEARER_TOKEN_BEDROCK")
  if token then
    if has_control(token) then fail("the Bedrock API key contains a CR, LF or NUL") end
    c.bearer_token = token
    c.auth = "bearer"
    c.bearer_source = rawget(user, "bearer_token") and "bearer-token-config" or "bearer-token-env"
  else
    c.auth = "sigv4"
  end
  return c
end

return config
