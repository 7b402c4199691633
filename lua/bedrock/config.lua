--- Client configuration: validate the user's table, fill in the defaults the
-- way the AWS SDKs do, and never show a secret in tostring.
local errors = require "bedrock.errors"
local profile = require "bedrock.profile"

local config = {}

local function is_string(v) return type(v) == "string" end
local function is_nonneg_int(v) return math.type(v) == "integer" and v >= 0 end
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
  -- retries (bedrock.retry) and timeouts (seconds)
  retry_mode        = { is_retry_mode, '"standard", "adaptive" or "legacy"' },
  connect_timeout   = { is_positive_number, "a positive number of seconds" },
  read_timeout      = { is_positive_number, "a positive number of seconds" },
  total_timeout     = { is_positive_number, "a positive number of seconds" },
}
config.fields = fields

local SECRET = { secret_access_key = true, session_token = true }

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
  c.max_retries = c.max_retries or 3
  c.timeout = c.timeout or 30
  c.retry_mode = c.retry_mode or "standard"
  c.connect_timeout = c.connect_timeout or c.timeout
  c.read_timeout = c.read_timeout or c.timeout
  c.profile_name = profile.name(c.profile_name)

  -- region: config, AWS_REGION, AWS_DEFAULT_REGION, the profile, us-west-2
  local region = c.region_name or os.getenv("AWS_REGION") or os.getenv("AWS_DEFAULT_REGION")
  if not region or region == "" then
    local sections = profile.load(profile.config_path())
    local section = sections and profile.config_section(sections, c.profile_name)
    region = section and type(section.region) == "string" and section.region or nil
  end
  if not region or region == "" then region = "us-west-2" end
  if not region:match("^[%w%-]+$") then
    fail("region '" .. region .. "' is not a valid region name")
  end
  c.region_name = region
  c.endpoint_url = c.endpoint_url or ("https://bedrock-runtime." .. region .. ".amazonaws.com")
  return c
end

return config
