--- The pieces every credential provider shares: the credentials object,
-- errors, time parsing, the shared files, and the providers that need no
-- I/O beyond the environment and the files (explicit, environment,
-- shared-credentials-file, config-file). bedrock.auth.chain assembles
-- the chain. Each provider is { name = ..., load = function(ctx) }:
--   creds            this provider answered
--   nil, why         not configured here (the chain moves on, and says why)
--   nil, nil, err    configured but broken (the chain stops: boto3 does too)
-- ctx = { config = validated client config, profile_name = ..., driver =
-- how HTTP waits (see bedrock.transport.http), env_disabled = true when the profile
-- was named in code (botocore then skips the environment providers) }.
--
-- Temporary credentials carry `expiration` (Unix seconds) and `refresh`
-- (a function(ctx) giving fresh ones); bedrock.auth.cache decides when.
local compat = require "bedrock.compat"
local errors = require "bedrock.errors"
local profile = require "bedrock.config.profile"

local credentials = {}  -- (this module; named as the chain's users know it)

local Creds = { __name = "bedrock.credentials" }
Creds.__index = Creds
function Creds:__tostring()
  -- the key id is not a secret (AWS logs it); the secret and token are
  return string.format("credentials(%s, source=%s%s%s)", self.access_key_id,
    self.source, self.session_token and ", with session token" or "",
    self.expiration and (", expires " .. os.date("!%Y-%m-%dT%H:%M:%SZ", self.expiration)) or "")
end

function credentials.new(access_key_id, secret_access_key, session_token, source, expiration)
  return setmetatable({
    access_key_id = access_key_id,
    secret_access_key = secret_access_key,
    session_token = session_token,
    source = source,
    expiration = expiration,
  }, Creds)
end

local function nonempty(s) return type(s) == "string" and s ~= "" and s or nil end
credentials.nonempty = nonempty

function credentials.error(message)
  return errors.new{ code = "CredentialsError", message = message }
end

-- days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's algorithm)
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local idiv = compat.idiv
  local era = idiv(y >= 0 and y or y - 399, 400)
  local yoe = y - era * 400
  local doy = idiv(153 * (m + (m > 2 and -3 or 9)) + 2, 5) + d - 1
  local doe = yoe * 365 + idiv(yoe, 4) - idiv(yoe, 100) + doy
  return era * 146097 + doe - 719468
end

--- ISO 8601 / RFC 3339 time ("2026-01-02T03:04:05Z", with fractions or an
-- offset, or botocore's older "...UTC") to Unix seconds; nil if unparsable.
function credentials.parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, rest = s:match("^%s*(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.-)%s*$")
  if not y then return nil end
  rest = rest:gsub("^%.%d+", "")
  local offset = 0
  if rest == "Z" or rest == "z" or rest == "" or rest == "UTC" or rest == " UTC" then
    offset = 0
  else
    local sign, oh, om = rest:match("^([%+%-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "+" and 1 or -1)
  end
  return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec) - offset
end

--- The shared files (both parsed and merged), loaded once per resolution.
function credentials.files(ctx)
  if ctx.files == nil then
    local files, err = profile.files()
    ctx.files = files or false
    ctx.files_err = err
  end
  if not ctx.files then return nil, credentials.error(ctx.files_err) end
  return ctx.files
end

--- A copy of ctx for another profile (source_profile chains), with the
-- environment providers off as botocore does for source profiles.
function credentials.for_profile(ctx, name)
  local sub = {}
  for k, v in pairs(ctx) do sub[k] = v end
  sub.profile_name = name
  sub.env_disabled = true
  return sub
end

-- ---------------------------------------------------------------- providers

credentials.explicit = {
  name = "explicit",
  load = function(ctx)
    local c = ctx.config
    if c.access_key_id then
      -- explicit keys never pick up a stray AWS_SESSION_TOKEN: only the
      -- session_token given with them
      return credentials.new(c.access_key_id, c.secret_access_key, c.session_token, "explicit")
    end
    return nil, "no access_key_id in the client config"
  end,
}

local function load_environment()
  local id = nonempty(os.getenv("AWS_ACCESS_KEY_ID"))
  local secret = nonempty(os.getenv("AWS_SECRET_ACCESS_KEY"))
  if not id and not secret then
    return nil, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"
  end
  if not id or not secret then
    return nil, nil, credentials.error("the environment has "
      .. (id and "AWS_ACCESS_KEY_ID" or "AWS_SECRET_ACCESS_KEY")
      .. " but not " .. (id and "AWS_SECRET_ACCESS_KEY" or "AWS_ACCESS_KEY_ID"))
  end
  local token = nonempty(os.getenv("AWS_SESSION_TOKEN")) or nonempty(os.getenv("AWS_SECURITY_TOKEN"))
  local exp_text = nonempty(os.getenv("AWS_CREDENTIAL_EXPIRATION"))
  local expiration
  if exp_text then
    expiration = credentials.parse_time(exp_text)
    if not expiration then
      return nil, nil, credentials.error("AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time: " .. exp_text)
    end
  end
  local creds = credentials.new(id, secret, token, "environment", expiration)
  if expiration then
    -- botocore re-reads the environment when such keys near their end
    creds.refresh = function()
      local fresh, why, err = load_environment()
      if fresh then return fresh end
      return nil, err or credentials.error("the environment credentials went away: " .. tostring(why))
    end
  end
  return creds
end
credentials.load_environment = load_environment

credentials.environment = {
  name = "environment",
  load = function(ctx)
    if ctx.env_disabled then
      return nil, "skipped: the profile was named in the client config (as botocore does)"
    end
    return load_environment()
  end,
}

local function static_keys(section, source, where)
  if not section then return nil, "no profile " .. where end
  local id, secret = nonempty(section.aws_access_key_id), nonempty(section.aws_secret_access_key)
  if not id and not secret then return nil, "no static keys in " .. where end
  if not id or not secret then
    return nil, nil, credentials.error("the profile in " .. where .. " has "
      .. (id and "aws_access_key_id" or "aws_secret_access_key") .. " without its pair")
  end
  return credentials.new(id, secret, nonempty(section.aws_session_token) or nonempty(section.aws_security_token), source)
end
credentials.static_keys = static_keys

credentials.shared_credentials_file = {
  name = "shared-credentials-file",
  load = function(ctx)
    local files, err = credentials.files(ctx)
    if not files then return nil, nil, err end
    return static_keys(files.credentials[ctx.profile_name], "shared-credentials-file",
      files.credentials_path .. " [" .. ctx.profile_name .. "]")
  end,
}

credentials.config_file = {
  name = "config-file",
  load = function(ctx)
    local files, err = credentials.files(ctx)
    if not files then return nil, nil, err end
    return static_keys(profile.config_section(files.config, ctx.profile_name), "config-file",
      files.config_path .. " [" .. (ctx.profile_name == "default" and "default" or ("profile " .. ctx.profile_name)) .. "]")
  end,
}

return credentials
