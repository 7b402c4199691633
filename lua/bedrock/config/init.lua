--- Client configuration: validate the user's table, fill in the defaults the
-- way the AWS SDKs do, and never show a secret in tostring.
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
}
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
      parts[#parts + 1] = k .. "=" .. (SECRET[k] and "<redacted>" or tostring(v))
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
    if not c.endpoint_url:match("^https?://[^/]+") then
      fail("config key 'endpoint_url' must start with http:// or https:// and name a host")
    end
    c.endpoint_url = c.endpoint_url:gsub("/+$", "")
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
    local configured = endpoint.configured(files, c.profile_name, "Bedrock Runtime")
    if configured then
      if has_control(configured) or not configured:match("^https?://[^/]+") then
        fail("the configured endpoint URL '" .. configured .. "' must start with http:// or https:// and name a host")
      end
      c.endpoint_url = configured:gsub("/+$", "")
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
